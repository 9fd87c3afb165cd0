// Command mailscript renders mail templates into raw MIME and sends them
// over SMTP: one binary in place of a template expander, a base64 tool, an
// HMAC script and netcat.
//
// Usage:
//
//	mailscript render TEMPLATE [--var NAME=VALUE]...
//	mailscript send TEMPLATE [--server URL] [--auth MECH] [--user NAME] [--password-env VAR] [-v]
//	mailscript capture [--listen ADDR] [--maildir DIR]
//	mailscript auth MECH [USER] [CHALLENGE]
//	mailscript probe URL [--user NAME --password-env VAR]
//
// Run "mailscript help COMMAND" for each command's flags and examples.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// env is what a command sees of the process: its streams and environment.
// Commands never touch os.Stdout or os.Exit directly, so tests can run them.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// command is one subcommand of mailscript.
type command struct {
	name    string
	summary string
	usage   string // full --help text: synopsis, then "Examples:"; flags are listed between
	// setup registers the command's flags on fs and returns the function
	// that runs the command with its positional arguments.
	setup func(fs *flag.FlagSet) func(e *env, args []string) error
}

var commands []*command

func init() {
	commands = []*command{renderCmd, sendCmd, batchCmd, captureCmd, authCmd, probeCmd}
}

const topUsage = `mailscript renders mail templates into raw MIME and sends them over SMTP.

Usage:
  mailscript COMMAND [ARGS] [FLAGS]

Commands:
%s
Run "mailscript help COMMAND" (or "mailscript COMMAND --help") for details.

Examples:
  mailscript render samples/hello.tmpl --var to=bob@example.com
  mailscript send samples/hello.tmpl            # no server: stored in ./outbox
  mailscript send samples/hello.tmpl --server smtp://mail.example.com:587 \
      --auth cram-md5 --user alice --password-env MAIL_PASSWORD -v
`

func topHelp(w io.Writer) {
	var list string
	for _, c := range commands {
		list += fmt.Sprintf("  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, topUsage, list)
}

// run is main without os.Exit, so that deferred cleanups run and tests can
// call it. It returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}

	if len(args) == 0 {
		topHelp(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help":
		topHelp(stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			topHelp(stdout)
			return exitOK
		}
		if c := lookup(args[1]); c != nil {
			printCommandHelp(stdout, c)
			return exitOK
		}
		return report(stderr, usageErrorf("unknown command %q", args[1]))
	case "version", "--version":
		fmt.Fprintln(stdout, "mailscript", version())
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		return report(stderr, usageErrorf("unknown command %q%s", name, suggest(name)))
	}
	fs := newFlagSet(c.name)
	runCmd := c.setup(fs)
	pos, err := parseArgs(e, c, fs, args[1:])
	if err == nil {
		err = runCmd(e, pos)
	}
	if err == errHelpShown {
		return exitOK
	}
	return report(stderr, err)
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// suggest returns a "did you mean" hint for a mistyped command name.
func suggest(name string) string {
	for _, c := range commands {
		if len(name) > 1 && (len(c.name) >= len(name) && c.name[:len(name)] == name || editDistance(name, c.name) <= 2) {
			return fmt.Sprintf(" (did you mean %q?)", c.name)
		}
	}
	return ` (run "mailscript help" for the list)`
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
