package auth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// The SCRAM mechanisms (RFC 5802, RFC 7677).
const (
	SCRAMSHA1       = "SCRAM-SHA-1"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
)

// Channel binding types for SCRAM-*-PLUS.
const (
	ChannelBindingTLSExporter       = "tls-exporter"         // RFC 9266
	ChannelBindingTLSServerEndPoint = "tls-server-end-point" // RFC 5929
)

type scramClient struct {
	mech    string
	conv    *scram.ClientConversation
	step    int
	err     error
	cbType  string
	authzid string
}

// NewSCRAMClient returns a client for mech, one of [SCRAMSHA1],
// [SCRAMSHA256], [SCRAMSHA1Plus] and [SCRAMSHA256Plus], authenticating
// o.Username (and o.Authzid) with o.Password after SASLprep. It checks the
// server signature and fails when it is wrong; [Verifier] reports whether it
// came at all. A -PLUS mechanism binds to o.TLS (see
// [Options.ChannelBinding]); plain SCRAM over TLS sends the "y" flag, so
// that a server that does support channel binding detects a downgrade.
func NewSCRAMClient(mech string, o Options) (sasl.Client, error) {
	return newSCRAMClient(mech, o, nil)
}

func newSCRAMClient(mech string, o Options, nonce func() string) (sasl.Client, error) {
	mech = strings.ToUpper(mech)
	var hash scram.HashGeneratorFcn
	switch mech {
	case SCRAMSHA1, SCRAMSHA1Plus:
		hash = scram.SHA1
	case SCRAMSHA256, SCRAMSHA256Plus:
		hash = scram.SHA256
	default:
		return nil, fmt.Errorf("auth: %q is not a SCRAM mechanism", mech)
	}
	client, err := hash.NewClient(o.Username, o.Password.Reveal(), o.Authzid)
	if err != nil {
		// xdg-go/scram's SASLprep errors do not show the password.
		return nil, fmt.Errorf("auth: %s: %w", mech, err)
	}
	if nonce != nil {
		client = client.WithNonceGenerator(nonce)
	}
	c := &scramClient{mech: mech, authzid: o.Authzid}
	switch {
	case strings.HasSuffix(mech, "-PLUS"):
		cb, err := ChannelBindingData(o.TLS, o.ChannelBinding)
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", mech, err)
		}
		c.cbType = string(cb.Type)
		c.conv = client.NewConversationWithChannelBinding(cb)
	case o.TLS != nil:
		c.conv = client.NewConversationAdvertisingChannelBinding()
	default:
		c.conv = client.NewConversation()
	}
	return c, nil
}

// ChannelBindingData returns the channel binding of the TLS connection st
// of type typ (tls-exporter or tls-server-end-point; "" = tls-exporter on
// TLS 1.3, tls-server-end-point before, RFC 9266 §3 forbidding
// tls-exporter on TLS 1.2 without extended master secret).
func ChannelBindingData(st *tls.ConnectionState, typ string) (scram.ChannelBinding, error) {
	if st == nil {
		return scram.ChannelBinding{}, fmt.Errorf("channel binding needs a TLS connection")
	}
	if typ == "" {
		typ = ChannelBindingTLSServerEndPoint
		if st.Version >= tls.VersionTLS13 {
			typ = ChannelBindingTLSExporter
		}
	}
	switch typ {
	case ChannelBindingTLSExporter:
		return scram.NewTLSExporterBinding(st)
	case ChannelBindingTLSServerEndPoint:
		return scram.NewTLSServerEndpointBinding(st)
	}
	return scram.ChannelBinding{}, fmt.Errorf("unknown channel binding type %q (want %s or %s)", typ, ChannelBindingTLSExporter, ChannelBindingTLSServerEndPoint)
}

func (c *scramClient) Start() (string, []byte, error) {
	first, err := c.conv.Step("")
	if err != nil {
		return "", nil, err
	}
	c.step = 1
	return c.mech, []byte(first), nil
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	if c.conv.Done() {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	if msg, ok := strings.CutPrefix(string(challenge), "e="); ok && c.step >= 2 {
		// A server-final error (RFC 5802 §7): acknowledge it with an empty
		// response so that the server sends its failure reply, and report it.
		c.conv.Step(string(challenge))
		c.step++
		c.err = &ServerError{Mechanism: c.mech, Message: msg}
		return []byte{}, nil
	}
	resp, err := c.conv.Step(string(challenge))
	c.step++
	if err != nil {
		if c.conv.Done() {
			// The server-final message had a wrong signature.
			c.err = fmt.Errorf("%w (%v)", ErrServerNotVerified, err)
			return nil, c.err
		}
		return nil, err
	}
	// After the server-final message the response is empty: some servers
	// (Postfix with Dovecot) send server-final in a 334 and wait for an
	// empty line before 235.
	return []byte(resp), nil
}

// ServerError is an error a SCRAM server reported in its final message
// ("e=invalid-proof", RFC 5802 §7).
type ServerError struct {
	Mechanism, Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("%s server error %q", e.Mechanism, e.Message)
}

// ServerError implements [ServerErrorer].
func (c *scramClient) ServerError() error {
	var se *ServerError
	if errors.As(c.err, &se) {
		return se
	}
	return nil
}

// Verified implements [Verifier].
func (c *scramClient) Verified() error {
	if c.conv.Valid() {
		return nil
	}
	if c.err != nil {
		return c.err
	}
	return fmt.Errorf("%w (no SCRAM server signature)", ErrServerNotVerified)
}

var scramProofRE = regexp.MustCompile(`(,p=)[A-Za-z0-9+/=]*`)

// Describe implements [Describer]: every message as it is, but the client
// proof masked (with the salt and iteration count beside it, it allows an
// offline guess of the password, so that line counts as secret).
func (c *scramClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	text := Printable(data)
	if fromServer {
		return text, false
	}
	if scramProofRE.MatchString(text) {
		return scramProofRE.ReplaceAllString(text, "${1}<proof masked>"), true
	}
	return text, false
}
