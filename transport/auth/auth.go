// Package auth implements the client side of the SASL mechanisms mailscript
// speaks to SMTP servers, behind go-sasl's [sasl.Client] interface:
//
//   - PLAIN (RFC 4616)
//   - LOGIN (draft-murchison-sasl-login; also servers that prompt in plain
//     text, such as "334 Username:")
//   - CRAM-MD5 (RFC 2195)
//   - CRAM-SHA1 (RFC 2195 with HMAC-SHA1 in place of HMAC-MD5)
//
// SASL itself is RFC 4422; its use in SMTP is RFC 4954.
//
// Passwords are [secret.Secret] values. Every mechanism also implements
// [Describer], which turns each step of an exchange into a line a person can
// read in a transcript, with the secret masked, and says whether the raw
// step (and so its base64 form on the wire) must be masked too.
//
// The package never prints, never decides whether TLS is needed, and never
// talks to the network: the transport package does that.
package auth

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// Describer describes the steps of a SASL exchange for a transcript.
//
// Step 0 is the client's initial response (the data returned by Start).
// Step n ≥ 1 is the n-th server challenge (fromServer true) and the client's
// response to it (fromServer false). A client step must be described after
// the call to Next that produced it.
//
// Describe returns a human-readable form of data with every secret replaced
// by [secret.Redacted] (a CRAM digest by [DigestMasked]), and hasSecret
// reports whether data itself contains a secret, or something that allows
// guessing one offline such as a CRAM digest, in which case neither data nor
// any encoding of it may be shown.
type Describer interface {
	Describe(step int, fromServer bool, data []byte) (text string, hasSecret bool)
}

// constructors maps upper-case mechanism names to their constructors.
var constructors = map[string]func(user string, pass secret.Secret) sasl.Client{
	Plain:    func(u string, p secret.Secret) sasl.Client { return NewPlainClient("", u, p) },
	Login:    func(u string, p secret.Secret) sasl.Client { return NewLoginClient(u, p) },
	CRAMMD5:  func(u string, p secret.Secret) sasl.Client { return NewCRAMMD5Client(u, p) },
	CRAMSHA1: func(u string, p secret.Secret) sasl.Client { return NewCRAMSHA1Client(u, p) },
}

// Mechanisms returns the names of the mechanisms [New] knows, sorted.
func Mechanisms() []string {
	names := make([]string, 0, len(constructors))
	for name := range constructors {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Cleartext reports whether mech sends the password itself (in base64, not
// hashed) over the connection, as PLAIN and LOGIN do. The name is matched
// case-insensitively; an unknown mechanism is reported as cleartext, to be
// on the safe side.
func Cleartext(mech string) bool {
	switch strings.ToUpper(mech) {
	case CRAMMD5, CRAMSHA1:
		return false
	}
	return true
}

// New returns a client for the mechanism named mech (case-insensitive) that
// authenticates user with pass. It fails for an unknown mechanism (listing
// the known ones), an empty user name or an empty password.
func New(mech string, user string, pass secret.Secret) (sasl.Client, error) {
	newClient, ok := constructors[strings.ToUpper(mech)]
	if !ok {
		return nil, fmt.Errorf("auth: unknown mechanism %q (known: %s)", mech, strings.Join(Mechanisms(), ", "))
	}
	name := strings.ToUpper(mech)
	if user == "" {
		return nil, fmt.Errorf("auth: %s needs a user name", name)
	}
	if pass.IsZero() {
		return nil, fmt.Errorf("auth: %s needs a password", name)
	}
	return newClient(user, pass), nil
}

// Printable returns data as text for a transcript: printable characters and
// valid UTF-8 as they are, NUL as `\0`, other control bytes and invalid
// UTF-8 as `\xHH`.
func Printable(data []byte) string {
	var b strings.Builder
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == 0:
			b.WriteString(`\0`)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, data[0])
		default:
			b.Write(data[:size])
		}
		data = data[size:]
	}
	return b.String()
}
