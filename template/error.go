package template

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Error is a template error with its position. Every error returned by
// ParseFile, Parse and Template.Expand is an *Error.
//
// Error() formats it as "FILE:LINE:COL: DIRECTIVE: message"; the DIRECTIVE
// part is left out when Directive is empty, and LINE:COL when Line is 0 (an
// error about the file as a whole or about a value given in Options).
type Error struct {
	File      string // the template's name as given to Parse or ParseFile
	Line, Col int    // 1-based; 0 when the error has no position
	Directive string // "chunk", "sh", "date", "attach"... or "" when not caused by one
	Err       error  // the underlying error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Col))
		}
	}
	b.WriteString(": ")
	if e.Directive != "" {
		b.WriteString(e.Directive)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("unknown error")
	}
	return b.String()
}

// Unwrap returns the underlying error, so that errors.Is(err, fs.ErrNotExist)
// works for a missing template or attachment.
func (e *Error) Unwrap() error { return e.Err }

// directiveError is what the template functions return: the name of the
// directive and what went wrong. It travels through text/template's
// ExecError and is turned into an *Error with the position text/template
// reports.
type directiveError struct {
	directive string
	err       error
}

func (e *directiveError) Error() string { return e.directive + ": " + e.err.Error() }
func (e *directiveError) Unwrap() error { return e.err }

func dirErr(directive string, format string, args ...any) error {
	return &directiveError{directive, fmt.Errorf(format, args...)}
}

// piece is one run of template text parsed as its own text/template: a front
// matter value, a header field value, a directive line or the body.
type piece struct {
	name   string // name in the template set; also text/template's ParseName
	src    string // the piece's text as parsed (before unfolding)
	line   int    // file line of the piece's first byte (1-based)
	col    int    // file column of the piece's first byte (1-based)
	indent int    // bytes removed at the start of the piece's later lines
	// posMap, when set, gives the file position of every byte of src (and
	// one past its end): YAML scalars whose value is not a verbatim copy of
	// the file text (folded, quoted with escapes, multi-line plain).
	posMap []filePos
	// approx is set when the value's bytes could not be mapped to the
	// file: every position in the piece is reported at line, col (the start
	// of the value) rather than at a wrong spot.
	approx bool
	addr   bool // an address field value: directive outputs are checked
	tree   *parse.Tree
	fast   fastProg // the piece as a fast program, nil when it has none (see fastProg)
}

type filePos struct{ line, col int }

// pos maps a position in a piece (1-based line, 0-based byte offset in that
// line, as text/template reports them) to a file line and 1-based column.
func (p *piece) pos(line, off int) (int, int) {
	switch {
	case p.approx:
		return p.line, p.col
	case p.posMap != nil:
		o := lineOffset(p.src, line) + off
		o = max(0, min(o, len(p.posMap)-1))
		return p.posMap[o].line, p.posMap[o].col
	case line <= 1:
		return p.line, p.col + off
	}
	return p.line + line - 1, p.indent + off + 1
}

// posAt maps a byte offset in the piece's text to a file position.
func (p *piece) posAt(o int) (int, int) {
	o = max(0, min(o, len(p.src)))
	nl := strings.LastIndexByte(p.src[:o], '\n')
	return p.pos(1+strings.Count(p.src[:o], "\n"), o-nl-1)
}

// lineOffset returns the byte offset of the start of the 1-based line n of s.
func lineOffset(s string, n int) int {
	o := 0
	for i := 1; i < n; i++ {
		j := strings.IndexByte(s[o:], '\n')
		if j < 0 {
			return len(s)
		}
		o += j + 1
	}
	return o
}

var (
	// template: NAME:LINE:COL: executing "NAME" at <CONTEXT>: MESSAGE
	execErrRE = regexp.MustCompile(`(?s)^template: (\S+?):(\d+):(\d+): executing "[^"]*" at <(.*?)>: (.*)$`)
	// template: NAME:LINE: MESSAGE
	parseErrRE   = regexp.MustCompile(`(?s)^template: (\S+?):(\d+): (.*)$`)
	noFuncRE     = regexp.MustCompile(`^function "([^"]+)" not defined`)
	unclosedRE   = regexp.MustCompile(`^unclosed action started at (\S+?):(\d+)`)
	unexpectedRE = regexp.MustCompile(`unexpected "([^"]*)"`)
	innerNameRE  = regexp.MustCompile(`mailscript\.[0-9a-f]+\.\d+(:\d+)*`)
	noEntryRE    = regexp.MustCompile(`map has no entry for key "([^"]*)"`)
	callPrefix   = regexp.MustCompile(`^error calling (\w+): `)
	contextWord  = regexp.MustCompile(`^\(?([A-Za-z_]\w*)`)
)

