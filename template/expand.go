package template

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Options for one expansion.
type Options struct {
	Vars      map[string]string // values from --var; they override Values, template definitions and front-matter defaults
	Now       func() time.Time  // nil = time.Now (tests inject a fixed clock)
	Boundary  func() string     // nil = random MIME boundaries (tests inject fixed ones)
	MessageID func() string     // nil = "<random@hostname>" (tests inject); with or without angle brackets
	ContentID func() string     // nil = random Content-IDs for inline images (tests inject); with or without angle brackets
	Hostname  string            // for Message-ID; "" = os.Hostname

	// Values are named values from a values file (see LoadValues) or, in a
	// batch, from the data row. They may be nested (maps and lists, for
	// {{range .failed}}...{{end}}); they are only read, never changed, so one
	// map may be shared by concurrent expansions. Vars override them; they
	// override template definitions and front-matter defaults.
	Values map[string]any

	// NoShell refuses templates that contain an sh directive (for rendering
	// templates you did not write); the error points at the first one.
	NoShell bool
	// ShellTimeout bounds each sh directive; 0 means DefaultShellTimeout.
	ShellTimeout time.Duration
	// HideEnv names environment variables that sh commands must not see
	// (for example the one holding the SMTP password).
	HideEnv []string
	// IncludeRoot, when set, confines include, render, attach and inline
	// to files inside this directory (after resolving symbolic links).
	IncludeRoot string
}

// DefaultShellTimeout is how long an sh directive may run when
// Options.ShellTimeout is 0.
const DefaultShellTimeout = 30 * time.Second

// maxPieceOutput bounds what one piece of a template (a header value or the
// body) may produce, so that a runaway loop fails instead of eating memory.
const maxPieceOutput = 64 << 20

// expansion is the state of one Expand call: the values known so far and
// the attachments collected.
type expansion struct {
	t           *Template
	opts        Options
	now         time.Time
	vals        map[string]any
	fixed       map[string]bool // names set by Options.Vars or Values: definitions don't override them
	funcs       map[string]any  // the directives bound to this expansion
	renders     []string        // the chain of rendered template files, for cycles (see render)
	attachments []attachment
	mime        mimeState // HTML part, inline images, temporary files (see mime.go)

	// While an address field value is executed: the output so far and
	// where each directive's output landed in it.
	out   *strings.Builder
	spans []valueSpan
}

