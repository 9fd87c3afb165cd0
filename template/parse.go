package template

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/mailscript/mailscript/internal/values"
)

// Template is a parsed template file. It is immutable: one Template can be
// expanded many times, concurrently, with different Options.
type Template struct {
	name    string // as given to Parse, used in errors
	dir     string // base directory for attachments and shell commands
	set     *template.Template
	pieces  []piece
	sources map[string]string // piece name -> source text, to place parse errors
	items   []item            // what Expand evaluates, in order

	// prefix starts the names of the pieces in the template set. It is
	// random, so that a {{define}} or {{template}} in the template cannot
	// name (replace or call) a piece.
	prefix string
	// front is the front matter text (LF line endings) and frontLines the
	// offsets of its lines, to place YAML scalars.
	front      string
	frontLines []int
	// required lists the names under required: in the front matter.
	required []requiredName

	// sets holds copies of set bound to an expansion (see boundSet),
	// reused by later expansions.
	sets sync.Pool
	// vals holds empty maps for the values of an expansion (see getVals).
	vals sync.Pool
	// shellOnce computes shellErr, the error of checkNoShell.
	shellOnce sync.Once
	shellErr  *Error
}

// requiredName is one name of the front matter's required: list, with its
// position.
type requiredName struct {
	name      string
	line, col int
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
	field  string // a header field's name as written (header section, headers:), the spelling kept in the output
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
		prefix:  "mailscript." + randomID()[:16] + ".",
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

// addPiece parses text as a new piece placed in the file as p says (line,
// col, indent or posMap). header marks header field values: their folding
// line breaks are unfolded.
func (t *Template) addPiece(p piece, text string, header bool) (int, error) {
	p.name = t.prefix + strconv.Itoa(len(t.pieces))
	p.src = text
	t.pieces = append(t.pieces, p)
	i := len(t.pieces) - 1
	t.sources[p.name] = text
	tt, err := t.set.New(p.name).Parse(text)
	if err != nil {
		return 0, t.convertError(err)
	}
	if tt.Tree != nil && tt.Tree.Root != nil {
		if header {
			unfold(tt.Tree.Root)
		}
		if p.addr {
			if err := t.markValues(&t.pieces[i], tt.Tree, tt.Tree.Root); err != nil {
				return 0, err
			}
		}
	}
	t.pieces[i].tree = tt.Tree
	return i, nil
}

// checkPieces makes sure that no {{define}} replaced a piece (their names
// are random, so this cannot happen by accident).
func (t *Template) checkPieces() error {
	for i := range t.pieces {
		p := &t.pieces[i]
		if tt := t.set.Lookup(p.name); tt == nil || tt.Tree != p.tree {
			return t.errorf(p.line, p.col, "define: a template replaced an internal piece")
		}
	}
	return nil
}

// finishParse checks the template set once every piece is parsed.
func (t *Template) finishParse() error {
	if err := t.checkPieces(); err != nil {
		return err
	}
	if err := t.checkCalls(); err != nil {
		return err
	}
	for i := range t.pieces {
		t.pieces[i].fast = compileFast(t.pieces[i].tree)
	}
	return nil
}

// maxTemplateCalls bounds the {{template}} calls that executing one
// template makes, counting the calls of the templates it calls (a call in
// a range or a branch counts once). Nested calls multiply: twenty defines
// that each call the next twice make a million calls, and hang an
// expansion without printing a byte.
const maxTemplateCalls = 10000

// templateCall is a {{template}} action and the tree it is in.
type templateCall struct {
	node *parse.TemplateNode
	tree *parse.Tree
}

// checkCalls refuses a template whose {{template}} calls are recursive
// (text/template would only stop them 100000 calls deep) or multiply
// beyond maxTemplateCalls.
func (t *Template) checkCalls() error {
	calls := map[string][]templateCall{}
	var names []string
	for _, tt := range t.set.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		names = append(names, tt.Name())
		for n := range nodes(tt.Tree.Root) {
			if c, ok := n.(*parse.TemplateNode); ok {
				calls[tt.Name()] = append(calls[tt.Name()], templateCall{c, tt.Tree})
			}
		}
	}
	// The pieces first, in file order, then the defines by name: the error
	// does not depend on map order.
	sort.Slice(names, func(i, j int) bool {
		pi, pj := strings.HasPrefix(names[i], t.prefix), strings.HasPrefix(names[j], t.prefix)
		if pi != pj {
			return pi
		}
		if pi {
			a, _ := strconv.Atoi(names[i][len(t.prefix):])
			b, _ := strconv.Atoi(names[j][len(t.prefix):])
			return a < b
		}
		return names[i] < names[j]
	})

	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	count := map[string]int{} // calls made by executing the template, at most maxTemplateCalls+1
	var stack []string
	var visit func(name string) error
	visit = func(name string) error {
		state[name] = active
		stack = append(stack, name)
		n := 0
		for _, c := range calls[name] {
			callee := c.node.Name
			switch state[callee] {
			case active:
				var chain []string
				for i := len(stack) - 1; i >= 0; i-- {
					if stack[i] == callee {
						chain = append([]string(nil), stack[i:]...)
						break
					}
				}
				chain = append(chain, callee)
				for i, c := range chain {
					chain[i] = strconv.Quote(c)
				}
				what := fmt.Sprintf("%q calls itself", callee)
				if len(chain) > 2 {
					what += " (" + strings.Join(chain, " -> ") + ")"
				}
				return t.callError(c, what+": recursive templates are not supported")
			case unvisited:
				if _, ok := calls[callee]; ok {
					if err := visit(callee); err != nil {
						return err
					}
				} else {
					state[callee] = done // no calls, or not defined (an error when executed)
				}
			}
			n = min(n+1+count[callee], maxTemplateCalls+1)
		}
		count[name] = n
		state[name] = done
		stack = stack[:len(stack)-1]
		return nil
	}
	for _, name := range names {
		if state[name] == unvisited {
			if err := visit(name); err != nil {
				return err
			}
		}
		if count[name] <= maxTemplateCalls {
			continue
		}
		// Report the first call of the innermost template that makes too
		// many calls.
	descend:
		for {
			for _, c := range calls[name] {
				if count[c.node.Name] > maxTemplateCalls {
					name = c.node.Name
					continue descend
				}
			}
			break
		}
		return t.callError(calls[name][0], fmt.Sprintf("more than %d template calls, counting the calls of the templates called (nested {{template}} calls multiply)", maxTemplateCalls))
	}
	return nil
}

