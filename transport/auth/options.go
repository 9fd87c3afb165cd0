package auth

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// Options are the inputs of a mechanism; each mechanism uses the ones it
// needs and [NewClient] says which are missing.
type Options struct {
	Username string        // authentication identity (all but EXTERNAL and ANONYMOUS)
	Password secret.Secret // PLAIN, LOGIN, CRAM-*, DIGEST-MD5, SCRAM-*, NTLM
	Token    secret.Secret // XOAUTH2, OAUTHBEARER: an OAuth 2.0 access token
	// Authzid is the authorization identity, "" for the same as Username
	// (PLAIN, DIGEST-MD5, SCRAM-*, OAUTHBEARER, EXTERNAL).
	Authzid string
	// Host is the server's host name: DIGEST-MD5's digest-uri is
	// "smtp/<Host>", OAUTHBEARER sends it as host=.
	Host string
	Port int // OAUTHBEARER's port= (0 = not sent)
	// Domain is NTLM's user domain; a Username of the form `DOMAIN\user`
	// gives it too.
	Domain string
	Trace  string // ANONYMOUS's trace information (RFC 4505), e.g. an address
	// TLS is the state of the connection the exchange runs on, nil without
	// TLS. SCRAM-*-PLUS binds to it; plain SCRAM uses it to tell the server
	// that the client could have bound (the "y" flag, RFC 5802 §6).
	TLS *tls.ConnectionState
	// ChannelBinding forces the channel binding type of SCRAM-*-PLUS:
	// "tls-exporter" or "tls-server-end-point"; "" = tls-exporter on TLS
	// 1.3, tls-server-end-point otherwise.
	ChannelBinding string
}

// constructors maps upper-case mechanism names to their constructors.
var constructors = map[string]func(o Options) (sasl.Client, error){
	Plain:    func(o Options) (sasl.Client, error) { return NewPlainClient(o.Authzid, o.Username, o.Password), nil },
	Login:    func(o Options) (sasl.Client, error) { return NewLoginClient(o.Username, o.Password), nil },
	CRAMMD5:  func(o Options) (sasl.Client, error) { return NewCRAMMD5Client(o.Username, o.Password), nil },
	CRAMSHA1: func(o Options) (sasl.Client, error) { return NewCRAMSHA1Client(o.Username, o.Password), nil },
	DigestMD5: func(o Options) (sasl.Client, error) {
		return NewDigestMD5Client(o.Authzid, o.Username, o.Password, o.Host), nil
	},
	SCRAMSHA1:       func(o Options) (sasl.Client, error) { return NewSCRAMClient(SCRAMSHA1, o) },
	SCRAMSHA256:     func(o Options) (sasl.Client, error) { return NewSCRAMClient(SCRAMSHA256, o) },
	SCRAMSHA1Plus:   func(o Options) (sasl.Client, error) { return NewSCRAMClient(SCRAMSHA1Plus, o) },
	SCRAMSHA256Plus: func(o Options) (sasl.Client, error) { return NewSCRAMClient(SCRAMSHA256Plus, o) },
	XOAuth2:         func(o Options) (sasl.Client, error) { return NewXOAuth2Client(o.Username, o.Token), nil },
	OAuthBearer: func(o Options) (sasl.Client, error) {
		return NewOAuthBearerClient(o.Authzid, o.Host, o.Port, o.Token), nil
	},
	NTLM:      func(o Options) (sasl.Client, error) { return NewNTLMClient(o.Username, o.Password, o.Domain), nil },
	External:  func(o Options) (sasl.Client, error) { return NewExternalClient(o.Authzid), nil },
	Anonymous: func(o Options) (sasl.Client, error) { return NewAnonymousClient(o.Trace), nil },
}

