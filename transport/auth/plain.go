package auth

import (
	"bytes"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// Plain is the name of the PLAIN mechanism (RFC 4616).
const Plain = "PLAIN"

type plainClient struct {
	identity, username string
	password           secret.Secret
}

// NewPlainClient returns a PLAIN client (RFC 4616). The authorization
// identity may be empty, meaning the same as username. The whole exchange
// is the initial response "identity\0username\0password", which carries the
// password in clear: send it only over TLS.
func NewPlainClient(identity, username string, password secret.Secret) sasl.Client {
	return &plainClient{identity: identity, username: username, password: password}
}

func (c *plainClient) Start() (string, []byte, error) {
	return Plain, []byte(c.identity + "\x00" + c.username + "\x00" + c.password.Reveal()), nil
}

func (c *plainClient) Next(challenge []byte) ([]byte, error) {
	return nil, sasl.ErrUnexpectedServerChallenge
}

// Describe implements [Describer]: the initial response is shown as
// `\0alice\0********`.
func (c *plainClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	if fromServer {
		return Printable(data), false
	}
	parts := bytes.SplitN(data, []byte{0}, 3)
	if len(parts) != 3 {
		return secret.Redacted, true
	}
	return Printable(parts[0]) + `\0` + Printable(parts[1]) + `\0` + secret.Redacted, true
}
