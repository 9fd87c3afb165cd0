package template

import (
	"bytes"
	"context"
	"errors"
	"io"

	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"
)

// plainEnvName matches the value names that are also exported under their
// plain name: lower case only, because upper-case names are where programs
// look for their settings (PATH, IFS, LD_PRELOAD, NODE_OPTIONS, PERL5OPT,
// PYTHONPATH, GIT_SSH_COMMAND...), and a value must never set one.
var plainEnvName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// shellDenied are lower-case names that programs still read settings from:
// values never set them under their plain name.
var shellDenied = map[string]bool{
	"http_proxy": true, "https_proxy": true, "ftp_proxy": true, "all_proxy": true,
	"no_proxy": true, "rsync_proxy": true, "socks_proxy": true,
}

// shellDirectives are the directives that run commands: Options.NoShell
// refuses a template that names any of them, anywhere (even in a branch
// that would not run, or in a {{define}}). A directive that runs a command,
// in any file of this package, adds its name here (from an init function
// if need be).
var shellDirectives = map[string]bool{"sh": true}

// checkNoShell returns the error for Options.NoShell when the template
// contains a shell directive, at the position of the first one.
func (t *Template) checkNoShell() error {
	t.shellOnce.Do(func() {
		if name, line, col, ok := t.usesShell(); ok {
			t.shellErr = &Error{File: t.name, Line: line, Col: col, Directive: name, Err: errors.New("shell commands are disabled (--no-shell)")}
		}
	})
	if t.shellErr == nil {
		return nil
	}
	e := *t.shellErr // a copy: the caller may change it
	return &e
}

// maxShellOutput bounds what one command may print on stdout.
const maxShellOutput = 16 << 20

// sh runs command through "sh -c" in the template's directory (that of the
// rendered file, inside {{render}}) and returns its stdout without one
// trailing line break. Values reach
// the command only as environment variables: each value is exported as
// MAILSCRIPT_VAR_name and, when name is lower case ([a-z][a-z0-9_]*), is not
// in the environment mailscript was started with and is not a proxy
// setting, also as name.
func (x *expansion) sh(command string) (string, error) {
	stdout := &capWriter{max: maxShellOutput}
	res := x.runCommand(command, stdout)
	if err := res.failure("sh", command); err != nil {
		return "", err
	}
	if stdout.over {
		return "", dirErr("sh", "%q printed more than %d MiB", command, maxShellOutput>>20)
	}
	return trimNewline(stdout.buf.String()), nil
}

// commandResult is how a shell directive's command ended.
type commandResult struct {
	err      error // from exec.Cmd.Run
	timedOut bool
	timeout  time.Duration
	stderr   *capWriter
}

// runCommand runs command the way every shell directive does: through
// sh -c in the template's directory, with the values as environment
// variables only, no stdin, in its own process group, within the shell
// timeout. Its standard output goes to stdout.
func (x *expansion) runCommand(command string, stdout io.Writer) commandResult {
	timeout := x.opts.ShellTimeout
	if timeout <= 0 {
		timeout = DefaultShellTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = x.t.dir
	cmd.Env = x.shellEnv()
	cmd.Stdin = nil
	stderr := &capWriter{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	setProcessGroup(cmd)
	err := cmd.Run()
	return commandResult{err: err, timedOut: ctx.Err() == context.DeadlineExceeded, timeout: timeout, stderr: stderr}
}

// failure is the directive error for a command that timed out or failed
// (with its stderr), or nil.
func (r commandResult) failure(directive, command string) error {
	switch {
	case r.timedOut:
		return dirErr(directive, "%q timed out after %v%s", command, r.timeout, stderrNote(r.stderr))
	case r.err != nil:
		var ee *exec.ExitError
		if errors.As(r.err, &ee) {
			return dirErr(directive, "%q failed with exit status %d%s", command, ee.ExitCode(), stderrNote(r.stderr))
		}
		return dirErr(directive, "%q: %v%s", command, r.err, stderrNote(r.stderr))
	}
	return nil
}

// trimNewline removes one trailing line break (LF or CRLF).
func trimNewline(s string) string {
	if s, ok := strings.CutSuffix(s, "\n"); ok {
		return strings.TrimSuffix(s, "\r")
	}
	return s
}

func stderrNote(w *capWriter) string {
	s := strings.TrimSpace(w.buf.String())
	if s == "" {
		return " (no stderr)"
	}
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return ": " + s
}

func (x *expansion) shellEnv() []string {
	hide := make(map[string]bool, len(x.opts.HideEnv))
	for _, k := range x.opts.HideEnv {
		hide[k] = true
	}
	var base []string
	inEnv := map[string]bool{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		inEnv[k] = true
		if !hide[k] {
			base = append(base, kv)
		}
	}
	names := make([]string, 0, len(x.vals))
	for k := range x.vals {
		names = append(names, k)
	}
	sort.Strings(names)
	env := base
	for _, k := range names {
		v, ok := shellValue(x.vals[k])
		if !ok || strings.IndexByte(v, 0) >= 0 {
			continue // cannot be passed in the environment
		}
		env = append(env, "MAILSCRIPT_VAR_"+k+"="+v)
		if plainEnvName.MatchString(k) && !inEnv[k] && !shellDenied[k] {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// capWriter keeps at most max bytes and remembers whether more came.
type capWriter struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room < len(p) {
		w.over = true
		if room > 0 {
			w.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return w.buf.Write(p)
}