// callError is an error about a {{template}} action, placed at its
// "template" keyword.
func (t *Template) callError(c templateCall, msg string) *Error {
	e := &Error{File: t.name, Line: 1, Col: 1, Directive: "template", Err: errors.New(msg)}
	if p := t.pieceNamed(c.tree.ParseName); p != nil {
		at := int(c.node.Pos)
		if i := strings.LastIndex(p.src[:min(at, len(p.src))], "template"); i >= 0 {
			at = i
		}
		e.Line, e.Col = p.posAt(at)
	}
	return e
}

// markFunc is the function that markValues appends to the pipeline of every
// action that prints a value in an address field. Templates cannot call it:
// it is not in the parse-time function set.
const markFunc = "mailscriptValue_"

// markValues rewrites the actions of an address field value so that their
// output goes through markFunc, which records where each value lands in the
// expanded field (see checkAddressValues). {{template}} is refused in
// address fields: its output could not be told from template text.
func (t *Template) markValues(p *piece, tree *parse.Tree, root parse.Node) error {
	for n := range nodes(root) {
		switch n := n.(type) {
		case *parse.ActionNode:
			if n.Pipe == nil || len(n.Pipe.Decl) > 0 {
				continue // an assignment prints nothing
			}
			pos := strconv.Itoa(int(n.Pos))
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{
				NodeType: parse.NodeCommand,
				Pos:      n.Pos,
				Args: []parse.Node{
					parse.NewIdentifier(markFunc).SetTree(tree).SetPos(n.Pos),
					&parse.StringNode{NodeType: parse.NodeString, Pos: n.Pos, Quoted: strconv.Quote(pos), Text: pos},
				},
			})
		case *parse.TemplateNode:
			at := int(n.Pos)
			if i := strings.LastIndex(p.src[:min(at, len(p.src))], "template"); i >= 0 {
				at = i
			}
			line, col := p.posAt(at)
			return &Error{File: t.name, Line: line, Col: col, Directive: "template",
				Err: errors.New("not allowed in an address field (use {{chunk}}, {{addr}} or a value instead)")}
		}
	}
	return nil
}

