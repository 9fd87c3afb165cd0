// Package transport sends one message at a time to an SMTP server: it dials,
// negotiates TLS, authenticates, runs MAIL/RCPT/DATA for a message read from
// an [io.Reader], writes an optional human-readable transcript, and
// classifies every failure by the stage it happened at ([Error]).
//
// It knows nothing of templates; the message it is given is the final RFC
// 5322 text. It implements the client side of:
//
//   - RFC 5321, Simple Mail Transfer Protocol (greeting, EHLO/HELO, MAIL,
//     RCPT, DATA with dot-stuffing, RSET, QUIT; reply parsing)
//   - RFC 3463 and RFC 2034, enhanced status codes (kept in [Reply])
//   - RFC 3207, STARTTLS (required, never opportunistic: when the mode is
//     [TLSStartTLS] and the server does not offer it, Dial fails before any
//     credential is sent)
//   - RFC 8314, implicit TLS for submission ([TLSImplicit], port 465)
//   - RFC 4954, SMTP AUTH, with the mechanisms of package
//     [github.com/mailscript/mailscript/transport/auth]: PLAIN (RFC 4616),
//     LOGIN, CRAM-MD5 (RFC 2195) and CRAM-SHA1
//   - RFC 1870 (SIZE, declared when the message size is known), RFC 6152
//     (BODY=8BITMIME, declared only when the message has 8-bit bytes) and
//     RFC 6531 (SMTPUTF8, declared only for non-ASCII addresses)
//
// The conversation is driven by this package over [net/textproto]-style line
// I/O rather than by go-smtp's client, because that client decides
// BODY=8BITMIME from the server's capabilities alone, cannot read LOGIN
// prompts sent in plain text, starts TLS lazily and merges both directions
// (and the AUTH secrets) into one debug stream. go-smtp's [smtp.SMTPError]
// is still what an [Error] wraps for a server reply, and go-smtp's server is
// what the tests run against.
//
// Security properties: certificates are verified (system roots or
// [Config.RootCAs]) with the server name taken from the URL; AUTH is refused
// over a connection without TLS unless the peer is loopback or
// [Config.AllowInsecureAuth] is set; a mechanism the server did not offer is
// refused; bytes the server sends after its STARTTLS reply and before the
// handshake are refused (RFC 3207 §4.2 injection); a message with a bare CR
// is refused (SMTP smuggling); and the password never appears in a
// transcript or an error, neither in clear nor in base64 at any alignment.
//
// [smtp.SMTPError]: https://pkg.go.dev/github.com/emersion/go-smtp#SMTPError
package transport
