package auth

import (
	"github.com/emersion/go-sasl"
)

// Anonymous is the name of the ANONYMOUS mechanism (RFC 4505).
const Anonymous = "ANONYMOUS"

type anonymousClient struct{ trace string }

// NewAnonymousClient returns an ANONYMOUS client. The initial response is
// the trace information (an e-mail address or any text of up to 255
// characters, RFC 4505 §2), which may be empty.
func NewAnonymousClient(trace string) sasl.Client { return &anonymousClient{trace: trace} }

func (c *anonymousClient) Start() (string, []byte, error) {
	return Anonymous, []byte(c.trace), nil
}

func (c *anonymousClient) Next(challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		return []byte(c.trace), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// Describe implements [Describer]: there is no secret in ANONYMOUS.
func (c *anonymousClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	return Printable(data), false
}