// unfold removes the line breaks of folded header lines from the literal
// text of a header value, so that only values (which are checked) could put
// a line break into a header.
func unfold(root parse.Node) {
	for n := range nodes(root) {
		if n, ok := n.(*parse.TextNode); ok {
			n.Text = bytes.ReplaceAll(n.Text, []byte("\n"), nil)
		}
	}
}

// usesShell reports the name and position of the first shell directive
// (see shellDirectives), if any. It looks at every template of the set,
// including those made with {{define}}.
func (t *Template) usesShell() (name string, line, col int, ok bool) {
	for i := range t.pieces {
		for _, tt := range t.set.Templates() {
			if tt.Tree == nil || tt.Tree.ParseName != t.pieces[i].name {
				continue
			}
			n := findIdent(tt.Tree.Root, shellDirectives)
			if n == nil {
				continue
			}
			loc, _ := tt.Tree.ErrorContext(n)
			parts := strings.Split(loc, ":")
			ln, _ := strconv.Atoi(parts[len(parts)-2])
			off, _ := strconv.Atoi(parts[len(parts)-1])
			line, col = t.pieces[i].pos(ln, off)
			return n.(*parse.IdentifierNode).Ident, line, col, true
		}
	}
	return "", 0, 0, false
}

// findIdent returns the first function identifier in n whose name is in names.
func findIdent(n parse.Node, names map[string]bool) parse.Node {
	for n := range nodes(n) {
		if id, ok := n.(*parse.IdentifierNode); ok && names[id.Ident] {
			return id
		}
	}
	return nil
}

// nodes iterates over n and every node under it, depth first, in source
// order: the nodes of lists; the pipeline, then the branches, of if, range
// and with; the declarations and commands of pipelines, the arguments of
// commands. Nil nodes are skipped. Parse trees are small and not deep, so
// the recursion is fine.
func nodes(n parse.Node) iter.Seq[parse.Node] {
	return func(yield func(parse.Node) bool) {
		walkNodes(n, yield)
	}
}

// walkNodes calls yield for n and the nodes under it (see nodes) and
// reports whether yield asked to go on.
func walkNodes(n parse.Node, yield func(parse.Node) bool) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *parse.ListNode:
		if n == nil {
			return true
		}
		if !yield(n) {
			return false
		}
		for _, c := range n.Nodes {
			if !walkNodes(c, yield) {
				return false
			}
		}
		return true
	case *parse.PipeNode:
		if n == nil {
			return true
		}
		if !yield(n) {
			return false
		}
		for _, d := range n.Decl {
			if !walkNodes(d, yield) {
				return false
			}
		}
		for _, c := range n.Cmds {
			if !walkNodes(c, yield) {
				return false
			}
		}
		return true
	}
	if !yield(n) {
		return false
	}
	switch n := n.(type) {
	case *parse.ActionNode:
		return walkNodes(n.Pipe, yield)
	case *parse.CommandNode:
		for _, a := range n.Args {
			if !walkNodes(a, yield) {
				return false
			}
		}
	case *parse.ChainNode:
		return walkNodes(n.Node, yield)
	case *parse.IfNode:
		return walkBranches(&n.BranchNode, yield)
	case *parse.RangeNode:
		return walkBranches(&n.BranchNode, yield)
	case *parse.WithNode:
		return walkBranches(&n.BranchNode, yield)
	case *parse.TemplateNode:
		return walkNodes(n.Pipe, yield)
	}
	return true
}

// walkBranches walks the pipeline and the branches of an if, range or with.
func walkBranches(b *parse.BranchNode, yield func(parse.Node) bool) bool {
	return walkNodes(b.Pipe, yield) && walkNodes(b.List, yield) && walkNodes(b.ElseList, yield)
}

