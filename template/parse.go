package template

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"gopkg.in/yaml.v3"
)

// Template is a parsed template file. It is immutable: one Template can be
// expanded many times, concurrently, with different Options.
type Template struct {
	name    string // as given to Parse, used in errors
	dir     string // base directory for attachments and shell commands
	set     *template.Template
	pieces  []piece
	sources map[string]string // piece name -> source text, to place parse errors
	rawFile string            // the file text, to place YAML block scalars
	items   []item            // what Expand evaluates, in order
}

type itemKind int

const (
	itemVar       itemKind = iota // a front matter default value (vars:)
	itemHeader                    // a header field, from front matter or from the header section
	itemSetting                   // a server setting from front matter
	itemDirective                 // a header-section line holding only directives
	itemBody                      // the body
)

// item is one thing to evaluate: a value with one or more pieces (front
// matter lists have one piece per element).
type item struct {
	kind   itemKind
	name   string // canonical header name, setting key or var name
	key    string // the name as written, for messages
	pieces []int  // indexes into Template.pieces
	line   int    // position of the key or header name
	col    int
	front  bool // comes from the front matter
}

// ParseFile reads and parses a template file. A missing file returns an
// *Error wrapping fs.ErrNotExist.
func ParseFile(path string) (*Template, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Err: err}
	}
	return Parse(path, src)
}

// Parse parses src. name is used in error messages and its directory is the
// base for relative paths (attachments, the working directory of shell
// commands).
func Parse(name string, src []byte) (*Template, error) {
	t := &Template{
		name:    name,
		dir:     filepath.Dir(name),
		sources: map[string]string{},
	}
	t.set = template.New("mailscript").Option("missingkey=error").Funcs(stubFuncs)
	if err := t.parse(src); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) errorf(line, col int, format string, args ...any) *Error {
	return &Error{File: t.name, Line: line, Col: col, Err: fmt.Errorf(format, args...)}
}

// addPiece parses text as a new piece starting at the given file position.
// header marks header field values: their folding line breaks are unfolded.
func (t *Template) addPiece(text string, line, col, indent int, header bool) (int, error) {
	p := piece{name: "p" + strconv.Itoa(len(t.pieces)), line: line, col: col, indent: indent}
	t.pieces = append(t.pieces, p)
	t.sources[p.name] = text
	tt, err := t.set.New(p.name).Parse(text)
	if err != nil {
		return 0, t.convertError(err)
	}
	if header && tt.Tree != nil && tt.Tree.Root != nil {
		unfold(tt.Tree.Root)
	}
	return len(t.pieces) - 1, nil
}

// unfold removes the line breaks of folded header lines from the literal
// text of a header value, so that only values (which are checked) could put
// a line break into a header.
func unfold(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			unfold(c)
		}
	case *parse.TextNode:
		n.Text = bytes.ReplaceAll(n.Text, []byte("\n"), nil)
	case *parse.IfNode:
		unfold(n.List)
		unfold(n.ElseList)
	case *parse.RangeNode:
		unfold(n.List)
		unfold(n.ElseList)
	case *parse.WithNode:
		unfold(n.List)
		unfold(n.ElseList)
	}
}

// usesShell reports the position of the first sh directive, if any. It looks
// at every template of the set, including those made with {{define}}.
func (t *Template) usesShell() (line, col int, ok bool) {
	for i := range t.pieces {
		for _, tt := range t.set.Templates() {
			if tt.Tree == nil || tt.Tree.ParseName != t.pieces[i].name {
				continue
			}
			n := findIdent(tt.Tree.Root, "sh")
			if n == nil {
				continue
			}
			loc, _ := tt.Tree.ErrorContext(n)
			parts := strings.Split(loc, ":")
			ln, _ := strconv.Atoi(parts[len(parts)-2])
			off, _ := strconv.Atoi(parts[len(parts)-1])
			line, col = t.pieces[i].pos(ln, off)
			return line, col, true
		}
	}
	return 0, 0, false
}

