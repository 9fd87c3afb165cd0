package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/emersion/go-smtp"
)

// Stage names the step of an SMTP session an [Error] happened at.
type Stage string

// The stages of a session, in order.
const (
	StageConnect  Stage = "connect"  // DNS, TCP, and the TLS handshake of implicit TLS
	StageGreeting Stage = "greeting" // the server's 220 banner
	StageEHLO     Stage = "ehlo"     // EHLO (or HELO)
	StageStartTLS Stage = "starttls" // STARTTLS and its handshake
	StageAuth     Stage = "auth"     // AUTH, and the checks before it
	StageMail     Stage = "mail"     // MAIL FROM, and the checks on the message before it
	StageRcpt     Stage = "rcpt"     // RCPT TO
	StageData     Stage = "data"     // DATA and the message text
	StageDot      Stage = "dot"      // the final "." and the server's reply to it
	StageQuit     Stage = "quit"     // QUIT
)

// Reply is a server reply.
type Reply struct {
	Code     int    // the three-digit reply code
	Enhanced string // the enhanced status code (RFC 3463), e.g. "2.0.0"; "" when absent
	Text     string // the text after the codes; the lines of a multi-line reply joined by "\n"
}

// String returns the reply on one line with its enhanced code, e.g.
// "250 2.0.0 Ok: queued as 8E2FD52095"; the lines of a multi-line reply are
// joined by spaces.
func (r *Reply) String() string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != "" {
		b.WriteString(" ")
		b.WriteString(r.Enhanced)
	}
	if r.Text != "" {
		b.WriteString(" ")
		b.WriteString(strings.ReplaceAll(r.Text, "\n", " "))
	}
	return b.String()
}

// smtpError converts r to go-smtp's error type, for callers that branch on
// it with errors.As.
func (r *Reply) smtpError() *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.Code, Message: r.Text}
	if r.Enhanced != "" {
		parts := strings.Split(r.Enhanced, ".")
		for i := 0; i < 3 && i < len(parts); i++ {
			e.EnhancedCode[i], _ = strconv.Atoi(parts[i])
		}
	}
	return e
}

// MarshalJSON encodes the reply as {"code":250,"enhanced":"2.0.0","text":"..."}.
func (r *Reply) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Code     int    `json:"code"`
		Enhanced string `json:"enhanced,omitempty"`
		Text     string `json:"text"`
	}{r.Code, r.Enhanced, r.Text})
}

// Error is the error type of every error [Dial] and [Client.Send] return.
type Error struct {
	Stage Stage  // where it happened
	Reply *Reply // the server's reply, when a reply caused it
	// Err is the cause: a *smtp.SMTPError (go-smtp's type) equivalent to
	// Reply when the reply is the whole story, a [*RcptError] for refused
	// recipients, a [*MechanismError], one of this package's sentinel errors,
	// a TLS or network error, or the context's error when it was cancelled.
	Err error
}

// Error returns the stage followed by the reply (with its enhanced code)
// or the cause: "auth: 535 5.7.8 Error: authentication failed: ...",
// "connect: dial tcp 127.0.0.1:587: connect: connection refused".
func (e *Error) Error() string {
	if _, isReply := e.Err.(*smtp.SMTPError); e.Reply != nil && (e.Err == nil || isReply) {
		return string(e.Stage) + ": " + e.Reply.String()
	}
	if e.Err == nil {
		return string(e.Stage) + ": unknown error"
	}
	return string(e.Stage) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// MarshalJSON encodes the error for --json: the stage, the reply's code,
// enhanced code and text when a reply caused it, the whole message, the
// classification, and the refused recipients when there are any:
//
//	{"stage":"auth","code":535,"enhanced":"5.7.8","text":"...","message":"auth: 535 5.7.8 ...",
//	 "temporary":false,"auth_failed":true}
func (e *Error) MarshalJSON() ([]byte, error) {
	type rcpt struct {
		Address string `json:"address"`
		Reply   *Reply `json:"reply"`
	}
	v := struct {
		Stage      Stage  `json:"stage"`
		Code       int    `json:"code,omitempty"`
		Enhanced   string `json:"enhanced,omitempty"`
		Text       string `json:"text,omitempty"`
		Message    string `json:"message"`
		Temporary  bool   `json:"temporary"`
		Ambiguous  bool   `json:"ambiguous,omitempty"`
		AuthFailed bool   `json:"auth_failed,omitempty"`
		TLSMode    bool   `json:"tls_mode_mismatch,omitempty"`
		Refused    []rcpt `json:"refused,omitempty"`
	}{
		Stage: e.Stage, Message: e.Error(), Temporary: e.Temporary(), Ambiguous: e.Ambiguous(),
		AuthFailed: e.AuthFailed(), TLSMode: errors.Is(e.Err, ErrTLSModeMismatch),
	}
	if e.Reply != nil {
		v.Code, v.Enhanced, v.Text = e.Reply.Code, e.Reply.Enhanced, e.Reply.Text
	}
	var re *RcptError
	if errors.As(e.Err, &re) {
		for _, r := range re.Refused {
			v.Refused = append(v.Refused, rcpt{r.Addr, r.Reply})
		}
	}
	return json.Marshal(v)
}

// Temporary reports whether trying again later may succeed: a 4xx reply
// (for refused recipients: every one of them 4xx), or a network error
// before the final dot was written. A failure after the final dot without a
// reply is not temporary but [Error.Ambiguous].
func (e *Error) Temporary() bool {
	var re *RcptError
	if errors.As(e.Err, &re) {
		for _, r := range re.Refused {
			if r.Reply.Code/100 != 4 {
				return false
			}
		}
		return len(re.Refused) > 0
	}
	if e.Reply != nil {
		return e.Reply.Code/100 == 4
	}
	if e.Stage == StageDot {
		return false
	}
	return transient(e.Err)
}

// Ambiguous reports whether the message was fully written but no reply to
// the final dot came back (connection lost or timed out): the server may
// or may not have accepted it (RFC 1047), so resending may duplicate it.
func (e *Error) Ambiguous() bool {
	return e.Stage == StageDot && e.Reply == nil && e.Err != nil
}

// AuthFailed reports whether the server rejected the credentials (535, or
// enhanced code 5.7.8, in reply to AUTH). Do not retry with the same
// credentials: servers lock accounts out.
func (e *Error) AuthFailed() bool {
	return e.Stage == StageAuth && e.Reply != nil && (e.Reply.Code == 535 || e.Reply.Enhanced == "5.7.8")
}

// transient reports whether err is a network failure worth retrying.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var (
		certErr    *tls.CertificateVerificationError
		recErr     tls.RecordHeaderError
		alertErr   tls.AlertError
		hostErr    x509.HostnameError
		unknownErr x509.UnknownAuthorityError
		invalidErr x509.CertificateInvalidError
		dnsErr     *net.DNSError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		errors.As(err, &hostErr), errors.As(err, &unknownErr), errors.As(err, &invalidErr):
		return false
	case errors.As(err, &dnsErr):
		return !dnsErr.IsNotFound
	case errors.Is(err, ErrBroken), errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETDOWN):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Sentinel causes, for errors.Is on an [Error].