func (t *Template) parse(src []byte) error {
	s := string(src)
	s = strings.TrimPrefix(s, "\ufeff")
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
		t.front = yamlText.String()
		t.frontLines = []int{0}
		for i := 0; i < len(t.front); i++ {
			if t.front[i] == '\n' {
				t.frontLines = append(t.frontLines, i+1)
			}
		}
		if err := t.parseFrontMatter(t.front); err != nil {
			return err
		}
		s = rest
		line = n + 1
	}

	// Header section: fields, continuation lines and directive lines, up
	// to the first empty line. A template may have no header lines at all
	// (the front matter carries them): when the lines before the first
	// empty line hold no header field, or a line that is neither a field
	// nor a directive line comes before any field, they are all body.
	sawField := false
	if !hasHeaderSection(s) {
		goto body
	}
header:
	for {
		if s == "" {
			return t.finishParse() // header only, empty body
		}
		l, rest, _ := cutLine(s)
		if l == "" {
			s = rest
			line++
			break
		}
		switch {
		case strings.HasPrefix(l, "{{"):
			i, err := t.addPiece(piece{line: line, col: 1}, l, false)
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
			if colon > maxFieldName && fieldNameChars(l[:colon]) {
				return t.errorf(line, 1, "header: field name longer than %d characters", maxFieldName)
			}
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
			canon := textproto.CanonicalMIMEHeaderKey(name)
			i, err := t.addPiece(piece{line: startLine, col: vcol, addr: addressFields[canon]}, value, true)
			if err != nil {
				return err
			}
			t.items = append(t.items, item{kind: itemHeader, name: canon, key: name, field: name, pieces: []int{i}, line: startLine, col: 1})
		}
	}

body:
	i, err := t.addPiece(piece{line: line, col: 1}, s, false)
	if err != nil {
		return err
	}
	t.items = append(t.items, item{kind: itemBody, pieces: []int{i}, line: line, col: 1})
	return t.finishParse()
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

// maxFieldName bounds header field names: the header writer (go-message)
// cannot fold a field whose name leaves no room on its first line.
const maxFieldName = 70

// validFieldName reports whether s is an RFC 5322 field name: printable
// US-ASCII except colon, at most maxFieldName long.
func validFieldName(s string) bool {
	return len(s) <= maxFieldName && fieldNameChars(s)
}

// fieldNameChars reports whether s is made of printable US-ASCII except
// colon.
func fieldNameChars(s string) bool {
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
	settingKeys = map[string]bool{"server": true, "auth": true, "user": true, "password_env": true, "tls": true, "profile": true}
)

const frontMatterKeys = "from, to, cc, bcc, reply_to, subject, headers, vars, required, server, auth, user, password_env, tls, profile"

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
		case key == "required":
			if err := t.parseRequired(v); err != nil {
				return err
			}
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
					return t.errorf(hk.Line+1, hk.Column, "front matter: headers: invalid header name %q (printable ASCII except \":\", at most %d characters)", hk.Value, maxFieldName)
				}
				it, err := t.frontValue(itemHeader, textproto.CanonicalMIMEHeaderKey(hk.Value), "headers: "+hk.Value, hk, hv, false)
				if err != nil {
					return err
				}
				it.field = hk.Value
				rest = append(rest, it)
			}
		default:
			return t.errorf(kl, kc, "front matter: unknown key %q (known keys: %s)", key, frontMatterKeys)
		}
	}
	for _, r := range t.required {
		for _, it := range vars {
			if it.name == r.name {
				return t.errorf(it.line, it.col, "front matter: vars: %q is also required: a default would never be used (remove one)", r.name)
			}
		}
	}
	// vars are evaluated first, whatever their place in the front matter.
	t.items = append(t.items, vars...)
	t.items = append(t.items, rest...)
	return nil
}

// parseRequired reads the front matter's required: list of value names.
func (t *Template) parseRequired(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return t.errorf(v.Line+1, v.Column, "front matter: required: expected a list of value names, e.g. required: [to, name]")
	}
	seen := map[string]bool{}
	for _, c := range v.Content {
		if c.Kind != yaml.ScalarNode || !validName(c.Value) {
			return t.errorf(c.Line+1, c.Column, "front matter: required: expected a value name (letters, digits and _, not starting with a digit), got %q", c.Value)
		}
		if seen[c.Value] {
			return t.errorf(c.Line+1, c.Column, "front matter: required: %q given twice", c.Value)
		}
		seen[c.Value] = true
		t.required = append(t.required, requiredName{c.Value, c.Line + 1, c.Column})
	}
	return nil
}

