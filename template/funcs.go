package template

import (
	"encoding/base64"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// helperFuncs are the text helpers: pure functions, the same for every
// expansion. Their argument order suits pipelines: the value comes last
// ({{.name | upper}}, {{.body | wrap 72}}).
var helperFuncs = map[string]any{
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
	"title":   title,
	"trim":    strings.TrimSpace,
	"default": defaultValue,
	"join":    join,
	"split":   split,
	"indent":  indent,
	"wrap":    wrap,
	"quote":   quote,
	"base64":  base64Encode,
	// html is text/template's builtin (escapes < > & ' " and NUL).
}

// directiveStubs are the parse-time stand-ins for the directives of this
// file, include.go and dates.go (see stubFuncs).
var directiveStubs = map[string]any{
	"get":      func(string, ...any) (any, error) { return nil, nil },
	"required": func(string, ...string) (any, error) { return nil, nil },
	"env":      func(string, ...string) (string, error) { return "", nil },
	"include":  func(string, ...string) (string, error) { return "", nil },
	"render":   func(string) (string, error) { return "", nil },
}

func init() {
	for k, v := range helperFuncs {
		stubFuncs[k] = v
	}
	for k, v := range directiveStubs {
		stubFuncs[k] = v
	}
}

// addFuncs adds the helpers and the directives of this file, include.go
// and dates.go, bound to b.
func (b *binding) addFuncs(m map[string]any) {
	for k, v := range helperFuncs {
		m[k] = v
	}
	m["get"] = func(name string, def ...any) (any, error) { return b.x.get(name, def...) }
	m["required"] = func(name string, msg ...string) (any, error) { return b.x.required(name, msg...) }
	m["env"] = func(name string, def ...string) (string, error) { return b.x.env(name, def...) }
	m["include"] = func(path string, opts ...string) (string, error) { return b.x.include(path, opts...) }
	m["render"] = func(path string) (string, error) { return b.x.render(path) }
}

// get recalls a value that may be undefined: {{get "name" "default"}}
// returns the value of name, or the default when name is not defined (an
// empty value is defined: use default for those). NAME may be a dotted
// path into nested values: {{get "build.url" ""}}. Without a default, an
// undefined name is an error, as with chunk.
func (x *expansion) get(name string, def ...any) (any, error) {
	if len(def) > 1 {
		return nil, dirErr("get", "takes a name and at most one default, got %d defaults", len(def))
	}
	if v, ok := x.lookupPath(name); ok {
		return v, nil
	}
	if len(def) == 1 {
		return def[0], nil
	}
	return nil, dirErr("get", "undefined value %q (give a default: {{get %q \"default\"}})", name, name)
}

// required recalls a value that must be given and not empty:
// {{required "to"}}, or {{required "to" "MESSAGE"}} to say what is missing
// in the template's own words.
func (x *expansion) required(name string, msg ...string) (any, error) {
	if len(msg) > 1 {
		return nil, dirErr("required", "takes a name and at most one message, got %d messages", len(msg))
	}
	v, ok := x.lookupPath(name)
	if ok && !isEmpty(v) {
		return v, nil
	}
	if len(msg) == 1 && msg[0] != "" {
		return nil, dirErr("required", "%s", msg[0])
	}
	if ok {
		return nil, dirErr("required", "value %q is empty", name)
	}
	return nil, dirErr("required", "value %q is required and not given%s", name, defineHint(name))
}

// env returns an environment variable: {{env "HOME"}} fails when HOME is
// not set, {{env "REGION" "eu"}} returns "eu" then. A variable named in
// Options.HideEnv, or not in Options.AllowEnv when that is set, counts as
// not set: with a default, the default is used; without one, the error
// says why.
func (x *expansion) env(name string, def ...string) (string, error) {
	if len(def) > 1 {
		return "", dirErr("env", "takes a variable name and at most one default, got %d defaults", len(def))
	}
	if name == "" || strings.ContainsAny(name, "=\x00") {
		return "", dirErr("env", "invalid variable name %q", name)
	}
	hidden := false
	for _, h := range x.opts.HideEnv {
		if h == name {
			hidden = true
			break
		}
	}
	refused := x.opts.AllowEnv != nil && !slices.Contains(x.opts.AllowEnv, name)
	if !hidden && !refused {
		if v, ok := os.LookupEnv(name); ok {
			return v, nil
		}
	}
	if len(def) == 1 {
		return def[0], nil
	}
	if hidden {
		return "", dirErr("env", "environment variable %s is hidden from templates (it holds a secret)", name)
	}
	if refused {
		return "", dirErr("env", "%s", EnvNotAllowed(name, x.opts.AllowEnv))
	}
	return "", dirErr("env", "environment variable %s is not set (give a default: {{env %q \"default\"}})", name, name)
}

// title upper-cases the first letter of every word (a word follows white
// space or a hyphen); other letters are left alone.
func title(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, r := range s {
		if start {
			b.WriteRune(unicode.ToTitle(r))
		} else {
			b.WriteRune(r)
		}
		start = unicode.IsSpace(r) || r == '-'
	}
	return b.String()
}

// defaultValue returns v, or def when v is empty (see isEmpty):
// {{.nick | default "friend"}}.
func defaultValue(def, v any) any {
	if isEmpty(v) {
		return def
	}
	if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0 {
		return def
	}
	return v
}

// join joins the elements of a list with sep: {{join ", " .names}}. A
// string is returned as it is.
func join(sep string, list any) (string, error) {
	switch l := list.(type) {
	case nil:
		return "", nil
	case string:
		return l, nil
	case []string:
		size := len(sep) * len(l)
		for _, e := range l {
			size += len(e)
		}
		if size > maxPieceOutput {
			return "", tooLarge("join")
		}
		return strings.Join(l, sep), nil
	}
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return "", dirErr("join", "expected a list, got %T", list)
	}
	parts := make([]string, rv.Len())
	size := 0
	for i := range parts {
		parts[i] = fmt.Sprint(rv.Index(i).Interface())
		size += len(parts[i]) + len(sep)
		if size > maxPieceOutput {
			return "", tooLarge("join")
		}
	}
	return strings.Join(parts, sep), nil
}