// Expand evaluates every directive and builds the message. Everything that
// can fail (an undefined value, a failing shell command, a bad address, a
// missing attachment file) fails here, before any byte is sent. The returned
// error is an *Error.
//
// Evaluation order is: front matter vars, the rest of the front matter in
// file order, header lines in order, then the body. A value must be defined
// before it is recalled.
func (t *Template) Expand(opts Options) (m *Message, err error) {
	x := &expansion{
		t:     t,
		opts:  opts,
		vals:  make(map[string]any, len(opts.Vars)+len(opts.Values)+8),
		fixed: make(map[string]bool, len(opts.Vars)+len(opts.Values)),
	}
	if err := x.setValues(); err != nil {
		return nil, err
	}
	for k, v := range opts.Vars {
		if !validName(k) {
			return nil, &Error{File: t.name, Err: fmt.Errorf("invalid value name %q (use letters, digits and _, not starting with a digit)", k)}
		}
		x.vals[k] = v
		x.fixed[k] = true
	}
	defer func() {
		if err != nil {
			x.cleanup() // temporary files of attach_cmd
		}
	}()
	if opts.NoShell {
		if err := t.checkNoShell(); err != nil {
			return nil, err
		}
	}
	if err := x.checkRequired(); err != nil {
		return nil, err
	}
	if opts.Now != nil {
		x.now = opts.Now()
	} else {
		x.now = time.Now()
	}

	set, err := t.set.Clone()
	if err != nil {
		return nil, &Error{File: t.name, Err: err}
	}
	x.funcs = map[string]any{
		"chunk":  x.chunk,
		"sh":     x.sh,
		"date":   x.date,
		"attach": x.attach,
		"addr":   x.addr,
		markFunc: x.mark,
	}
	x.addMIMEFuncs()
	x.addFuncs()
	set.Funcs(x.funcs)

	var b builder
	b.init(t)
	var buf strings.Builder
	for _, it := range t.items {
		if it.kind == itemVar && x.fixed[it.name] {
			continue // --var wins; don't even run the default
		}
		values := make([]string, 0, len(it.pieces))
		for _, pi := range it.pieces {
			buf.Reset()
			p := &t.pieces[pi]
			x.out, x.spans = &buf, x.spans[:0]
			w := &limitedWriter{w: &buf, n: maxPieceOutput}
			if err := x.execPiece(set, &b, it, p.name, w); err != nil {
				if w.n < 0 {
					l, c := p.pos(1, 0)
					return nil, &Error{File: t.name, Line: l, Col: c, Err: fmt.Errorf("output exceeds %d MiB", maxPieceOutput>>20)}
				}
				return nil, t.convertError(err)
			}
			v := buf.String()
			if p.addr && !hasControl(v) && !strings.ContainsAny(v, "\r\n") {
				if k, err := checkAddressValues(v, x.spans); err != nil {
					l, c := p.posAt(x.spans[k].pos)
					return nil, &Error{File: t.name, Line: l, Col: c, Err: fmt.Errorf("%s: %w", it.key, err)}
				}
			}
			values = append(values, v)
		}
		if len(values) == 0 && it.kind != itemHeader {
			values = append(values, "") // cannot happen: every other item has a piece
		}
		switch it.kind {
		case itemVar:
			x.vals[it.name] = values[0]
		case itemDirective:
			if strings.TrimSpace(values[0]) != "" {
				return nil, t.errorf(it.line, it.col, "header: a {{directive}} line in the header must not produce output (got %q)", shorten(values[0]))
			}
		case itemBody:
			b.body = values[0]
		default:
			if err := b.add(it, values); err != nil {
				return nil, err
			}
		}
	}
	return b.finish(x)
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

type limitedWriter struct {
	w io.Writer
	n int
}

var errTooLong = errors.New("output too long")

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.n -= len(p)
	if l.n < 0 {
		return 0, errTooLong
	}
	return l.w.Write(p)
}

// chunk defines (two arguments) or recalls (one argument) a named value.
// A recalled value keeps its type (a list from a values file can be ranged
// over).
func (x *expansion) chunk(name string, value ...any) (any, error) {
	if !validName(name) {
		return "", dirErr("chunk", "invalid name %q (use letters, digits and _, not starting with a digit)", name)
	}
	switch len(value) {
	case 0:
		v, ok := x.vals[name]
		if !ok {
			return "", dirErr("chunk", "undefined chunk %q%s", name, defineHint(name))
		}
		return v, nil
	case 1:
		if !x.fixed[name] {
			x.vals[name] = fmt.Sprint(value[0])
		}
		return "", nil
	default:
		return "", dirErr("chunk", "takes a name and at most one value, got %d values", len(value))
	}
}

// mark records where the output of one action of an address field value
// lands (see Template.markValues) and prints it as text/template would.
func (x *expansion) mark(pos string, v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "<no value>"
	case addrText:
		s = string(v)
	default:
		s = fmt.Sprint(v)
	}
	if x.out != nil {
		p, _ := strconv.Atoi(pos)
		_, isAddr := v.(addrText)
		x.spans = append(x.spans, valueSpan{start: x.out.Len(), end: x.out.Len() + len(s), pos: p, addr: isAddr})
	}
	return s
}

// randomBoundary is a MIME boundary that cannot occur in base64 or
// quoted-printable output.
func randomBoundary() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "=_" + hex.EncodeToString(b[:])
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
