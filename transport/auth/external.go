package auth

import (
	"github.com/emersion/go-sasl"
)

// External is the name of the EXTERNAL mechanism (RFC 4422 appendix A):
// the server authenticates the client by something outside SASL, in SMTP
// the TLS client certificate.
const External = "EXTERNAL"

type externalClient struct{ authzid string }

// NewExternalClient returns an EXTERNAL client. The initial response is the
// authorization identity, empty (sent as "=") to act as the identity of the
// certificate.
func NewExternalClient(authzid string) sasl.Client { return &externalClient{authzid: authzid} }

func (c *externalClient) Start() (string, []byte, error) {
	return External, []byte(c.authzid), nil
}

func (c *externalClient) Next(challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		// A server that ignored the initial response asks again.
		return []byte(c.authzid), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// Describe implements [Describer]: there is no secret in EXTERNAL.
func (c *externalClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	if !fromServer && len(data) == 0 {
		return "(no authorization identity: that of the certificate)", false
	}
	return Printable(data), false
}
