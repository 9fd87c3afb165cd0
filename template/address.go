package template

import (
	"errors"
	"fmt"
	"strings"

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
		for _, c := range domain[1 : len(domain)-1] {
			if c <= ' ' || c > '~' || c == '[' || c == ']' || c == '\\' {
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