func findIdent(n parse.Node, name string) parse.Node {
	var found parse.Node
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if found != nil || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, d := range n.Decl {
				walk(d)
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IdentifierNode:
			if n.Ident == name {
				found = n
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	walk(n)
	return found
}

// splitLines splits s into lines without their line endings (LF or CRLF).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

func (t *Template) parse(src []byte) error {
	s := string(src)
	s = strings.TrimPrefix(s, "\ufeff")
	t.rawFile = s
	line := 1 // file line of s's first byte

	// Front matter: the file starts with a "---" line and the YAML ends at
	// the next "---" (or "...") line.
	if first, rest, ok := cutLine(s); ok && strings.TrimRight(first, " \t") == "---" {
		var yamlText strings.Builder
		n := 1
		closed := false
		for rest != "" {
			var l string
			l, rest, _ = cutLine(rest)
			n++
			if tl := strings.TrimRight(l, " \t"); tl == "---" || tl == "..." {
				closed = true
				break
			}
			yamlText.WriteString(l)
			yamlText.WriteByte('\n')
		}
		if !closed {
			return t.errorf(1, 1, "front matter: no closing --- line")
		}
		if err := t.parseFrontMatter(yamlText.String()); err != nil {
			return err
		}
		s = rest
		line = n + 1
	}

	// Header section: fields, continuation lines and directive lines, up
	// to the first empty line. A first line that is not a header field
	// starts the body: a template may have no header lines at all (the
	// front matter carries them).
	sawField := false
header:
	for {
		if s == "" {
			return nil // header only, empty body
		}
		l, rest, _ := cutLine(s)
		if l == "" {
			s = rest
			line++
			break
		}
		switch {
		case strings.HasPrefix(l, "{{"):
			i, err := t.addPiece(l, line, 1, 0, false)
			if err != nil {
				return err
			}
			t.items = append(t.items, item{kind: itemDirective, pieces: []int{i}, line: line, col: 1})
			s = rest
			line++
		case l[0] == ' ' || l[0] == '\t':
			return t.errorf(line, 1, "header: continuation line without a header field before it")
		default:
			colon := strings.IndexByte(l, ':')
			if colon <= 0 || !validFieldName(l[:colon]) {
				if !sawField {
					break header
				}
				return t.errorf(line, 1, "header: expected a header field \"Name: value\", a {{directive}} line, or an empty line before the body (end the header fields with an empty line before the body)")
			}
			sawField = true
			name := l[:colon]
			value := l[colon+1:]
			vcol := colon + 2
			for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
				value = value[1:]
				vcol++
			}
			startLine := line
			s = rest
			line++
			// continuation lines
			for s != "" {
				cl, crest, _ := cutLine(s)
				if cl == "" || (cl[0] != ' ' && cl[0] != '\t') {
					break
				}
				value += "\n" + cl
				s = crest
				line++
			}
			i, err := t.addPiece(value, startLine, vcol, 0, true)
			if err != nil {
				return err
			}
			t.items = append(t.items, item{kind: itemHeader, name: textproto.CanonicalMIMEHeaderKey(name), key: name, pieces: []int{i}, line: startLine, col: 1})
		}
	}

	i, err := t.addPiece(s, line, 1, 0, false)
	if err != nil {
		return err
	}
	t.items = append(t.items, item{kind: itemBody, pieces: []int{i}, line: line, col: 1})
	return nil
}

// cutLine returns the first line of s without its line ending, the rest, and
// whether s had any line.
func cutLine(s string) (line, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return strings.TrimSuffix(s, "\r"), "", true
	}
	return strings.TrimSuffix(s[:i], "\r"), s[i+1:], true
}

// validFieldName reports whether s is an RFC 5322 field name: printable
// US-ASCII except colon.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// Front matter keys.
var (
	addressKeys = map[string]string{"from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc", "reply_to": "Reply-To"}
	settingKeys = map[string]bool{"server": true, "auth": true, "user": true, "password_env": true, "tls": true}
)

const frontMatterKeys = "from, to, cc, bcc, reply_to, subject, headers, vars, server, auth, user, password_env, tls"

