package template

import (
	"errors"
	"io"
	"os"
)

func init() { shellDirectives["attach_cmd"] = true }

// maxCommandAttachment bounds what attach_cmd keeps of a command's output.
const maxCommandAttachment = 1 << 30

// attachCmd runs command through "sh -c" the way sh does (template
// directory, values only in the environment, timeout, refused by NoShell)
// and attaches its standard output. The output is streamed to a temporary
// file, never held in memory; Message.Close removes it.
func (x *expansion) attachCmd(command string, opts ...string) (string, error) {
	if x.opts.NoShell {
		return "", dirErr("attach_cmd", "shell commands are disabled (--no-shell)")
	}
	o, err := parseAttachOptions("attach_cmd", opts, "type", "name", "disposition")
	if err != nil {
		return "", err
	}
	a := attachment{filename: "output.txt", inline: o.inline}
	if o.filename != "" {
		a.filename = o.filename
	}
	a.contentType = o.contentType
	if a.contentType == "" {
		a.contentType = guessType(a.filename)
		if a.contentType == "application/octet-stream" {
			a.contentType = "text/plain; charset=utf-8" // a command's output is usually text
		}
	}
	a.contentType = attachmentType(a.contentType)
	if err := checkAttachmentHeader(a); err != nil {
		return "", &directiveError{"attach_cmd", err}
	}

	f, err := os.CreateTemp("", "mailscript-attach-*")
	if err != nil {
		return "", dirErr("attach_cmd", "temporary file: %v", err)
	}
	a.path = f.Name()
	x.mime.temps = append(x.mime.temps, a.path) // removed by Message.Close, or by Expand on error

	stdout := &fileLimitWriter{w: f, n: maxCommandAttachment}
	res := x.runCommand(command, stdout)
	if cerr := f.Close(); cerr != nil && stdout.err == nil {
		stdout.err = cerr
	}
	switch {
	case res.timedOut:
		return "", res.failure("attach_cmd", command)
	case stdout.over:
		return "", dirErr("attach_cmd", "%q printed more than %d MiB", command, maxCommandAttachment>>20)
	case stdout.err != nil:
		return "", dirErr("attach_cmd", "%q: writing its output: %v", command, stdout.err)
	case res.err != nil:
		return "", res.failure("attach_cmd", command)
	}
	x.attachments = append(x.attachments, a)
	return "", nil
}

// fileLimitWriter writes to w until n bytes have been written, then
// fails (which ends the command with SIGPIPE or a write error).
type fileLimitWriter struct {
	w    io.Writer
	n    int64
	over bool
	err  error
}

var errOutputTooLong = errors.New("output too long")

func (l *fileLimitWriter) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if int64(len(p)) > l.n {
		l.over = true
		l.err = errOutputTooLong
		return 0, l.err
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}