// frontValue parses a front matter value: a string, or a list of strings
// when list is true.
func (t *Template) frontValue(kind itemKind, name, key string, k, v *yaml.Node, list bool) (item, error) {
	it := item{kind: kind, name: name, key: key, line: k.Line + 1, col: k.Column, front: true}
	var nodes []*yaml.Node
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		// A null value ("key:", "key: ~") is an empty string.
		i, err := t.addPiece(piece{line: it.line, col: it.col}, "", false)
		if err != nil {
			return it, err
		}
		it.pieces = append(it.pieces, i)
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
		p := t.scalarPiece(n)
		p.addr = kind == itemHeader && addressFields[name]
		i, err := t.addPiece(p, n.Value, kind == itemHeader)
		if err != nil {
			return it, err
		}
		it.pieces = append(it.pieces, i)
	}
	return it, nil
}

// scalarPiece places a YAML scalar's value in the file: every byte of the
// value is mapped to the file byte it comes from (through quoting, escapes,
// folding and block indentation). When that fails, the piece is marked
// approx and every position in it is reported at the start of the value.
func (t *Template) scalarPiece(n *yaml.Node) piece {
	p := piece{line: n.Line + 1, col: n.Column}
	start, ok := t.frontOffset(n.Line, n.Column)
	if !ok {
		p.approx = true
		return p
	}
	p.line, p.col = t.frontPos(start)
	// A tag (!!str) or an anchor (&a) may come before the value.
	for start < len(t.front) && (t.front[start] == '!' || t.front[start] == '&') {
		for start < len(t.front) && !strings.ContainsRune(" \t\n", rune(t.front[start])) {
			start++
		}
		for start < len(t.front) && strings.ContainsRune(" \t\n", rune(t.front[start])) {
			start++
		}
	}
	offs := alignScalar(t.front, start, n.Value, n.Style)
	if offs == nil {
		p.approx = true
		return p
	}
	p.posMap = make([]filePos, len(offs))
	for j, o := range offs {
		p.posMap[j].line, p.posMap[j].col = t.frontPos(o)
	}
	p.line, p.col = p.posMap[0].line, p.posMap[0].col
	return p
}

// frontOffset converts a YAML position (1-based line, 1-based column in
// characters) to a byte offset in the front matter text.
func (t *Template) frontOffset(line, col int) (int, bool) {
	if line < 1 || line > len(t.frontLines) || col < 1 {
		return 0, false
	}
	o := t.frontLines[line-1]
	for k := 1; k < col; k++ {
		if o >= len(t.front) || t.front[o] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRuneInString(t.front[o:])
		o += size
	}
	return o, true
}

// frontPos converts a byte offset in the front matter text to a file line
// and 1-based byte column. The front matter starts on the file's line 2.
func (t *Template) frontPos(o int) (int, int) {
	i := sort.Search(len(t.frontLines), func(i int) bool { return t.frontLines[i] > o }) - 1
	return i + 2, o - t.frontLines[i] + 1
}

