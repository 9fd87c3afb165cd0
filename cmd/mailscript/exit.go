package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime/debug"
	"strings"

	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
)

// Exit codes, from sysexits(3). They are part of the public interface:
// cron jobs and CI scripts branch on them.
const (
	exitOK          = 0
	exitUsage       = 64 // EX_USAGE: bad command line
	exitDataErr     = 65 // EX_DATAERR: template or data error
	exitNoInput     = 66 // EX_NOINPUT: an input file is missing
	exitUnavailable = 69 // EX_UNAVAILABLE: server unreachable or permanent 5xx
	exitSoftware    = 70 // EX_SOFTWARE: internal error
	exitCantCreate  = 73 // EX_CANTCREAT: cannot write an output file
	exitTempFail    = 75 // EX_TEMPFAIL: temporary 4xx failure, try again later
	exitNoPerm      = 77 // EX_NOPERM: authentication failed
	exitConfig      = 78 // EX_CONFIG: configuration error
)

// errHelpShown is returned by a command that printed its --help text.
var errHelpShown = errors.New("help shown")

// cliError carries an exit code and optional hint for errors that the
// command layer classifies itself (usage, configuration).
type cliError struct {
	code int
	msg  string
	hint string
	err  error
}

func (e *cliError) Error() string {
	if e.err != nil {
		if e.msg == "" {
			return e.err.Error()
		}
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *cliError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func configErrorf(format string, args ...any) error {
	return &cliError{code: exitConfig, msg: fmt.Sprintf(format, args...)}
}

// withHint attaches a hint line to err.
func withHint(err error, hint string) error {
	var ce *cliError
	if errors.As(err, &ce) {
		c := *ce
		c.hint = hint
		return &c
	}
	return &cliError{code: exitCode(err), err: err, hint: hint}
}

// exitCode maps an error to its sysexits code. This is the one place where
// errors become exit codes.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if errors.As(err, &ce) && ce.code != 0 {
		return ce.code
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.AuthFailed():
			return exitNoPerm
		case errors.Is(err, transport.ErrTLSModeMismatch):
			// The port speaks another TLS mode: retrying will not help.
			return exitUnavailable
		case te.Reply == nil && (te.Stage == transport.StageConnect || te.Stage == transport.StageStartTLS):
			// Nothing answered, or TLS could not be established (an
			// untrusted certificate, STARTTLS missing): the service is
			// unavailable as configured, retrying will not help.
			return exitUnavailable
		case te.Temporary():
			return exitTempFail
		default:
			return exitUnavailable
		}
	}
	// A missing input file (the template, an attachment, an included file)
	// is EX_NOINPUT even when the template layer reports it with a position.
	if errors.Is(err, fs.ErrNotExist) {
		return exitNoInput
	}
	var tmplErr *template.Error
	if errors.As(err, &tmplErr) {
		return exitDataErr
	}
	return exitSoftware
}

// report prints err the way every mailscript error is printed
// ("mailscript: error: ...", then "mailscript: hint: ...") and returns its
// exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	msg := err.Error()
	// A multi-line error (a shell command's stderr, several refused
	// recipients) keeps its lines, indented under the first.
	msg = strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n    ")
	fmt.Fprintf(w, "mailscript: error: %s\n", msg)
	var ce *cliError
	if errors.As(err, &ce) && ce.hint != "" {
		fmt.Fprintf(w, "mailscript: hint: %s\n", ce.hint)
	}
	if exitCode(err) == exitUsage && (ce == nil || ce.hint == "") {
		fmt.Fprintf(w, "mailscript: hint: run \"mailscript help\" for usage\n")
	}
	return exitCode(err)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