// Mechanisms returns the names of the mechanisms [NewClient] knows, sorted.
func Mechanisms() []string {
	names := make([]string, 0, len(constructors))
	for name := range constructors {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Known reports whether mech (any case) is a mechanism [NewClient] knows.
func Known(mech string) bool {
	_, ok := constructors[strings.ToUpper(mech)]
	return ok
}

// Cleartext reports whether mech sends a reusable credential over the
// connection as it is (in base64, not hashed): PLAIN and LOGIN send the
// password, XOAUTH2 and OAUTHBEARER a bearer token. The name is matched
// case-insensitively; an unknown mechanism is reported as cleartext, to be
// on the safe side.
func Cleartext(mech string) bool {
	switch strings.ToUpper(mech) {
	case CRAMMD5, CRAMSHA1, DigestMD5, SCRAMSHA1, SCRAMSHA256, SCRAMSHA1Plus, SCRAMSHA256Plus,
		NTLM, External, Anonymous:
		return false
	}
	return true
}

// needs says which inputs each mechanism cannot do without.
func needs(mech string, o Options) error {
	switch mech {
	case XOAuth2:
		if o.Username == "" {
			return fmt.Errorf("auth: %s needs a user name", mech)
		}
		fallthrough
	case OAuthBearer:
		if o.Token.IsZero() {
			return fmt.Errorf("auth: %s needs a token", mech)
		}
		return nil
	case External, Anonymous:
		return nil
	case SCRAMSHA1Plus, SCRAMSHA256Plus:
		if o.TLS == nil {
			return fmt.Errorf("auth: %s needs a TLS connection to bind to", mech)
		}
	}
	if o.Username == "" {
		return fmt.Errorf("auth: %s needs a user name", mech)
	}
	if o.Password.IsZero() {
		return fmt.Errorf("auth: %s needs a password", mech)
	}
	return nil
}

// NewClient returns a client for the mechanism named mech (any case). It
// fails for an unknown mechanism (listing the known ones) and when an input
// the mechanism needs is missing (a user name, a password, a token, a TLS
// connection for -PLUS).
func NewClient(mech string, o Options) (sasl.Client, error) {
	name := strings.ToUpper(mech)
	newClient, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("auth: unknown mechanism %q (known: %s)", mech, strings.Join(Mechanisms(), ", "))
	}
	if err := needs(name, o); err != nil {
		return nil, err
	}
	return newClient(o)
}

// New returns a client for the password mechanism named mech
// (case-insensitive) that authenticates user with pass: NewClient with
// only Username and Password set.
func New(mech string, user string, pass secret.Secret) (sasl.Client, error) {
	return NewClient(mech, Options{Username: user, Password: pass})
}

// Preference is the order in which [Choose] considers password mechanisms,
// strongest first. SCRAM proves both sides and never lets the server see
// the password; -PLUS also binds the exchange to the TLS connection. The
// CRAM family and DIGEST-MD5 hide the password from the wire but not from
// an offline guesser. PLAIN and LOGIN come last and need TLS.
var Preference = []string{
	SCRAMSHA256Plus, SCRAMSHA256, SCRAMSHA1Plus, SCRAMSHA1,
	CRAMSHA1, DigestMD5, CRAMMD5, Plain, Login,
}

// Choice says what [Choose] may pick.
type Choice struct {
	TLS bool // the connection is encrypted: -PLUS and cleartext mechanisms are possible
	// AllowCleartext allows PLAIN, LOGIN and the OAuth mechanisms without
	// TLS (an explicit opt-in of the caller).
	AllowCleartext bool
	Password       bool // a password is given
	Token          bool // an OAuth token is given: only OAUTHBEARER or XOAUTH2
	ClientCert     bool // a TLS client certificate was presented: EXTERNAL when nothing else is given
}

// Choose picks the strongest mechanism in offered (any case) that c allows:
// with a token OAUTHBEARER, then XOAUTH2; with a password the first of
// [Preference] the server offers; with neither but a client certificate,
// EXTERNAL. A cleartext mechanism is never chosen without TLS unless
// c.AllowCleartext, nor a -PLUS one without TLS. The error says what was
// offered and why none fits.
func Choose(offered []string, c Choice) (string, error) {
	has := map[string]bool{}
	for _, m := range offered {
		has[strings.ToUpper(m)] = true
	}
	var order []string
	switch {
	case c.Token:
		order = []string{OAuthBearer, XOAuth2}
	case c.Password:
		order = Preference
	case c.ClientCert:
		order = []string{External}
	default:
		return "", fmt.Errorf("auth: no credentials to choose a mechanism for")
	}
	var skipped []string
	for _, m := range order {
		if !has[m] {
			continue
		}
		if strings.HasSuffix(m, "-PLUS") && !c.TLS {
			continue
		}
		if Cleartext(m) && !c.TLS && !c.AllowCleartext {
			skipped = append(skipped, m)
			continue
		}
		return m, nil
	}
	list := strings.Join(offered, ", ")
	if len(offered) == 0 {
		list = "none"
	}
	if len(skipped) > 0 {
		return "", fmt.Errorf("the server offers only cleartext mechanisms without TLS (%s): refusing to send the credential in clear", list)
	}
	return "", fmt.Errorf("auth: no mechanism the server offers (%s) fits the credentials given", list)
}

// Verifier is implemented by mechanisms in which the server proves that it
// knows the password too (DIGEST-MD5's rspauth, SCRAM's server signature).
// Verified returns nil once the server's proof was checked; a server that
// reports success without having sent it is not to be trusted.
type Verifier interface {
	Verified() error
}

// ServerErrorer is implemented by mechanisms whose server reports errors
// inside the exchange (XOAUTH2, OAUTHBEARER). ServerError returns that
// error, or nil.
type ServerErrorer interface {
	ServerError() error
}
