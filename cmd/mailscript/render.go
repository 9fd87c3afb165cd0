package main

import (
	"bufio"
	"flag"
	"io"
	"os"

	"github.com/mailscript/mailscript/template"
)

var renderCmd = &command{
	name:    "render",
	summary: "expand a template and print the raw MIME message",
	usage: `Usage: mailscript render TEMPLATE [--var NAME=VALUE]... [--values FILE]
                       [--no-shell] [--include-root DIR] [--allow-env NAMES] [-o FILE]

Expands TEMPLATE (values, shell substitutions, dates, attachments) and prints
the raw RFC 5322/MIME message with CRLF line endings, ready to pipe anywhere.
Nothing is sent. Template errors are reported as FILE:LINE:COL and exit 65.

For a template you do not fully trust, --no-shell refuses shell commands and
lets the template read files (include, render, attach, inline) only under
its own directory, or under --include-root DIR, and environment variables
only when named by --allow-env NAMES.

Examples:
  mailscript render samples/hello.tmpl
  mailscript render samples/hello.tmpl --var to=bob@example.com --var to_name="Bob B."
  mailscript render samples/cron-report.tmpl -o report.eml
  mailscript render --no-shell downloaded/offer.tmpl
  mailscript render --no-shell --allow-env BUILD_ID,CI_JOB_URL shared/ci-alert.tmpl
`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var topts templateOptions
		topts.register(fs)
		out := fs.String("o", "", "write the message to `FILE` instead of stdout")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usageErrorf("render: want exactly one TEMPLATE, got %d arguments", len(args))
			}
			cfg, err := topts.loadConfig(e)
			if err != nil {
				return err
			}
			m, err := topts.expand(cfg, args[0], nil)
			if err != nil {
				return err
			}
			// Close removes the temporary files of attach_cmd.
			defer m.Close()
			if *out == "" {
				bw := bufio.NewWriter(e.stdout)
				if _, err := m.WriteTo(bw); err != nil {
					return err
				}
				return bw.Flush()
			}
			return writeFileAtomic(*out, m)
		}
	},
}

// writeFileAtomic renders m into a temporary file beside path and renames
// it into place, so a failed render leaves nothing behind.
func writeFileAtomic(path string, m *template.Message) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// A device or a pipe (-o /dev/null, -o /dev/stdout): write to it,
		// never rename over it.
		return writeSpecial(path, m)
	}
	f, err := os.CreateTemp(dirOf(path), ".mailscript-*.eml")
	if err != nil {
		return &cliError{code: exitCantCreate, err: err}
	}
	defer os.Remove(f.Name())
	if err := writeBuffered(f, m); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return &cliError{code: exitCantCreate, err: err}
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return &cliError{code: exitCantCreate, err: err}
	}
	return nil
}

// writeSpecial writes m to an existing file that is not a regular file.
func writeSpecial(path string, m *template.Message) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return &cliError{code: exitCantCreate, err: err}
	}
	if err := writeBuffered(f, m); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeBuffered writes m to w through a buffer. A failed flush (a full
// disk) is a cliError (exit 73); a rendering error comes back as it is.
func writeBuffered(w io.Writer, m *template.Message) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := m.WriteTo(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return &cliError{code: exitCantCreate, err: err}
	}
	return nil
}
