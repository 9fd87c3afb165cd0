// Package config reads mailscript's YAML configuration file: named server
// profiles (where to send, how to log in) and settings that apply to every
// run (refusing shell substitutions, their timeout).
//
// The file is found at $MAILSCRIPT_CONFIG, else
// $XDG_CONFIG_HOME/mailscript/config.yaml (~/.config/mailscript/config.yaml).
// A missing file at the default place is not an error: mailscript then
// sends to its built-in local capture server. Unknown keys are errors with
// their line, so a typo never silently falls back to a default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvConfig names the environment variable that points at the config file.
const EnvConfig = "MAILSCRIPT_CONFIG"

// Config is the whole configuration file.
type Config struct {
	// Path is the file the configuration came from ("" when there was none).
	Path string `yaml:"-"`
	// DefaultProfile names the profile used when neither --profile nor the
	// template's front matter names one.
	DefaultProfile string `yaml:"default_profile"`
	// NoShell refuses templates that contain shell directives, as --no-shell.
	NoShell bool `yaml:"no_shell"`
	// ShellTimeout bounds each shell substitution (0: the template default).
	ShellTimeout Duration `yaml:"shell_timeout"`
	// IncludeRoot confines the files templates read (include, render,
	// attach, inline) to a directory, as --include-root; a relative path is
	// taken from the configuration file's directory.
	IncludeRoot string `yaml:"include_root"`
	// AllowEnv lists the environment variables templates may read with env,
	// as --allow-env; with no_shell (or --no-shell) and no list, none.
	AllowEnv []string `yaml:"allow_env"`
	// Profiles are the named server settings.
	Profiles map[string]Profile `yaml:"profiles"`
}

// Profile is one named set of server settings. Every field is optional;
// command-line flags override them.
type Profile struct {
	Server       string   `yaml:"server"`        // smtp://HOST[:PORT], smtps://..., or "local"
	TLS          string   `yaml:"tls"`           // starttls, implicit, none
	TLSCA        string   `yaml:"tls_ca"`        // PEM file of CA certificates
	Auth         string   `yaml:"auth"`          // SASL mechanism
	User         string   `yaml:"user"`          // login name
	PasswordEnv  string   `yaml:"password_env"`  // environment variable holding the password
	From         string   `yaml:"from"`          // default sender when the template has none
	EHLO         string   `yaml:"ehlo"`          // EHLO name
	Timeout      Duration `yaml:"timeout"`       // connect and per-command timeout
	InsecureAuth bool     `yaml:"insecure_auth"` // allow AUTH without TLS to a remote host
}

// Duration is a time.Duration written as "30s", "2m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 2m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// Error is a problem with the configuration file, with its position when
// known.
type Error struct {
	Path string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// DefaultPath returns where the configuration file is looked for, given a
// getenv function (os.Getenv in production), and whether the path was
// asked for explicitly ($MAILSCRIPT_CONFIG) — then it must exist.
func DefaultPath(getenv func(string) string) (path string, explicit bool) {
	if p := getenv(EnvConfig); p != "" {
		return p, true
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", false
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "mailscript", "config.yaml"), false
}

// Load reads the configuration at path. When the file does not exist and
// mustExist is false, Load returns an empty Config and no error.
func Load(path string, mustExist bool) (*Config, error) {
	if path == "" {
		return &Config{}, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return &Config{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Parse(path, f)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Parse reads a configuration from r; name is used in errors.
func Parse(name string, r io.Reader) (*Config, error) {
	src, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, &Error{Path: name, Err: err}
	}
	c := &Config{Path: name}
	if len(bytes.TrimSpace(src)) == 0 {
		return c, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlError(name, err)
	}
	for pname, p := range c.Profiles {
		if pname == "" {
			return nil, &Error{Path: name, Err: errors.New("a profile needs a name")}
		}
		if p.Server == "" {
			return nil, &Error{Path: name, Line: lineOf(src, pname+":"), Err: fmt.Errorf("profile %q: no server", pname)}
		}
	}
	if c.DefaultProfile != "" {
		if _, ok := c.Profiles[c.DefaultProfile]; !ok {
			return nil, &Error{Path: name, Line: lineOf(src, "default_profile:"), Err: fmt.Errorf("default_profile %q is not defined under profiles:%s", c.DefaultProfile, c.profileList())}
		}
	}
	return c, nil
}

// Profile returns the named profile; "" selects the default profile, and
// no profile at all (nothing configured) returns ok=false.
func (c *Config) Profile(name string) (Profile, bool, error) {
	if name == "" {
		name = c.DefaultProfile
	}
	if name == "" {
		return Profile{}, false, nil
	}
	p, ok := c.Profiles[name]
	if !ok {
		where := c.Path
		if where == "" {
			where = "the configuration (no config file found; set " + EnvConfig + ")"
		}
		return Profile{}, false, fmt.Errorf("profile %q is not defined in %s%s", name, where, c.profileList())
	}
	return p, true, nil
}

func (c *Config) profileList() string {
	if len(c.Profiles) == 0 {
		return ""
	}
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (defined: " + strings.Join(names, ", ") + ")"
}

// yamlError turns a yaml.v3 error ("yaml: line 3: field x not found in
// type config.Profile") into an Error with its line and plain wording.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		line := 0
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		msg = strings.Replace(msg, "not found in type config.Config", "is not a known setting (known: default_profile, no_shell, shell_timeout, include_root, allow_env, profiles)", 1)
		msg = strings.Replace(msg, "not found in type config.Profile", "is not a known profile setting (known: server, tls, tls_ca, auth, user, password_env, from, ehlo, timeout, insecure_auth)", 1)
		return &Error{Path: name, Line: line, Err: errors.New(msg)}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return &Error{Path: name, Line: line, Err: errors.New(msg)}
}

// lineOf returns the 1-based line of the first line containing s, or 0.
func lineOf(src []byte, s string) int {
	for i, l := range bytes.Split(src, []byte("\n")) {
		if bytes.Contains(l, []byte(s)) {
			return i + 1
		}
	}
	return 0
}
