package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"

	"github.com/mailscript/mailscript/internal/secret"
)

// credentialFlags say where the password and the OAuth token come from
// (the flags of "probe" and "auth").
type credentialFlags struct {
	passwordEnv, passwordCmd string
	tokenEnv, tokenCmd       string
}

func (c *credentialFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.passwordEnv, "password-env", "", "read the password from environment variable `VAR`")
	fs.StringVar(&c.passwordCmd, "password-cmd", "", "run `CMD` with sh -c and use what it prints as the password")
	fs.StringVar(&c.tokenEnv, "token-env", "", "read the OAuth token (xoauth2, oauthbearer) from environment variable `VAR`")
	fs.StringVar(&c.tokenCmd, "token-cmd", "", "run `CMD` with sh -c and use what it prints as the OAuth token")
}

// password reads the password from --password-env, --password-cmd or a
// prompt.
func (c *credentialFlags) password(e *env) (secret.Secret, error) {
	return readSecret(e, "password", c.passwordEnv, c.passwordCmd, true)
}

// token reads the OAuth token from --token-env, --token-cmd or a prompt.
func (c *credentialFlags) token(e *env) (secret.Secret, error) {
	return readSecret(e, "token", c.tokenEnv, c.tokenCmd, true)
}

// readSecret returns a credential from one of the sources a user may give,
// never from the command line itself:
//
//   - envVar: the name of an environment variable that holds it
//     (--password-env VAR). Unset or empty is a configuration error (exit 78).
//   - cmd: a shell command that prints it (--password-cmd CMD), run with
//     "sh -c"; one trailing newline is trimmed from its output. A failure, or
//     no output, is a configuration error (exit 78) that shows the command's
//     stderr.
//   - else, when allowPrompt is set and stdin is a terminal, a prompt on
//     stderr that reads the secret without echo.
//
// what is "password" or "token": it names the flags in messages
// ("--password-env", "--password-cmd") and the prompt. Giving both envVar and
// cmd, or none when no prompt is possible, is a usage error (exit 64) with a
// hint.
func readSecret(e *env, what string, envVar, cmd string, allowPrompt bool) (secret.Secret, error) {
	envFlag, cmdFlag := "--"+what+"-env", "--"+what+"-cmd"
	switch {
	case envVar != "" && cmd != "":
		return secret.Secret{}, usageErrorf("%s and %s exclude each other: give one", envFlag, cmdFlag)
	case envVar != "":
		v := e.getenv(envVar)
		if v == "" {
			return secret.Secret{}, withHint(configErrorf("%s: environment variable %s is not set or empty", envFlag, envVar),
				fmt.Sprintf("export %s=... before running mailscript", envVar))
		}
		return secret.New(v), nil
	case cmd != "":
		return secretFromCommand(e, cmdFlag, cmd)
	}
	if allowPrompt && stdinIsTerminal(e) {
		return promptSecret(e, e.stdin.(*os.File), what)
	}
	return secret.Secret{}, withHint(usageErrorf("no %s given (and stdin is not a terminal to prompt on)", what),
		fmt.Sprintf("pass %s VAR (the %s in that environment variable) or %s CMD (a command that prints it); never on the command line", envFlag, what, cmdFlag))
}

// secretFromCommand runs cmd with "sh -c" and returns its output without
// one trailing newline. Its stdin is empty (a command that must ask
// something asks on the terminal, as pass and gpg do); its stderr is shown
// only when it fails.
func secretFromCommand(e *env, flagName, cmd string) (secret.Secret, error) {
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(e.ctx, "sh", "-c", cmd)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		msg := strings.TrimRight(stderr.String(), "\n")
		if msg != "" {
			err = fmt.Errorf("%w\n%s", err, msg)
		}
		return secret.Secret{}, &cliError{code: exitConfig, msg: fmt.Sprintf("%s: command %q failed", flagName, cmd), err: err}
	}
	out := stdout.String()
	if s, ok := strings.CutSuffix(out, "\n"); ok {
		out = strings.TrimSuffix(s, "\r")
	}
	if out == "" {
		return secret.Secret{}, configErrorf("%s: command %q printed nothing", flagName, cmd)
	}
	return secret.New(out), nil
}

// promptSecret reads a line from the terminal f without echo.
func promptSecret(e *env, f *os.File, what string) (secret.Secret, error) {
	fmt.Fprintf(e.stderr, "%s%s (input hidden): ", strings.ToUpper(what[:1]), what[1:])
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return secret.Secret{}, fmt.Errorf("reading the %s from the terminal: %w", what, err)
	}
	if len(b) == 0 {
		return secret.Secret{}, usageErrorf("empty %s", what)
	}
	return secret.New(string(b)), nil
}

// stdinIsTerminal reports whether e's stdin is a terminal.
func stdinIsTerminal(e *env) bool {
	f, ok := e.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readStdinLine reads one line from stdin (a challenge pasted or piped in),
// without its line ending. what names it ("the server's challenge"): on a
// terminal a prompt asks for it on stderr, and the error says what was
// missing when stdin is empty.
func readStdinLine(e *env, what string) (string, error) {
	if stdinIsTerminal(e) {
		fmt.Fprintf(e.stderr, "## paste %s (the text after \"334 \"): ", what)
	}
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" {
		return "", usageErrorf("missing %s: give it as an argument or on stdin", what)
	}
	return line, nil
}
