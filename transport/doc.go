// Package transport sends messages to an SMTP server: it dials, negotiates
// TLS, authenticates, runs MAIL/RCPT/DATA for a message read from an
// [io.Reader] (or for many messages, pipelined), writes an optional
// human-readable transcript, and classifies every failure by the stage it
// happened at ([Error]).
//
// It knows nothing of templates; the message it is given is the final RFC
// 5322 text. It implements the client side of:
//
//   - RFC 2920, command pipelining ([Client.SendMany] only)
//   - RFC 5321, Simple Mail Transfer Protocol (greeting, EHLO/HELO, MAIL,
//     RCPT, DATA with dot-stuffing, RSET, QUIT; reply parsing)
//   - RFC 2033, LMTP (lmtp://host:port and lmtp:/path/to/socket; LHLO and
//     one reply per recipient after the final dot, see [SendResult])
//   - RFC 3463 and RFC 2034, enhanced status codes (kept in [Reply])
//   - RFC 3207, STARTTLS (required, never opportunistic: when the mode is
//     [TLSStartTLS] and the server does not offer it, Dial fails before any
//     credential is sent)
//   - RFC 8314, implicit TLS for submission ([TLSImplicit], port 465); a
//     TLS mode that does not match the port is diagnosed
//     ([ErrTLSModeMismatch])
//   - RFC 6125 server identity checks by crypto/tls, or certificate pinning
//     by SHA-256 fingerprint ([Config.PinSHA256]); client certificates
//   - RFC 4954, SMTP AUTH, with the mechanisms of package
//     [github.com/mailscript/mailscript/transport/auth]: PLAIN (RFC 4616),
//     LOGIN, CRAM-MD5 (RFC 2195), CRAM-SHA1, DIGEST-MD5 (RFC 2831),
//     SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) and their -PLUS
//     forms with tls-exporter (RFC 9266) or tls-server-end-point (RFC 5929)
//     channel binding, XOAUTH2, OAUTHBEARER (RFC 7628), NTLM (MS-NLMP),
//     EXTERNAL (RFC 4422) and ANONYMOUS (RFC 4505); [MechanismAuto] picks
//     the strongest offered ([auth.Choose])
//   - RFC 1870 (SIZE, declared when the message size is known), RFC 6152
//     (BODY=8BITMIME, declared only when the message has 8-bit bytes), RFC
//     6531 (SMTPUTF8, declared only for non-ASCII addresses) and RFC 3461
//     (DSN: NOTIFY, RET, ENVID, ORCPT, sent only when offered)
//
// For batches, [Client.SendMany] sends many messages on one connection
// with RFC 2920 PIPELINING when offered (MAIL, RCPT and DATA in one write,
// and the final dot of a message in the same write as the next message's
// commands: about one round trip per message), reports each message's
// [Outcome] (per-recipient replies, queue id, and whether the final dot was
// written, for RFC 1047 "uncertain" deliveries), and calls [SendHooks] so
// that a journal can be made durable before each dot.
//
// Beyond sending, [Probe] is a health check (banner, capabilities before
// and after TLS, certificate validity, an optional login),
// [Config.QuitAfter] and [Client.Verify] stop a session at a stage, and
// [Error] and [Reply] marshal to JSON.
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
// [Config.RootCAs]) with the server name taken from the URL, or pinned;
// [Config.InsecureSkipVerify] is an explicit opt-in that the transcript
// flags with "***"; a mechanism in which the server proves itself (SCRAM,
// DIGEST-MD5) fails when it does not; AUTO never picks a cleartext
// mechanism without TLS; AUTH is refused
// over a connection without TLS unless the peer is loopback or
// [Config.AllowInsecureAuth] is set; a mechanism the server did not offer is
// refused; bytes the server sends after its STARTTLS reply and before the
// handshake are refused (RFC 3207 §4.2 injection); a message with a bare CR
// is refused (SMTP smuggling); and the password never appears in a
// transcript or an error, neither in clear nor in base64 at any alignment
// (nor the OAuth token).
//
// [smtp.SMTPError]: https://pkg.go.dev/github.com/emersion/go-smtp#SMTPError
package transport
