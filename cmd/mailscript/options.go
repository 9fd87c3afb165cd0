package main

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mailscript/mailscript/config"
	"github.com/mailscript/mailscript/template"
)

// templateOptions are the flags every command that expands a template
// shares.
type templateOptions struct {
	vars         varsFlag
	valuesFile   string
	noShell      bool
	includeRoot  string
	allowEnv     []string
	allowEnvSet  bool
	shellTimeout time.Duration
	configFile   string
}

func (o *templateOptions) register(fs *flag.FlagSet) {
	o.vars = varsFlag{}
	fs.Var(o.vars, "var", "set a template value `NAME=VALUE` (repeatable; wins over --values)")
	fs.StringVar(&o.valuesFile, "values", "", "read template values from a YAML or JSON `FILE` (nested values work in loops)")
	fs.BoolVar(&o.noShell, "no-shell", false, "refuse templates that run shell commands, and let them read files only under\ntheir own directory or --include-root (for templates you do not fully trust)")
	fs.StringVar(&o.includeRoot, "include-root", "", "let templates include, render, attach and inline only files under `DIR`\n(default with --no-shell: the template's directory)")
	fs.Func("allow-env", "let templates read only these environment variables with env (`NAMES`, comma-separated,\nrepeatable; default with --no-shell: none)", func(s string) error {
		o.allowEnvSet = true
		return namesFlag{&o.allowEnv}.Set(s)
	})
	fs.Var(durationOpt{&o.shellTimeout}, "shell-timeout", "time limit for each shell substitution (default 30s)")
	fs.StringVar(&o.configFile, "config", "", "configuration `FILE` (default $MAILSCRIPT_CONFIG or ~/.config/mailscript/config.yaml)")
}

// loadConfig reads the configuration file named by --config, or the
// default one when it exists.
func (o *templateOptions) loadConfig(e *env) (*config.Config, error) {
	path, explicit := o.configFile, o.configFile != ""
	if !explicit {
		path, explicit = config.DefaultPath(e.getenv)
	}
	c, err := config.Load(path, explicit)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &cliError{code: exitConfig, msg: "configuration file", err: err}
		}
		return nil, &cliError{code: exitConfig, err: err}
	}
	return c, nil
}

// expand parses and expands the template at path. hideEnv names
// environment variables (a password) that its shell commands must not see.
func (o *templateOptions) expand(cfg *config.Config, path string, hideEnv []string) (*template.Message, error) {
	opts, err := o.expandOptions(cfg, hideEnv)
	if err != nil {
		return nil, err
	}
	t, err := template.ParseFile(path)
	if err != nil {
		return nil, err
	}
	m, err := t.Expand(opts)
	if errors.Is(err, template.ErrOutsideRoot) {
		return nil, withHint(err, rootHint(opts))
	}
	return m, err
}

// rootHint explains an error about a file outside the include root.
func rootHint(opts template.Options) string {
	if opts.IncludeRoot == "" {
		return "with --no-shell (or no_shell: true) a template reads files only under its own directory; --include-root DIR allows another one"
	}
	return "templates read files only under --include-root (or include_root: in the configuration); give a directory that holds the file"
}

// expandOptions builds the template options from the flags and the
// configuration, reading --values. hideEnv names environment variables (a
// password) that the template's shell commands must not see.
func (o *templateOptions) expandOptions(cfg *config.Config, hideEnv []string) (template.Options, error) {
	opts := template.Options{
		Vars:         o.vars,
		NoShell:      o.noShell || cfg.NoShell,
		ShellTimeout: time.Duration(cfg.ShellTimeout),
		HideEnv:      hideEnv,
	}
	if o.shellTimeout > 0 {
		opts.ShellTimeout = o.shellTimeout
	}
	root, err := o.fileRoot(cfg)
	if err != nil {
		return template.Options{}, err
	}
	// A template that may not run commands may not read files outside its
	// directory either (~/.ssh/id_rsa, /etc/passwd), unless a root is given.
	opts.IncludeRoot = root
	opts.ConfineToTemplateDir = opts.NoShell && root == ""
	// Nor read the environment (CI tokens, cloud keys), but for the
	// variables allowed by name.
	opts.AllowEnv = o.envAllowed(cfg)
	if o.valuesFile != "" {
		v, err := template.LoadValues(o.valuesFile)
		if err != nil {
			return template.Options{}, err
		}
		opts.Values = v
	}
	return opts, nil
}

// envAllowed returns the environment variables templates may read (with
// env, or as the password of their front matter's password_env:): nil when
// they may read any, else --allow-env, allow_env: of the configuration, or
// none under --no-shell.
func (o *templateOptions) envAllowed(cfg *config.Config) []string {
	switch {
	case o.allowEnvSet:
		return append([]string{}, o.allowEnv...)
	case cfg.AllowEnv != nil:
		return append([]string{}, cfg.AllowEnv...)
	case o.noShell || cfg.NoShell:
		return []string{}
	}
	return nil
}

// fileRoot returns the directory templates may read files from, absolute:
// --include-root, else include_root: of the configuration (relative to the
// configuration file's directory), else "" (none given). The directory must
// exist: a missing one exits 66 (78 from the configuration), a file 64.
// Only the template's own directives are confined: --values, the data file
// of a batch and the configuration are files the user names, not the
// template.
func (o *templateOptions) fileRoot(cfg *config.Config) (string, error) {
	dir, fromFlag := o.includeRoot, true
	if dir == "" {
		dir, fromFlag = cfg.IncludeRoot, false
		if dir != "" && !filepath.IsAbs(dir) && cfg.Path != "" {
			dir = filepath.Join(filepath.Dir(cfg.Path), dir)
		}
	}
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(abs); err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		switch {
		case !fromFlag:
			return "", configErrorf("%s: include_root %s: %v", cfg.Path, cfg.IncludeRoot, err)
		case errors.Is(err, fs.ErrNotExist):
			return "", &cliError{code: exitNoInput, msg: "--include-root " + o.includeRoot, err: err}
		}
		return "", usageErrorf("--include-root %s: %v", o.includeRoot, err)
	}
	return abs, nil
}
