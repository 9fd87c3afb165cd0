package filter

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tName
	tQuotedName // `a name`
	tString
	tNumber
	tOp      // == != < <= > >= =~ && || !
	tPunct   // ( ) [ ] , .
	tKeyword // in contains has true false null
)

type token struct {
	kind tokKind
	text string // the name, the decoded string, the operator or punctuation, the number's text
	off  int    // byte offset in the source
}

var keywords = map[string]bool{"in": true, "contains": true, "has": true, "true": true, "false": true, "null": true}

// SyntaxError is an error in the text of an expression.
type SyntaxError struct {
	Col int    // 1-based column, in characters
	Msg string // what is wrong
}

// Error formats the error as "filter: column N: message".
func (e *SyntaxError) Error() string { return fmt.Sprintf("filter: column %d: %s", e.Col, e.Msg) }

// col converts a byte offset in src to a 1-based column in characters.
func col(src string, off int) int {
	off = max(0, min(off, len(src)))
	return utf8.RuneCountInString(src[:off]) + 1
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) errorf(off int, format string, args ...any) error {
	return &SyntaxError{Col: col(l.src, off), Msg: fmt.Sprintf(format, args...)}
}

func isNameStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isNameChar(r rune) bool {
	return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// next returns the next token.
func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if !unicode.IsSpace(r) {
			break
		}
		l.pos += n
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, off: start}, nil
	}
	c := l.src[l.pos]
	two := ""
	if l.pos+1 < len(l.src) {
		two = l.src[l.pos : l.pos+2]
	}
	switch {
	case two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "=~" || two == "&&" || two == "||":
		l.pos += 2
		return token{kind: tOp, text: two, off: start}, nil
	case c == '<' || c == '>' || c == '!':
		l.pos++
		return token{kind: tOp, text: string(c), off: start}, nil
	case strings.IndexByte("()[],.", c) >= 0:
		l.pos++
		return token{kind: tPunct, text: string(c), off: start}, nil
	case c == '"':
		return l.doubleQuoted()
	case c == '\'':
		end := strings.IndexByte(l.src[l.pos+1:], '\'')
		if end < 0 {
			return token{}, l.errorf(start, "string not terminated")
		}
		l.pos += end + 2
		return token{kind: tString, text: l.src[start+1 : l.pos-1], off: start}, nil
	case c == '`':
		end := strings.IndexByte(l.src[l.pos+1:], '`')
		if end < 0 {
			return token{}, l.errorf(start, "quoted field name not terminated")
		}
		l.pos += end + 2
		if end == 0 {
			return token{}, l.errorf(start, "empty field name")
		}
		return token{kind: tQuotedName, text: l.src[start+1 : l.pos-1], off: start}, nil
	case isDigit(c) || (c == '-' || c == '+') && l.pos+1 < len(l.src) && (isDigit(l.src[l.pos+1]) || l.src[l.pos+1] == '.'):
		return l.number()
	case c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1]):
		return l.number()
	}
	r, n := utf8.DecodeRuneInString(l.src[l.pos:])
	if isNameStart(r) {
		l.pos += n
		for l.pos < len(l.src) {
			r, n := utf8.DecodeRuneInString(l.src[l.pos:])
			if !isNameChar(r) {
				break
			}
			l.pos += n
		}
		text := l.src[start:l.pos]
		if keywords[text] {
			return token{kind: tKeyword, text: text, off: start}, nil
		}
		return token{kind: tName, text: text, off: start}, nil
	}
	if c == '=' {
		return token{}, l.errorf(start, "unexpected '=' (did you mean '=='?)")
	}
	if c == '&' || c == '|' {
		return token{}, l.errorf(start, "unexpected %q (did you mean %q?)", c, string(c)+string(c))
	}
	if r == utf8.RuneError && n == 1 {
		return token{}, l.errorf(start, "invalid UTF-8")
	}
	return token{}, l.errorf(start, "unexpected %q", r)
}

func (l *lexer) doubleQuoted() (token, error) {
	start := l.pos
	var b strings.Builder
	i := l.pos + 1
	for {
		if i >= len(l.src) {
			return token{}, l.errorf(start, "string not terminated")
		}
		c := l.src[i]
		switch c {
		case '"':
			l.pos = i + 1
			return token{kind: tString, text: b.String(), off: start}, nil
		case '\\':
			if i+1 >= len(l.src) {
				return token{}, l.errorf(start, "string not terminated")
			}
			esc := l.src[i+1]
			switch esc {
			case '"', '\\', '/':
				b.WriteByte(esc)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'u':
				if i+6 > len(l.src) {
					return token{}, l.errorf(i, "bad \\u escape")
				}
				var r rune
				for _, h := range l.src[i+2 : i+6] {
					v := strings.IndexRune("0123456789abcdef", unicode.ToLower(h))
					if v < 0 {
						return token{}, l.errorf(i, "bad \\u escape")
					}
					r = r<<4 | rune(v)
				}
				b.WriteRune(r)
				i += 4
			default:
				// Keep unknown escapes as written, so that "\." and "\d" in a
				// regular expression mean what they say.
				b.WriteByte('\\')
				b.WriteByte(esc)
			}
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
}

func (l *lexer) number() (token, error) {
	start := l.pos
	i := l.pos
	if l.src[i] == '-' || l.src[i] == '+' {
		i++
	}
	digits := 0
	for i < len(l.src) && isDigit(l.src[i]) {
		i++
		digits++
	}
	if i < len(l.src) && l.src[i] == '.' {
		i++
		for i < len(l.src) && isDigit(l.src[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return token{}, l.errorf(start, "bad number")
	}
	if i < len(l.src) && (l.src[i] == 'e' || l.src[i] == 'E') {
		i++
		if i < len(l.src) && (l.src[i] == '-' || l.src[i] == '+') {
			i++
		}
		if i >= len(l.src) || !isDigit(l.src[i]) {
			return token{}, l.errorf(start, "bad number")
		}
		for i < len(l.src) && isDigit(l.src[i]) {
			i++
		}
	}
	if i < len(l.src) {
		if r, _ := utf8.DecodeRuneInString(l.src[i:]); isNameChar(r) {
			return token{}, l.errorf(start, "bad number")
		}
	}
	l.pos = i
	return token{kind: tNumber, text: l.src[start:i], off: start}, nil
}
