package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	src := `
default_profile: work
no_shell: true
shell_timeout: 5s
include_root: templates
allow_env: [BUILD_ID, CI_JOB_URL]
profiles:
  work:
    server: smtp://mail.example.com:587
    auth: cram-md5
    user: alice
    password_env: WORK_PW
    timeout: 1m
  local:
    server: local
`
	c, err := Parse("c.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if !c.NoShell || time.Duration(c.ShellTimeout) != 5*time.Second || c.IncludeRoot != "templates" ||
		strings.Join(c.AllowEnv, " ") != "BUILD_ID CI_JOB_URL" {
		t.Fatalf("settings: %+v", c)
	}
	// An empty list is "none", not "unset".
	if none, err := Parse("c.yaml", strings.NewReader("allow_env: []\n")); err != nil || none.AllowEnv == nil || len(none.AllowEnv) != 0 {
		t.Fatalf("allow_env: []: %#v, %v", none, err)
	}
	p, ok, err := c.Profile("")
	if err != nil || !ok {
		t.Fatalf("default profile: %v %v", ok, err)
	}
	if p.Server != "smtp://mail.example.com:587" || p.Auth != "cram-md5" || p.User != "alice" || p.PasswordEnv != "WORK_PW" || time.Duration(p.Timeout) != time.Minute {
		t.Fatalf("profile: %+v", p)
	}
	if p, ok, err := c.Profile("local"); err != nil || !ok || p.Server != "local" {
		t.Fatalf("local: %+v %v %v", p, ok, err)
	}
	if _, _, err := c.Profile("nope"); err == nil || !strings.Contains(err.Error(), `"nope" is not defined`) || !strings.Contains(err.Error(), "local, work") {
		t.Fatalf("unknown profile error: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown top key", "no_shel: true\n", "c.yaml:1: field no_shel is not a known setting"},
		{"unknown profile key", "profiles:\n  w:\n    server: smtp://x\n    pasword_env: X\n", "c.yaml:4: field pasword_env is not a known profile setting"},
		{"bad duration", "shell_timeout: soon\n", `c.yaml:1: "soon" is not a duration`},
		{"no server", "profiles:\n  w:\n    user: a\n", `c.yaml:2: profile "w": no server`},
		{"missing default", "default_profile: x\nprofiles:\n  w:\n    server: local\n", `c.yaml:1: default_profile "x" is not defined under profiles: (defined: w)`},
		{"syntax", "profiles: [\n", "c.yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", strings.NewReader(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant prefix %s", err, tc.want)
			}
		})
	}
}

func TestLoadAndDefaultPath(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"HOME": dir}
	getenv := func(k string) string { return env[k] }

	p, explicit := DefaultPath(getenv)
	if explicit || p != filepath.Join(dir, ".config", "mailscript", "config.yaml") {
		t.Fatalf("default path %q %v", p, explicit)
	}
	// A missing default file is no configuration, not an error.
	c, err := Load(p, explicit)
	if err != nil || c.DefaultProfile != "" || len(c.Profiles) != 0 {
		t.Fatalf("missing default: %+v %v", c, err)
	}

	env["XDG_CONFIG_HOME"] = filepath.Join(dir, "xdg")
	if p, _ := DefaultPath(getenv); p != filepath.Join(dir, "xdg", "mailscript", "config.yaml") {
		t.Fatalf("XDG path %q", p)
	}

	// An explicit path must exist.
	env[EnvConfig] = filepath.Join(dir, "nope.yaml")
	p, explicit = DefaultPath(getenv)
	if !explicit {
		t.Fatal("MAILSCRIPT_CONFIG not explicit")
	}
	if _, err := Load(p, explicit); !os.IsNotExist(err) {
		t.Fatalf("explicit missing: %v", err)
	}
	if err := os.WriteFile(p, []byte("profiles:\n  a:\n    server: local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(p, explicit)
	if err != nil || c.Path != p || c.Profiles["a"].Server != "local" {
		t.Fatalf("load: %+v %v", c, err)
	}
}
