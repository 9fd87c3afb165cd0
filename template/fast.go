package template

import (
	"bytes"
	"text/template/parse"
)

// fastProg is a piece compiled for execFast, which executes a piece made
// only of text and of actions that print a value ({{.name}}) or the result
// of a directive without side effects ({{addr .name .email}},
// {{date "%F"}}), possibly followed by markFunc (see markValues), without
// text/template: text/template finds values and calls functions through
// reflection, which costs more than the rest of a batch row's expansion.
// execFast does what text/template would do and gives up on anything else:
// a value that is missing or not a string, a directive that fails, output
// too long. The piece is then executed by text/template from the start,
// which prints the same bytes or reports the error as it always does.
type fastProg []fastOp

// fastOp is one step of a fast program: the text of a TextNode, or an
// action.
type fastOp struct {
	text string    // the text printed (an action: "")
	name string    // an action: the value name (.name) or the directive called
	call bool      // a directive call, with args
	args []fastArg // the directive's arguments
	mark bool      // the value goes through markFunc, with pos
	pos  string    // markFunc's first argument
	act  bool      // an action (else text)
}

// fastArg is an argument of a directive: a string constant or a value
// (.name).
type fastArg struct {
	s     string
	field bool // s names a value
}

// fastFuncs are the directives a fast program may call: they depend only on
// their arguments and the expansion's clock, and change nothing that the
// piece's output depends on, so that calling one again (when the piece is
// executed by text/template after all) gives the same result.
var fastFuncs = map[string]bool{"addr": true, "date": true}

// compileFast returns the fast program of a piece's parse tree, or nil
// when it holds anything a fast program does not do.
func compileFast(tree *parse.Tree) fastProg {
	if tree == nil || tree.Root == nil {
		return nil
	}
	prog := make(fastProg, 0, len(tree.Root.Nodes))
	for _, n := range tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			prog = append(prog, fastOp{text: string(n.Text)})
		case *parse.ActionNode:
			op, ok := compileAction(n)
			if !ok {
				return nil
			}
			prog = append(prog, op)
		default:
			return nil
		}
	}
	return prog
}

func compileAction(n *parse.ActionNode) (fastOp, bool) {
	op := fastOp{act: true}
	p := n.Pipe
	if p == nil || p.IsAssign || len(p.Decl) > 0 || len(p.Cmds) == 0 || len(p.Cmds) > 2 {
		return op, false
	}
	if len(p.Cmds) == 2 {
		// markFunc "pos", added by markValues
		args := p.Cmds[1].Args
		if len(args) != 2 {
			return op, false
		}
		id, ok := args[0].(*parse.IdentifierNode)
		if !ok || id.Ident != markFunc {
			return op, false
		}
		s, ok := args[1].(*parse.StringNode)
		if !ok {
			return op, false
		}
		op.mark, op.pos = true, s.Text
	}
	args := p.Cmds[0].Args
	if len(args) == 0 {
		return op, false
	}
	switch a := args[0].(type) {
	case *parse.FieldNode:
		if len(args) != 1 || len(a.Ident) != 1 {
			return op, false
		}
		op.name = a.Ident[0]
	case *parse.IdentifierNode:
		if !fastFuncs[a.Ident] {
			return op, false
		}
		op.name, op.call = a.Ident, true
		for _, arg := range args[1:] {
			switch arg := arg.(type) {
			case *parse.StringNode:
				op.args = append(op.args, fastArg{s: arg.Text})
			case *parse.FieldNode:
				if len(arg.Ident) != 1 {
					return op, false
				}
				op.args = append(op.args, fastArg{s: arg.Ident[0], field: true})
			default:
				return op, false
			}
		}
	default:
		return op, false
	}
	return op, true
}

// maxFastArgs is the number of directive arguments execFast passes
// without allocating.
const maxFastArgs = 4

// execFast runs prog, appending its output to buf (x.out, where markFunc
// records spans). It reports false, with buf and x.spans as they were,
// when the piece must be executed by text/template instead.
func (x *expansion) execFast(prog fastProg, buf *bytes.Buffer, limit int) (ok bool) {
	start, spans := buf.Len(), len(x.spans)
	defer func() {
		if recover() != nil {
			ok = false // text/template reports a directive's panic as an error
		}
		if !ok {
			buf.Truncate(start)
			x.spans = x.spans[:spans]
		}
	}()
	var argv [maxFastArgs]string
	for i := range prog {
		op := &prog[i]
		if !op.act {
			buf.WriteString(op.text)
			if buf.Len()-start > limit {
				return false // text/template's writer fails on text too
			}
			continue
		}
		var s string
		isAddr := false
		if !op.call {
			v, isString := x.vals[op.name].(string)
			if !isString {
				return false // missing (an error) or printed by fmt
			}
			s = v
		} else {
			args := argv[:0]
			for _, a := range op.args {
				if !a.field {
					args = append(args, a.s)
					continue
				}
				v, isString := x.vals[a.s].(string)
				if !isString {
					return false // missing, or text/template's conversion
				}
				args = append(args, v)
			}
			var err error
			switch op.name {
			case "addr":
				var a addrText
				a, err = x.addr(args...)
				s, isAddr = string(a), true
			case "date":
				s, err = x.date(args...)
			default:
				return false
			}
			if err != nil {
				return false
			}
		}
		if op.mark {
			s = x.markText(op.pos, s, isAddr)
		}
		buf.WriteString(s)
		if buf.Len()-start > limit {
			return false
		}
	}
	return true
}
