package filter

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of parentheses and '!' so that a hostile
// expression cannot exhaust the stack.
const maxDepth = 100

// Expr is a parsed expression. It is immutable and safe for concurrent use.
type Expr struct {
	src    string
	root   node
	fields []string
}

// Parse parses an expression. Errors are *SyntaxError values.
func Parse(src string) (*Expr, error) {
	p := &parser{lex: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, p.errorf(p.tok.off, "empty expression")
	}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errorf(p.tok.off, "unexpected %s", describe(p.tok))
	}
	return &Expr{src: src, root: root, fields: p.fields}, nil
}

// String returns the expression's source text.
func (e *Expr) String() string { return e.src }

// Fields returns the fields the expression refers to, dotted ("a.b"), each
// once, in order of appearance. The slice must not be modified.
func (e *Expr) Fields() []string { return e.fields }

// Match evaluates the expression against a row's values. Errors are
// *EvalError values.
func (e *Expr) Match(values map[string]any) (bool, error) {
	v, err := e.root.eval(values)
	if err != nil {
		return false, e.wrap(err)
	}
	b, err := truth(v, e.root.pos())
	if err != nil {
		return false, e.wrap(err)
	}
	return b, nil
}

func (e *Expr) wrap(err error) error {
	if ee, ok := err.(*evalErr); ok {
		return &EvalError{Col: col(e.src, ee.off), Msg: ee.msg}
	}
	return err
}

// EvalError is an error evaluating an expression against one row.
type EvalError struct {
	Col int    // 1-based column (in characters) of the operand or operator at fault
	Msg string // what is wrong, naming the field when there is one
}

// Error formats the error as "filter: column N: message".
func (e *EvalError) Error() string { return fmt.Sprintf("filter: column %d: %s", e.Col, e.Msg) }

type parser struct {
	lex    lexer
	tok    token
	fields []string
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errorf(off int, format string, args ...any) error {
	return p.lex.errorf(off, format, args...)
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return "string " + strconv.Quote(t.text)
	case tName, tQuotedName:
		return "field " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

func (p *parser) is(kind tokKind, text string) bool {
	return p.tok.kind == kind && p.tok.text == text
}

func (p *parser) or(depth int) (node, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.is(tOp, "||") {
		off := p.tok.off
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = &logic{and: false, l: l, r: r, off: off}
	}
	return l, nil
}

func (p *parser) and(depth int) (node, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.is(tOp, "&&") {
		off := p.tok.off
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &logic{and: true, l: l, r: r, off: off}
	}
	return l, nil
}

func (p *parser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.tok.off, "expression nested too deeply")
	}
	if p.is(tOp, "!") {
		off := p.tok.off
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &not{x: x, off: off}, nil
	}
	return p.compare(depth)
}

func (p *parser) compare(depth int) (node, error) {
	l, err := p.operand(depth)
	if err != nil {
		return nil, err
	}
	op := p.tok
	switch {
	case op.kind == tOp && op.text == "=~":
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tString {
			return nil, p.errorf(p.tok.off, "=~ wants a string literal holding a regular expression, found %s", describe(p.tok))
		}
		re, err := regexp.Compile(p.tok.text)
		if err != nil {
			return nil, p.errorf(p.tok.off, "bad regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return &match{l: l, re: re, off: op.off}, nil
	case op.kind == tOp && op.text != "!" && op.text != "&&" && op.text != "||":
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.operand(depth)
		if err != nil {
			return nil, err
		}
		return &cmp{op: op.text, l: l, r: r, off: op.off}, nil
	case op.kind == tKeyword && op.text == "contains":
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.operand(depth)
		if err != nil {
			return nil, err
		}
		return &contains{l: l, r: r, off: op.off}, nil
	case op.kind == tKeyword && op.text == "in":
		if err := p.advance(); err != nil {
			return nil, err
		}
		list, err := p.list()
		if err != nil {
			return nil, err
		}
		return &in{l: l, list: list, off: op.off}, nil
	}
	return l, nil
}

func (p *parser) list() ([]any, error) {
	if !p.is(tPunct, "[") {
		return nil, p.errorf(p.tok.off, "in wants a list: [\"a\", \"b\"], found %s", describe(p.tok))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var list []any
	for !p.is(tPunct, "]") {
		if len(list) > 0 {
			if !p.is(tPunct, ",") {
				return nil, p.errorf(p.tok.off, "expected ',' or ']' in list, found %s", describe(p.tok))
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		v, ok, err := p.literal()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, p.errorf(p.tok.off, "a list holds literals (strings, numbers, true, false, null), found %s", describe(p.tok))
		}
		list = append(list, v)
	}
	return list, p.advance()
}

// literal parses a literal if the current token is one.
func (p *parser) literal() (any, bool, error) {
	var v any
	switch {
	case p.tok.kind == tString:
		v = p.tok.text
	case p.tok.kind == tNumber:
		if i, err := strconv.ParseInt(p.tok.text, 10, 64); err == nil {
			v = i
		} else if f, err := strconv.ParseFloat(p.tok.text, 64); err == nil {
			v = f
		} else {
			return nil, false, p.errorf(p.tok.off, "number out of range")
		}
	case p.is(tKeyword, "true"):
		v = true
	case p.is(tKeyword, "false"):
		v = false
	case p.is(tKeyword, "null"):
		v = nil
	default:
		return nil, false, nil
	}
	return v, true, p.advance()
}

func (p *parser) operand(depth int) (node, error) {
	off := p.tok.off
	if v, ok, err := p.literal(); err != nil || ok {
		return &lit{v: v, off: off}, err
	}
	switch {
	case p.is(tPunct, "("):
		if depth > maxDepth {
			return nil, p.errorf(off, "expression nested too deeply")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.is(tPunct, ")") {
			return nil, p.errorf(p.tok.off, "expected ')' to close the '(' at column %d, found %s", col(p.lex.src, off), describe(p.tok))
		}
		return x, p.advance()
	case p.is(tKeyword, "has"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.is(tPunct, "(") {
			return nil, p.errorf(p.tok.off, "expected '(' after has")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		if !p.is(tPunct, ")") {
			return nil, p.errorf(p.tok.off, "expected ')' after the field of has(), found %s", describe(p.tok))
		}
		return &has{f: f, off: off}, p.advance()
	case p.tok.kind == tName || p.tok.kind == tQuotedName:
		return p.field()
	}
	return nil, p.errorf(off, "expected a field, a literal or '(', found %s", describe(p.tok))
}

func (p *parser) field() (*field, error) {
	off := p.tok.off
	var path []string
	for {
		if p.tok.kind != tName && p.tok.kind != tQuotedName {
			return nil, p.errorf(p.tok.off, "expected a field name, found %s", describe(p.tok))
		}
		path = append(path, p.tok.text)
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.is(tPunct, ".") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	f := &field{path: path, name: strings.Join(path, "."), off: off}
	for _, n := range p.fields {
		if n == f.name {
			return f, nil
		}
	}
	p.fields = append(p.fields, f.name)
	return f, nil
}
