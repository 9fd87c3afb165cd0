package main

import (
	"errors"
	"flag"
	"io/fs"
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
	shellTimeout time.Duration
	configFile   string
}

func (o *templateOptions) register(fs *flag.FlagSet) {
	o.vars = varsFlag{}
	fs.Var(o.vars, "var", "set a template value `NAME=VALUE` (repeatable; wins over --values)")
	fs.StringVar(&o.valuesFile, "values", "", "read template values from a YAML or JSON `FILE` (nested values work in loops)")
	fs.BoolVar(&o.noShell, "no-shell", false, "refuse templates that run shell commands (for templates you did not write)")
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
	return t.Expand(opts)
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
	if o.valuesFile != "" {
		v, err := template.LoadValues(o.valuesFile)
		if err != nil {
			return template.Options{}, err
		}
		opts.Values = v
	}
	return opts, nil
}
