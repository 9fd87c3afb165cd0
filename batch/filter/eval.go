package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

type node interface {
	eval(values map[string]any) (any, error)
	pos() int // byte offset for errors
}

// evalErr is the internal form of an EvalError, with a byte offset.
type evalErr struct {
	off int
	msg string
}

func (e *evalErr) Error() string { return e.msg }

func errorf(off int, format string, args ...any) error {
	return &evalErr{off: off, msg: fmt.Sprintf(format, args...)}
}

type lit struct {
	v   any
	off int
}

func (n *lit) eval(map[string]any) (any, error) { return n.v, nil }
func (n *lit) pos() int                         { return n.off }

type field struct {
	path []string
	name string
	off  int
}

func (n *field) pos() int { return n.off }

func (n *field) eval(values map[string]any) (any, error) {
	v, err := n.lookup(values)
	if err != nil {
		return nil, err
	}
	if v == missing {
		return nil, errorf(n.off, "no field %q in this row", n.name)
	}
	return v, nil
}

// missing marks a field absent from the row.
var missing = new(int)

func (n *field) lookup(values map[string]any) (any, error) {
	if v, ok := values[n.name]; ok {
		return v, nil
	}
	var cur any = values
	for i, k := range n.path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, errorf(n.off, "field %q is %s, not a map", strings.Join(n.path[:i], "."), kind(cur))
		}
		if cur, ok = m[k]; !ok {
			return missing, nil
		}
	}
	return cur, nil
}

type has struct {
	f   *field
	off int
}

func (n *has) pos() int { return n.off }

func (n *has) eval(values map[string]any) (any, error) {
	v, err := n.f.lookup(values)
	if err != nil {
		return false, nil // a.b where a is not a map: there is no a.b
	}
	return v != missing, nil
}

type not struct {
	x   node
	off int
}

func (n *not) pos() int { return n.off }

func (n *not) eval(values map[string]any) (any, error) {
	v, err := n.x.eval(values)
	if err != nil {
		return nil, err
	}
	b, err := truth(v, n.x.pos())
	return !b, err
}

type logic struct {
	and  bool
	l, r node
	off  int
}

func (n *logic) pos() int { return n.off }

func (n *logic) eval(values map[string]any) (any, error) {
	v, err := n.l.eval(values)
	if err != nil {
		return nil, err
	}
	b, err := truth(v, n.l.pos())
	if err != nil || b != n.and {
		return b, err // false && ..., true || ...
	}
	v, err = n.r.eval(values)
	if err != nil {
		return nil, err
	}
	return truth(v, n.r.pos())
}

type cmp struct {
	op   string
	l, r node
	off  int
}

func (n *cmp) pos() int { return n.off }

func (n *cmp) eval(values map[string]any) (any, error) {
	a, err := n.l.eval(values)
	if err != nil {
		return nil, err
	}
	b, err := n.r.eval(values)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "==":
		return equal(a, b), nil
	case "!=":
		return !equal(a, b), nil
	}
	c, err := order(a, b, n)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	case ">=":
		return c >= 0, nil
	}
	return nil, errorf(n.off, "unknown operator %s", n.op)
}

type match struct {
	l   node
	re  *regexp.Regexp
	off int
}

func (n *match) pos() int { return n.off }

func (n *match) eval(values map[string]any) (any, error) {
	v, err := n.l.eval(values)
	if err != nil {
		return nil, err
	}
	s, ok := text(v)
	if !ok {
		return nil, errorf(n.l.pos(), "=~ wants text, %s is %s", name(n.l), kind(v))
	}
	return n.re.MatchString(s), nil
}

type contains struct {
	l, r node
	off  int
}

func (n *contains) pos() int { return n.off }

func (n *contains) eval(values map[string]any) (any, error) {
	a, err := n.l.eval(values)
	if err != nil {
		return nil, err
	}
	b, err := n.r.eval(values)
	if err != nil {
		return nil, err
	}
	switch a := a.(type) {
	case string:
		s, ok := text(b)
		if !ok {
			return nil, errorf(n.r.pos(), "contains: cannot look for %s in a string", kind(b))
		}
		return strings.Contains(a, s), nil
	case []any:
		for _, e := range a {
			if equal(e, b) {
				return true, nil
			}
		}
		return false, nil
	case map[string]any:
		s, ok := text(b)
		if !ok {
			return nil, errorf(n.r.pos(), "contains: a map's keys are text, not %s", kind(b))
		}
		_, ok = a[s]
		return ok, nil
	}
	return nil, errorf(n.l.pos(), "contains wants a string, a list or a map; %s is %s", name(n.l), kind(a))
}