// alignScalar maps every byte of val, the value of a YAML scalar of the
// given style whose text starts at src[start] (its first character, quote or
// block indicator), to the offset in src it comes from. It returns
// len(val)+1 offsets, or nil when the value and the text do not line up.
func alignScalar(src string, start int, val string, style yaml.Style) []int {
	offs := make([]int, len(val)+1)
	block := style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	dq := style&yaml.DoubleQuotedStyle != 0
	sq := style&yaml.SingleQuotedStyle != 0
	i, indent := start, 0
	skipIndent := func() {
		for k := 0; k < indent && i < len(src) && src[i] == ' '; k++ {
			i++
		}
	}
	switch {
	case block:
		// The content starts on the line after the indicator; its
		// indentation is that of its first non-blank line.
		nl := strings.IndexByte(src[i:], '\n')
		if nl < 0 {
			return nil
		}
		i += nl + 1
		for k := i; k < len(src); {
			l := src[k:]
			if e := strings.IndexByte(l, '\n'); e >= 0 {
				l = l[:e]
			}
			if strings.TrimLeft(l, " ") != "" {
				indent = len(l) - len(strings.TrimLeft(l, " "))
				break
			}
			k += len(l) + 1
		}
		skipIndent()
	case dq, sq:
		i++
	}
	j := 0
	for j < len(val) && i < len(src) {
		c := src[i]
		if c == '\n' || !block && (c == ' ' || c == '\t') && foldsHere(src[i:]) {
			// A line break, folded into a space or kept as line
			// breaks; with the trailing white space before it and the
			// indentation after it.
			brk := i
			if block {
				for i < len(src) && src[i] == '\n' {
					i++
					skipIndent()
				}
			} else {
				for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n') {
					i++
				}
			}
			switch {
			case val[j] == ' ' && style&yaml.LiteralStyle == 0:
				offs[j] = brk
				j++
			case val[j] == '\n':
				for j < len(val) && val[j] == '\n' {
					offs[j] = brk
					j++
				}
			default:
				return nil
			}
			continue
		}
		switch {
		case dq && c == '\\':
			if i+1 >= len(src) {
				return nil
			}
			if src[i+1] == '\n' { // escaped line break: nothing
				i += 2
				for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
					i++
				}
				continue
			}
			r, n := yamlEscape(src[i+1:])
			if n == 0 {
				return nil
			}
			enc := string(r)
			if !strings.HasPrefix(val[j:], enc) {
				return nil
			}
			for k := range len(enc) {
				offs[j+k] = i
			}
			j += len(enc)
			i += 1 + n
		case dq && c == '"':
			return nil // the closing quote before the end of the value
		case sq && c == '\'':
			if i+1 >= len(src) || src[i+1] != '\'' || val[j] != '\'' {
				return nil
			}
			offs[j] = i
			j++
			i += 2
		case c != val[j]:
			return nil
		default:
			offs[j] = i
			j++
			i++
		}
	}
	for ; j < len(val); j++ {
		if !block || val[j] != '\n' { // trailing line breaks of a block scalar at the end of the front matter
			return nil
		}
		offs[j] = len(src) - 1
	}
	offs[len(val)] = min(i, max(len(src)-1, 0))
	return offs
}

// foldsHere reports whether s starts with white space up to a line break.
func foldsHere(s string) bool {
	t := strings.TrimLeft(s, " \t")
	return t != "" && t[0] == '\n'
}

// yamlEscape decodes the YAML double-quoted escape sequence at the start of
// s (after the backslash) and returns the rune and the bytes it used, or 0
// bytes when it is not one.
func yamlEscape(s string) (rune, int) {
	if s == "" {
		return 0, 0
	}
	simple := map[byte]rune{'0': 0, 'a': 7, 'b': 8, 't': 9, '\t': 9, 'n': 10, 'v': 11, 'f': 12, 'r': 13,
		'e': 27, ' ': ' ', '"': '"', '/': '/', '\\': '\\', 'N': 0x85, '_': 0xa0, 'L': 0x2028, 'P': 0x2029}
	if r, ok := simple[s[0]]; ok {
		return r, 1
	}
	n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[0]]
	if n == 0 || len(s) < 1+n {
		return 0, 0
	}
	v, err := strconv.ParseUint(s[1:1+n], 16, 32)
	if err != nil {
		return 0, 0
	}
	return rune(v), 1 + n
}

// yamlError places an error of the YAML parser in the front matter, which
// starts on the file's line 2.
func (t *Template) yamlError(err error) *Error {
	if n, msg, ok := values.YAMLErrorLine(err); ok {
		return t.errorf(n+1, 1, "front matter: %s", msg)
	}
	return t.errorf(2, 1, "front matter: %s", strings.TrimPrefix(err.Error(), "yaml: "))
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

// hasHeaderSection reports whether the message part of a template starts
// with header fields: the lines before the first empty line are header
// fields, their continuation lines and directive lines, and a header field
// comes before any other kind of text.
//
// An empty first line is an empty header section: it separates the front
// matter from a body that must not be read as header fields.
func hasHeaderSection(s string) bool {
	for first := true; s != ""; first = false {
		l, rest, _ := cutLine(s)
		switch {
		case l == "":
			return first
		case strings.HasPrefix(l, "{{"):
		case l[0] == ' ' || l[0] == '\t':
			return false
		default:
			colon := strings.IndexByte(l, ':')
			return colon > 0 && validFieldName(l[:colon])
		}
		s = rest
	}
	return false
}
