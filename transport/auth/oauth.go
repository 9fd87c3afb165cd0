package auth

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// The OAuth 2.0 mechanisms.
const (
	// XOAuth2 is Google's and Microsoft's XOAUTH2 mechanism.
	XOAuth2 = "XOAUTH2"
	// OAuthBearer is the OAUTHBEARER mechanism of RFC 7628.
	OAuthBearer = "OAUTHBEARER"
)

// OAuthError is the error a server reports inside an XOAUTH2 or
// OAUTHBEARER exchange (RFC 7628 §3.2.2): a JSON object with a status such
// as "invalid_token", and optionally the scope needed and the OpenID
// discovery URL.
type OAuthError struct {
	Status  string `json:"status"`
	Scope   string `json:"scope,omitempty"`
	Schemes string `json:"schemes,omitempty"`
	Config  string `json:"openid-configuration,omitempty"`
	Raw     string `json:"-"` // the server's JSON as it came
}

// Error shows the status, the scope and the discovery URL when present.
func (e *OAuthError) Error() string {
	if e.Status == "" {
		return "OAuth error: " + e.Raw
	}
	s := "OAuth error: status " + e.Status
	if e.Scope != "" {
		s += ", scope " + e.Scope
	}
	if e.Schemes != "" {
		s += ", schemes " + e.Schemes
	}
	if e.Config != "" {
		s += ", openid-configuration " + e.Config
	}
	return s
}

func parseOAuthError(challenge []byte) *OAuthError {
	e := &OAuthError{Raw: Printable(challenge)}
	json.Unmarshal(challenge, e)
	return e
}

// oauthClient implements XOAUTH2 and OAUTHBEARER: the whole credential is
// the initial response; a challenge is the server's JSON error, which the
// client must acknowledge (XOAUTH2 with an empty response, OAUTHBEARER
// with %x01) before the server sends its failure reply.
type oauthClient struct {
	mech      string
	ir        func() []byte
	token     secret.Secret
	serverErr *OAuthError
}

// NewXOAuth2Client returns an XOAUTH2 client: the initial response is
// "user=USER^Aauth=Bearer TOKEN^A^A". The token is a bearer credential:
// send it only over TLS.
func NewXOAuth2Client(username string, token secret.Secret) sasl.Client {
	return &oauthClient{mech: XOAuth2, token: token, ir: func() []byte {
		return []byte("user=" + username + "\x01auth=Bearer " + token.Reveal() + "\x01\x01")
	}}
}

// NewOAuthBearerClient returns an OAUTHBEARER client (RFC 7628): the
// initial response is the GS2 header "n,a=AUTHZID," (authzid may be empty)
// then "^Ahost=HOST^Aport=PORT^Aauth=Bearer TOKEN^A^A" (host and port left
// out when empty or 0). The token is a bearer credential: send it only
// over TLS.
func NewOAuthBearerClient(authzid, host string, port int, token secret.Secret) sasl.Client {
	return &oauthClient{mech: OAuthBearer, token: token, ir: func() []byte {
		var b strings.Builder
		b.WriteString("n,")
		if authzid != "" {
			b.WriteString("a=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(authzid))
		}
		b.WriteString(",\x01")
		if host != "" {
			b.WriteString("host=" + host + "\x01")
		}
		if port > 0 {
			b.WriteString("port=" + strconv.Itoa(port) + "\x01")
		}
		b.WriteString("auth=Bearer " + token.Reveal() + "\x01\x01")
		return []byte(b.String())
	}}
}

func (c *oauthClient) Start() (string, []byte, error) {
	c.serverErr = nil
	return c.mech, c.ir(), nil
}

func (c *oauthClient) Next(challenge []byte) ([]byte, error) {
	if c.serverErr != nil {
		return nil, fmt.Errorf("%w after the error %v", sasl.ErrUnexpectedServerChallenge, c.serverErr)
	}
	c.serverErr = parseOAuthError(challenge)
	if c.mech == OAuthBearer {
		return []byte{0x01}, nil // RFC 7628 §3.2.3
	}
	return []byte{}, nil
}

// ServerError implements [ServerErrorer]: the *OAuthError the server sent,
// or nil.
func (c *oauthClient) ServerError() error {
	if c.serverErr == nil {
		return nil
	}
	return c.serverErr
}

// Describe implements [Describer]: the initial response with the token
// masked and ^A shown as \x01; the server's JSON error as it is.
func (c *oauthClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	if fromServer {
		return Printable(data), false
	}
	if step > 0 {
		return Printable(data), false
	}
	var parts []string
	for _, p := range strings.Split(string(data), "\x01") {
		if strings.HasPrefix(strings.ToLower(p), "auth=") {
			masked := "auth=" + secret.Redacted
			if scheme, _, ok := strings.Cut(p, " "); ok {
				masked = scheme + " " + secret.Redacted
			}
			p = masked
		}
		parts = append(parts, Printable([]byte(p)))
	}
	return strings.Join(parts, `\x01`), true
}