type in struct {
	l    node
	list []any
	off  int
}

func (n *in) pos() int { return n.off }

func (n *in) eval(values map[string]any) (any, error) {
	a, err := n.l.eval(values)
	if err != nil {
		return nil, err
	}
	for _, e := range n.list {
		if equal(a, e) {
			return true, nil
		}
	}
	return false, nil
}

// name describes an operand in an error message.
func name(n node) string {
	if f, ok := n.(*field); ok {
		return "field " + strconv.Quote(f.name)
	}
	return "the value"
}

func kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	if _, ok := number(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}

// num is a number: an integer when isInt, else a float.
type num struct {
	i     int64
	f     float64
	isInt bool
}

// number converts a value of a numeric type.
func number(v any) (num, bool) {
	switch v := v.(type) {
	case int64:
		return num{i: v, f: float64(v), isInt: true}, true
	case int:
		return num{i: int64(v), f: float64(v), isInt: true}, true
	case int32:
		return num{i: int64(v), f: float64(v), isInt: true}, true
	case uint64:
		if v <= math.MaxInt64 {
			return num{i: int64(v), f: float64(v), isInt: true}, true
		}
		return num{f: float64(v)}, true
	case float64:
		return num{f: v}, true
	case float32:
		return num{f: float64(v)}, true
	case json.Number:
		return parseNumber(string(v))
	}
	return num{}, false
}

// parseNumber parses a numeric string (surrounding spaces allowed); NaN and
// infinities are not numbers here.
func parseNumber(s string) (num, bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return num{i: i, f: float64(i), isInt: true}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
		return num{}, false
	}
	return num{f: f}, true
}

// numeric converts a number or a numeric string.
func numeric(v any) (num, bool) {
	if n, ok := number(v); ok {
		return n, true
	}
	if s, ok := v.(string); ok {
		return parseNumber(s)
	}
	return num{}, false
}

func compareNum(a, b num) int {
	if a.isInt && b.isInt {
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	}
	switch {
	case a.f < b.f:
		return -1
	case a.f > b.f:
		return 1
	}
	return 0
}

// equal implements == (see the package documentation).
func equal(a, b any) bool {
	if na, ok := number(a); ok {
		nb, ok := numeric(b)
		return ok && compareNum(na, nb) == 0
	}
	if nb, ok := number(b); ok {
		na, ok := numeric(a)
		return ok && compareNum(na, nb) == 0
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case string:
		switch b := b.(type) {
		case string:
			return a == b
		case bool:
			pa, err := strconv.ParseBool(a)
			return err == nil && pa == b
		}
	case bool:
		switch b := b.(type) {
		case bool:
			return a == b
		case string:
			pb, err := strconv.ParseBool(b)
			return err == nil && pb == a
		}
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !equal(va, vb) {
				return false
			}
		}
		return true
	}
	return false
}

// order implements < <= > >= (see the package documentation).
func order(a, b any, n *cmp) (int, error) {
	_, an := number(a)
	_, bn := number(b)
	if an || bn {
		na, ok := numeric(a)
		if !ok {
			return 0, errorf(n.l.pos(), "%s %s: %s is %s, not a number", n.op, "compares numbers", name(n.l), kind(a))
		}
		nb, ok := numeric(b)
		if !ok {
			return 0, errorf(n.r.pos(), "%s %s: %s is %s, not a number", n.op, "compares numbers", name(n.r), kind(b))
		}
		return compareNum(na, nb), nil
	}
	sa, aok := a.(string)
	sb, bok := b.(string)
	if aok && bok {
		return strings.Compare(sa, sb), nil
	}
	return 0, errorf(n.off, "%s cannot order %s and %s", n.op, kind(a), kind(b))
}

// text returns the text of a string, number or boolean.
func text(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	}
	if n, ok := number(v); ok {
		if n.isInt {
			return strconv.FormatInt(n.i, 10), true
		}
		return strconv.FormatFloat(n.f, 'f', -1, 64), true
	}
	return "", false
}

// truth converts a condition's value: a boolean or a string that
// strconv.ParseBool accepts.
func truth(v any, off int) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b, nil
		}
	}
	return false, errorf(off, "a condition must be true or false, this is %s", kind(v))
}