var (
	// ErrNoStartTLS: the TLS mode is STARTTLS and the server does not offer it.
	ErrNoStartTLS = errors.New("server does not offer STARTTLS")
	// ErrSTARTTLSInjection: the server sent data after its reply to STARTTLS
	// and before the TLS handshake (a man-in-the-middle can inject commands
	// that way; RFC 3207 §4.2).
	ErrSTARTTLSInjection = errors.New("server sent data between its STARTTLS reply and the TLS handshake")
	// ErrInsecureAuth: AUTH was asked for over a connection without TLS to a
	// host that is not loopback, and Config.AllowInsecureAuth is not set.
	ErrInsecureAuth = errors.New("refusing to authenticate without TLS to a host that is not loopback")
	// ErrBareCR: the message contains a CR not followed by LF (SMTP smuggling).
	ErrBareCR = errors.New("message contains a bare CR (carriage return not followed by line feed)")
	// ErrLineTooLong: a line of the message is longer than 998 octets.
	ErrLineTooLong = errors.New("message has a line longer than 998 octets")
	// ErrSMTPUTF8: an address is not ASCII and the server does not offer SMTPUTF8.
	ErrSMTPUTF8 = errors.New("address is not ASCII and the server does not offer SMTPUTF8")
	// ErrNo8BitMIME: the message has 8-bit bytes and the server does not
	// offer 8BITMIME (RFC 6152 §3): encode the body as quoted-printable or
	// base64 (and non-ASCII headers as RFC 2047 words), or use a server that
	// offers it.
	ErrNo8BitMIME = errors.New("message has 8-bit data and the server does not offer 8BITMIME")
	// ErrTooBig: the message is larger than the server's SIZE limit.
	ErrTooBig = errors.New("message is larger than the server accepts")
	// ErrTLSModeMismatch: the TLS mode does not match the port (implicit TLS
	// to a port that answers in clear text, or a plain connection to a port
	// that speaks TLS from the first byte). The error says which mode the
	// port wants.
	ErrTLSModeMismatch = errors.New("TLS mode does not match the port")
	// ErrBroken: an earlier failure left the connection unusable (or it was
	// closed); reconnect and try again.
	ErrBroken = errors.New("connection unusable after an earlier error")
)

// MechanismError is the cause of an [Error] when the server did not offer
// the SASL mechanism asked for.
type MechanismError struct {
	Mechanism string   // what was asked for
	Offered   []string // what the server offers (none when it offers no AUTH)
}

// Error says what was asked for and what is offered.
func (e *MechanismError) Error() string {
	if len(e.Offered) == 0 {
		return fmt.Sprintf("server does not offer AUTH (wanted %s)", e.Mechanism)
	}
	return fmt.Sprintf("server does not offer AUTH %s (it offers %s)", e.Mechanism, strings.Join(e.Offered, ", "))
}

// RefusedRecipient is one recipient a server refused, with its reply.
type RefusedRecipient struct {
	Addr  string
	Reply *Reply
}

// RcptError is the cause of an [Error] at [StageRcpt]: the recipients the
// server refused. When any recipient is refused nothing is sent and the
// transaction is reset.
type RcptError struct {
	Refused []RefusedRecipient
	Total   int // how many recipients were given
	// AfterDot: LMTP refused these after the final dot (RFC 2033 §4.2);
	// the message was delivered to the other recipients.
	AfterDot bool
}

// Error lists every refused recipient with its reply.
func (e *RcptError) Error() string {
	var b strings.Builder
	if len(e.Refused) == 1 && e.Total == 1 {
		b.WriteString("recipient refused: ")
	} else {
		fmt.Fprintf(&b, "%d of %d recipients refused: ", len(e.Refused), e.Total)
	}
	for i, r := range e.Refused {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "<%s>: %s", r.Addr, r.Reply)
	}
	if e.AfterDot {
		if len(e.Refused) < e.Total {
			b.WriteString(" (delivered to the others)")
		}
		return b.String()
	}
	b.WriteString(" (nothing sent)")
	return b.String()
}