// split splits s around each sep: {{range split "," .list}}. An empty s
// gives an empty list.
func split(sep, s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// indent puts width spaces before every line of s that is not empty:
// {{sh "df -h" | indent 4}}. width is an integer of any type (see intArg).
func indent(width any, s string) (string, error) {
	n, err := intArg("indent", width, 0, 200)
	if err != nil {
		return "", err
	}
	if len(s)+n*(strings.Count(s, "\n")+1) > maxPieceOutput {
		return "", tooLarge("indent")
	}
	pad := strings.Repeat(" ", n)
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	b.Grow(len(s) + n*len(lines))
	for _, l := range lines {
		if l != "" && l != "\n" && l != "\r\n" {
			b.WriteString(pad)
		}
		b.WriteString(l)
	}
	return b.String(), nil
}

// wrap word-wraps every line of s to at most width characters, breaking
// at spaces; a word longer than width stays whole on its own line. A
// wrapped line's continuation lines keep its leading white space, so list
// items stay indented. Existing line breaks are kept. width is an integer
// of any type (see intArg).
func wrap(w any, s string) (string, error) {
	width, err := intArg("wrap", w, 1, 998)
	if err != nil {
		return "", err
	}
	if len(s) > maxPieceOutput/2 {
		return "", tooLarge("wrap")
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/width + 1)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		cr := strings.HasSuffix(l, "\r")
		l = strings.TrimSuffix(l, "\r")
		wrapLine(&b, l, width)
		if cr {
			b.WriteByte('\r')
		}
	}
	return b.String(), nil
}

// intArg returns the width argument v of a helper, an integer from lo to
// hi. A number written in the template is an int, one from a values file
// or a data row an int64 (see package internal/values): any integer type
// is accepted.
func intArg(directive string, v any, lo, hi int) (int, error) {
	rv := reflect.ValueOf(v)
	var n int64
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n = rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		n = int64(min(u, uint64(hi)+1))
	default:
		return 0, dirErr(directive, "width: expected a whole number, got %s", typeName(v))
	}
	if n < int64(lo) || n > int64(hi) {
		return 0, dirErr(directive, "width %d out of range %d..%d", v, lo, hi)
	}
	return int(n), nil
}

// typeName names the type of a value in messages.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", shorten(v))
	case float32, float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}

func wrapLine(b *strings.Builder, l string, width int) {
	if utf8.RuneCountInString(l) <= width {
		b.WriteString(l)
		return
	}
	lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	words := strings.Fields(l)
	if len(words) == 0 {
		b.WriteString(l)
		return
	}
	leadLen := utf8.RuneCountInString(lead)
	if leadLen >= width {
		lead, leadLen = "", 0
	}
	b.WriteString(lead)
	col := leadLen
	for i, w := range words {
		wl := utf8.RuneCountInString(w)
		if i > 0 {
			if col+1+wl > width {
				b.WriteByte('\n')
				b.WriteString(lead)
				col = leadLen
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += wl
	}
}

// quote makes s an RFC 5322 quoted-string: {{quote .name}} gives
// "Smith, Ann" with " and \ escaped. A value with a line break or another
// control character (tab aside) is an error: it cannot be quoted.
func quote(s string) (string, error) {
	if hasControl(s) {
		return "", dirErr("quote", "value %q contains a line break or a control character", shorten(s))
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String(), nil
}

// tooLarge is the error of a helper whose output would exceed what one
// piece of a template may produce.
func tooLarge(directive string) error {
	return dirErr(directive, "output exceeds %d MiB", maxPieceOutput>>20)
}

// base64Encode encodes s in standard base64 (RFC 4648, with padding).
func base64Encode(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// EnvNotAllowed says that the environment variable name is not among
// allowed (Options.AllowEnv), in the words of the env directive's error:
// for another way a template names a variable, such as a password_env:
// setting.
func EnvNotAllowed(name string, allowed []string) string {
	list := "none"
	if len(allowed) > 0 {
		list = strings.Join(allowed, ", ")
	}
	return fmt.Sprintf("environment variable %s is not allowed for this template (allowed: %s)", name, list)
}