// convertError turns an error from text/template (parse or exec) into an
// *Error with a file position. src is the text of the piece, used to place
// parse errors that text/template reports with a line only.
func (t *Template) convertError(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	msg := err.Error()
	e := &Error{File: t.name, Err: err}
	if m := execErrRE.FindStringSubmatch(msg); m != nil {
		p := t.pieceNamed(m[1])
		line, _ := strconv.Atoi(m[2])
		off, _ := strconv.Atoi(m[3])
		if p != nil {
			e.Line, e.Col = p.pos(line, off)
		}
		context, rest := m[4], m[5]
		var de *directiveError
		switch {
		case errors.As(err, &de):
			e.Directive, e.Err = de.directive, de.err
		case noEntryRE.MatchString(rest):
			name := noEntryRE.FindStringSubmatch(rest)[1]
			e.Err = fmt.Errorf("undefined value %q%s", name, defineHint(name))
		default:
			if c := callPrefix.FindStringSubmatch(rest); c != nil {
				e.Directive = c[1]
				rest = rest[len(c[0]):]
			} else if w := contextWord.FindStringSubmatch(context); w != nil && isDirective(w[1]) {
				e.Directive = w[1]
			}
			e.Err = errors.New(rest)
		}
		return e
	}
	if m := parseErrRE.FindStringSubmatch(msg); m != nil {
		p := t.pieceNamed(m[1])
		line, _ := strconv.Atoi(m[2])
		rest := m[3]
		// "unclosed action started at NAME:LINE": the position that
		// matters is where the action started, and NAME is internal.
		if u := unclosedRE.FindStringSubmatch(rest); u != nil {
			if q := t.pieceNamed(u[1]); q != nil {
				p = q
				line, _ = strconv.Atoi(u[2])
			}
			rest = "unclosed action: this {{ has no matching }}"
		} else if rest == "unclosed action" {
			rest = "unclosed action: this {{ has no matching }}"
		} else if rest == "unexpected EOF" {
			rest = "unexpected end of text: an action or {{if}}/{{range}}/{{with}}/{{define}} is not closed"
		}
		if p != nil {
			off := 0
			if src, ok := t.sources[p.name]; ok {
				l := nthLine(src, line)
				if f := noFuncRE.FindStringSubmatch(rest); f != nil {
					if i := strings.Index(l, f[1]); i >= 0 {
						off = i
					}
				} else if i := strings.Index(l, "{{"); i >= 0 {
					off = i
					// Point at the offending token when the message names
					// it ("unexpected "b" in operand").
					if tok := unexpectedRE.FindStringSubmatch(rest); tok != nil && tok[1] != "" {
						if j := tokenOutsideStrings(l[i:], tok[1]); j >= 0 {
							off = i + j
						}
					}
				}
			}
			e.Line, e.Col = p.pos(line, off)
		}
		e.Err = errors.New(t.hideNames(rest))
		return e
	}
	return e
}

// hideNames replaces the internal names of the template's pieces in a
// message from text/template with the file name.
func (t *Template) hideNames(msg string) string {
	return innerNameRE.ReplaceAllString(msg, t.name)
}

func (t *Template) pieceNamed(name string) *piece {
	for i := range t.pieces {
		if t.pieces[i].name == name {
			return &t.pieces[i]
		}
	}
	return nil
}

func nthLine(s string, n int) string {
	for i := 1; i < n; i++ {
		j := strings.IndexByte(s, '\n')
		if j < 0 {
			return ""
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		s = s[:j]
	}
	return s
}

func isDirective(name string) bool {
	_, ok := stubFuncs[name]
	return ok
}

func defineHint(name string) string {
	return fmt.Sprintf(" (define it with {{chunk %q \"value\"}}, under vars: in the front matter, or with --var %s=VALUE)", name, name)
}

// stubFuncs lets the parser know the function names; Expand binds the real
// ones to a per-expansion state.
var stubFuncs = template.FuncMap{
	"chunk":      func(string, ...any) (string, error) { return "", nil },
	"sh":         func(string) (string, error) { return "", nil },
	"date":       func(...string) (string, error) { return "", nil },
	"attach":     func(string, ...string) (string, error) { return "", nil },
	"inline":     func(string, ...string) (string, error) { return "", nil },
	"attach_cmd": func(string, ...string) (string, error) { return "", nil },
	"addr":       func(...string) (string, error) { return "", nil },
}

// tokenOutsideStrings returns the index of the first occurrence of tok in
// an action's text that is not inside a "quoted" string, or -1.
func tokenOutsideStrings(action, tok string) int {
	inString := false
	for i := 0; i < len(action); i++ {
		switch c := action[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			if !inString && strings.HasPrefix(action[i:], tok) {
				return i
			}
			inString = !inString
		case !inString && strings.HasPrefix(action[i:], tok):
			return i
		}
	}
	return -1
}
