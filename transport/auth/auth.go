// Package auth implements the client side of the SASL mechanisms mailscript
// speaks to SMTP servers, behind go-sasl's [sasl.Client] interface:
//
//   - PLAIN (RFC 4616)
//   - LOGIN (draft-murchison-sasl-login; also servers that prompt in plain
//     text, such as "334 Username:")
//   - CRAM-MD5 (RFC 2195)
//   - CRAM-SHA1 (RFC 2195 with HMAC-SHA1 in place of HMAC-MD5)
//   - DIGEST-MD5 (RFC 2831, qop=auth; obsoleted by RFC 6331 but still
//     offered), verifying the server's rspauth
//   - SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), verifying the
//     server signature, with github.com/xdg-go/scram
//   - SCRAM-SHA-1-PLUS and SCRAM-SHA-256-PLUS: channel binding to the TLS
//     connection, tls-exporter (RFC 9266) on TLS 1.3 and
//     tls-server-end-point (RFC 5929) otherwise
//   - XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER (RFC 7628)
//   - NTLM (MS-NLMP, NTLMv2 only) with github.com/Azure/go-ntlmssp
//   - EXTERNAL (RFC 4422 appendix A; the TLS client certificate)
//   - ANONYMOUS (RFC 4505)
//
// SASL itself is RFC 4422; its use in SMTP is RFC 4954.
//
// Passwords are [secret.Secret] values. Every mechanism also implements
// [Describer], which turns each step of an exchange into a line a person can
// read in a transcript, with the secret masked, and says whether the raw
// step (and so its base64 form on the wire) must be masked too.
//
// [NewClient] builds any of them from [Options]; [Choose] is the policy that
// picks the strongest one a server offers. The functions of tool.go compute
// single response lines for people who talk to a server by hand.
//
// The package never prints, never decides whether TLS is needed, and never
// talks to the network: the transport package does that.
package auth

import (
	"fmt"
	"strings"
	"unicode/utf8"
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
