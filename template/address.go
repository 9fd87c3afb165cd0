package template

import (
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
)

// parseAddresses parses one header value as an address list and checks every
// address strictly: net/mail accepts things that would break the envelope
// (quoted local parts come back unquoted, groups come back empty).
func parseAddresses(v string) ([]*mail.Address, error) {
	if hasControl(v) {
		return nil, errors.New("contains a line break or control character")
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return nil, fmt.Errorf("invalid address %q: %v", v, strings.TrimPrefix(err.Error(), "mail: "))
	}
	return checkAddresses(v, list)
}

// checkAddresses makes the checks of parseAddresses on list, the address
// list parsed from the header value v.
func checkAddresses(v string, list []*mail.Address) ([]*mail.Address, error) {
	if hasControl(v) {
		return nil, errors.New("contains a line break or control character")
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no address in %q (groups such as \"undisclosed-recipients:;\" are not supported)", v)
	}
	for _, a := range list {
		if err := checkAddrSpec(a.Address); err != nil {
			return nil, fmt.Errorf("invalid address %q: %v", a.Address, err)
		}
		if hasControl(a.Name) {
			return nil, fmt.Errorf("invalid display name %q", a.Name)
		}
	}
	return list, nil
}

// checkAddrSpec accepts local@domain where the local part is a dot-atom
// (RFC 5322 atext, or UTF-8 per RFC 6531) and the domain a host name or an
// address literal.
func checkAddrSpec(s string) error {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return errors.New("expected local-part@domain")
	}
	local, domain := s[:at], s[at+1:]
	if len(s) > 254 {
		return errors.New("longer than 254 octets")
	}
	if !dotAtom(local, isAtext) {
		return errors.New("the local part must be a plain dot-atom (quoted local parts are not supported)")
	}
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		// IPv4 or "IPv6:..." literals: nothing that could end the
		// address or start another one.
		lit := domain[1 : len(domain)-1]
		if lit == "" {
			return errors.New("invalid address literal")
		}
		for _, c := range lit {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '-') {
				return errors.New("invalid address literal")
			}
		}
		return nil
	}
	if !dotAtom(domain, func(c rune) bool {
		return c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
	}) {
		return errors.New("invalid domain")
	}
	return nil
}

func dotAtom(s string, ok func(rune) bool) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		if c != '.' && !ok(c) {
			return false
		}
	}
	return true
}

func isAtext(c rune) bool {
	if c >= 0x80 {
		return c != 0xfffd
	}
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", c)
}

// addrText is what {{addr}} prints: one address, formatted. The address
// field check (checkAddressValues) lets it stand where one address stands.
type addrText string

// addr formats one address: {{addr EMAIL}} prints the bare address,
// {{addr NAME EMAIL}} prints "NAME" <EMAIL> with the display name quoted
// (or RFC 2047-encoded when it is not ASCII) by net/mail's rules. EMAIL must
// be exactly one addr-spec.
func (x *expansion) addr(args ...string) (addrText, error) {
	var name, email string
	switch len(args) {
	case 1:
		email = args[0]
	case 2:
		name, email = args[0], args[1]
	default:
		return "", dirErr("addr", "takes an address, or a display name and an address; got %d arguments", len(args))
	}
	email = strings.TrimSpace(email)
	if hasControl(email) || hasLineBreak(email) {
		return "", dirErr("addr", "address %q contains a line break or control character", shorten(email))
	}
	if err := checkAddrSpec(email); err != nil {
		return "", dirErr("addr", "%q is not one address local@domain: %v", shorten(email), err)
	}
	name = strings.TrimSpace(name)
	if hasControl(name) || hasLineBreak(name) || !utf8.ValidString(name) {
		return "", dirErr("addr", "display name %q contains a line break, a control character or invalid UTF-8", shorten(name))
	}
	if name == "" {
		return addrText(email), nil
	}
	if a, ok := x.set.addrCache.get(name, email); ok {
		x.keepAddr(a)
		return addrText(a.text), nil
	}
	out := (&netmail.Address{Name: name, Address: email}).String()
	// Belt and braces: what we print must read back as this one address.
	list, err := mail.ParseAddressList(out)
	if err != nil || len(list) != 1 || list[0].Address != email || list[0].Name != name {
		return "", dirErr("addr", "cannot format display name %q with address %q", shorten(name), email)
	}
	a := addrResult{name: name, email: email, text: out, list: list}
	x.set.addrCache.put(a)
	x.keepAddr(a)
	return addrText(out), nil
}

// addrResult is what {{addr NAME EMAIL}} printed (text) for name and email,
// and text parsed as an address list: when an address field's value is
// exactly text, the parse is not repeated (see expansion.parseAddresses).
// list is only read, never changed.
type addrResult struct {
	name, email, text string
	list              []*mail.Address
}

// maxKeptAddrs bounds the results of addr an expansion keeps.
const maxKeptAddrs = 16

// keepAddr keeps a, printed by addr, for parseAddresses.
func (x *expansion) keepAddr(a addrResult) {
	if len(x.addrs) < maxKeptAddrs {
		x.addrs = append(x.addrs, a)
	}
}