func (t *Template) parseFrontMatter(text string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return t.yamlError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty front matter
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return t.errorf(root.Line+1, root.Column, "front matter: expected \"key: value\" lines")
	}
	seen := map[string]bool{}
	var vars, rest []item
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		kl, kc := k.Line+1, k.Column
		if seen[key] {
			return t.errorf(kl, kc, "front matter: key %q given twice", key)
		}
		seen[key] = true
		switch {
		case key == "subject":
			it, err := t.frontValue(itemHeader, "Subject", key, k, v, false)
			if err != nil {
				return err
			}
			rest = append(rest, it)
		case addressKeys[key] != "":
			it, err := t.frontValue(itemHeader, addressKeys[key], key, k, v, true)
			if err != nil {
				return err
			}
			rest = append(rest, it)
		case settingKeys[key]:
			it, err := t.frontValue(itemSetting, key, key, k, v, false)
			if err != nil {
				return err
			}
			rest = append(rest, it)
		case key == "headers" || key == "vars":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return t.errorf(v.Line+1, v.Column, "front matter: %s: expected a map of names to values", key)
			}
			inner := map[string]bool{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				hk, hv := v.Content[j], v.Content[j+1]
				if inner[hk.Value] {
					return t.errorf(hk.Line+1, hk.Column, "front matter: %s: %q given twice", key, hk.Value)
				}
				inner[hk.Value] = true
				if key == "vars" {
					if !validName(hk.Value) {
						return t.errorf(hk.Line+1, hk.Column, "front matter: vars: invalid name %q (use letters, digits and _, not starting with a digit)", hk.Value)
					}
					it, err := t.frontValue(itemVar, hk.Value, "vars: "+hk.Value, hk, hv, false)
					if err != nil {
						return err
					}
					vars = append(vars, it)
					continue
				}
				if !validFieldName(hk.Value) {
					return t.errorf(hk.Line+1, hk.Column, "front matter: headers: invalid header name %q", hk.Value)
				}
				it, err := t.frontValue(itemHeader, textproto.CanonicalMIMEHeaderKey(hk.Value), "headers: "+hk.Value, hk, hv, false)
				if err != nil {
					return err
				}
				rest = append(rest, it)
			}
		default:
			return t.errorf(kl, kc, "front matter: unknown key %q (known keys: %s)", key, frontMatterKeys)
		}
	}
	// vars are evaluated first, whatever their place in the front matter.
	t.items = append(t.items, vars...)
	t.items = append(t.items, rest...)
	return nil
}

// frontValue parses a front matter value: a string, or a list of strings
// when list is true.
func (t *Template) frontValue(kind itemKind, name, key string, k, v *yaml.Node, list bool) (item, error) {
	it := item{kind: kind, name: name, key: key, line: k.Line + 1, col: k.Column, front: true}
	var nodes []*yaml.Node
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return it, nil
	case v.Kind == yaml.ScalarNode:
		nodes = []*yaml.Node{v}
	case v.Kind == yaml.SequenceNode && list:
		for _, c := range v.Content {
			if c.Kind != yaml.ScalarNode {
				return it, t.errorf(c.Line+1, c.Column, "front matter: %s: expected a list of strings", key)
			}
			nodes = append(nodes, c)
		}
	case v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle != 0:
		return it, t.errorf(v.Line+1, v.Column, "front matter: %s: a value starting with {{ must be quoted, e.g. %s: '{{chunk \"name\"}}'", key, k.Value)
	case list:
		return it, t.errorf(v.Line+1, v.Column, "front matter: %s: expected a string or a list of strings", key)
	default:
		return it, t.errorf(v.Line+1, v.Column, "front matter: %s: expected a string", key)
	}
	for _, n := range nodes {
		line, col, indent := n.Line+1, n.Column, 0
		switch {
		case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
			col++
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			// The content starts on the line after the indicator.
			line++
			indent = t.blockIndent(line)
			col = indent + 1
		}
		i, err := t.addPiece(n.Value, line, col, indent, kind == itemHeader)
		if err != nil {
			return it, err
		}
		it.pieces = append(it.pieces, i)
	}
	return it, nil
}

// blockIndent returns the indentation of a file line (used for YAML block
// scalars, whose indentation YAML removes). It is only an estimate for
// position reporting.
func (t *Template) blockIndent(fileLine int) int {
	src := t.rawFile
	l := nthLine(src, fileLine)
	return len(l) - len(strings.TrimLeft(l, " "))
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (t *Template) yamlError(err error) *Error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return t.errorf(n+1, 1, "front matter: %s", m[2])
	}
	return t.errorf(2, 1, "front matter: %s", strings.TrimPrefix(msg, "yaml: "))
}

// validName reports whether s can name a chunk: letters, digits and _, not
// starting with a digit (so that it is also a shell variable name and works
// as {{.name}}).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