// addrCache holds the latest results of {{addr NAME EMAIL}} in a boundSet,
// the most recently used first: in a batch, the From address is often the
// same for every message. addr is a function of its arguments, so a result
// found here is the one it would compute again.
type addrCache struct {
	e [4]addrResult
	n int
}

func (c *addrCache) get(name, email string) (addrResult, bool) {
	for i := 0; i < c.n; i++ {
		if a := c.e[i]; a.name == name && a.email == email {
			copy(c.e[1:i+1], c.e[:i])
			c.e[0] = a
			return a, true
		}
	}
	return addrResult{}, false
}

// put adds a in front, dropping the least recently used result when full.
func (c *addrCache) put(a addrResult) {
	if len(a.text) > 1024 {
		return
	}
	if c.n < len(c.e) {
		c.n++
	}
	copy(c.e[1:c.n], c.e[:c.n-1])
	c.e[0] = a
}

// valueSpan is where the output of one directive landed in an expanded
// address field value.
type valueSpan struct {
	start, end int  // byte offsets in the expanded value
	pos        int  // the directive's byte offset in the piece's text
	addr       bool // printed by {{addr}}
}

// checkAddressValues enforces that values (the outputs of directives) can
// neither add a recipient nor change which address a display name belongs
// to. out is an expanded address field value and spans say which of its
// bytes came from directives; everything else is template text.
//
// A value that is the whole field (only white space around it) may be an
// address list: "to: '{{.to}}'" with --var to="a@x, b@y" is meant to be
// a list. Otherwise each value must fit its place:
//
//   - inside a quoted display name ("..."): no " or \;
//   - inside angle brackets (<...>): one addr-spec, without white space and
//     without any of < > , ; : " ( ) \;
//   - inside a comment ((...)): no ( ) or \;
//   - anywhere else (a bare address or an unquoted display name): none of
//     , ; : < > " ( ) [ ] \.
//
// The output of {{addr}} is one complete address and may stand anywhere
// outside quotes, brackets and comments. checkAddressValues returns the index
// of the offending span and the error.
func checkAddressValues(out string, spans []valueSpan) (int, error) {
	nonEmpty, whole := 0, -1
	for k, sp := range spans {
		if sp.end > sp.start {
			nonEmpty++
			whole = k
		}
	}
	if nonEmpty == 1 {
		sp := spans[whole]
		if strings.TrimSpace(out[:sp.start]+out[sp.end:]) == "" {
			return 0, nil // the whole field: may be a list
		}
	}
	const (
		outside = iota
		quoted
		angle
		comment
	)
	state, depth := outside, 0
	k := 0 // next span
	for i := 0; i <= len(out); {
		if k < len(spans) && spans[k].start < i {
			// cannot happen: escapes never skip the start of a value
			return k, fmt.Errorf("value %q cannot be checked", shorten(out[spans[k].start:spans[k].end]))
		}
		if k < len(spans) && spans[k].start == i {
			sp := spans[k]
			v := out[sp.start:sp.end]
			var bad string
			switch {
			case sp.addr && state == outside:
			case state == quoted:
				bad = `"\`
			case state == comment:
				bad = `()\`
			case state == angle:
				bad = "<>,;:\"()\\ \t"
			default:
				bad = `,;:<>"()[]\`
			}
			if j := strings.IndexAny(v, bad); bad != "" && j >= 0 {
				where := map[int]string{
					outside: "is part of an address",
					quoted:  "is inside a quoted display name",
					angle:   "is inside <...> and must be exactly one address",
					comment: "is inside a comment",
				}[state]
				return k, fmt.Errorf("value %q %s and contains %q, which could change the recipients "+
					"(a value may be a list of addresses only when it is the whole field; format one address with {{addr NAME EMAIL}})",
					shorten(v), where, v[j:j+1])
			}
			k++
			if sp.end > sp.start {
				i = sp.end
				continue
			}
			continue
		}
		if i == len(out) {
			break
		}
		c := out[i]
		i++
		switch state {
		case outside:
			switch c {
			case '"':
				state = quoted
			case '<':
				state = angle
			case '(':
				state, depth = comment, 1
			}
		case quoted:
			switch c {
			case '\\':
				i = skipEscaped(i, spans, &k)
			case '"':
				state = outside
			}
		case angle:
			if c == '>' {
				state = outside
			}
		case comment:
			switch c {
			case '\\':
				i = skipEscaped(i, spans, &k)
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					state = outside
				}
			}
		}
	}
	return 0, nil
}

// skipEscaped steps over the character escaped by a backslash at i-1,
// unless it is the first character of a value: the value is then checked
// where it stands (in the quoted string or comment).
func skipEscaped(i int, spans []valueSpan, k *int) int {
	for *k < len(spans) && spans[*k].start == i && spans[*k].end == i {
		*k++ // empty values print nothing
	}
	if *k < len(spans) && spans[*k].start == i {
		return i
	}
	return i + 1
}
