package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// DigestMD5 is the name of the DIGEST-MD5 mechanism (RFC 2831).
const DigestMD5 = "DIGEST-MD5"

// ErrServerNotVerified: the server said the exchange succeeded but did not
// prove that it knows the password (no or a wrong rspauth, no or a wrong
// SCRAM server signature).
var ErrServerNotVerified = errors.New("the server did not prove that it knows the password")

type digestStep int

const (
	digestStart digestStep = iota
	digestAnswered
	digestVerified
)

type digestMD5Client struct {
	authzid, username string
	password          secret.Secret
	service, host     string
	cnonce            func() string
	step              digestStep
	rspauth           string // the rspauth the server must send
	serverErr         error
}

// NewDigestMD5Client returns a DIGEST-MD5 client (RFC 2831) for qop=auth,
// with digest-uri "smtp/<host>". The authorization identity may be empty.
// It checks the server's rspauth and fails when it is wrong; [Verifier]
// reports whether it came at all. RFC 6331 made DIGEST-MD5 historic: use
// SCRAM where the server offers it.
func NewDigestMD5Client(authzid, username string, password secret.Secret, host string) sasl.Client {
	return &digestMD5Client{authzid: authzid, username: username, password: password, service: "smtp", host: host, cnonce: randomCNonce}
}

func randomCNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawStdEncoding.EncodeToString(b[:])
}

func (c *digestMD5Client) Start() (string, []byte, error) {
	c.step = digestStart
	return DigestMD5, nil, nil
}

func (c *digestMD5Client) Next(challenge []byte) ([]byte, error) {
	switch c.step {
	case digestStart:
		resp, rspauth, err := digestResponse(c.authzid, c.username, c.password, c.service, c.host, challenge, c.cnonce())
		if err != nil {
			return nil, err
		}
		c.rspauth = rspauth
		c.step = digestAnswered
		return resp, nil
	case digestAnswered:
		d, err := parseDirectives(string(challenge))
		if err != nil {
			return nil, fmt.Errorf("bad DIGEST-MD5 response-auth: %w", err)
		}
		got := d["rspauth"]
		if len(got) != 1 || !hmac.Equal([]byte(strings.ToLower(got[0])), []byte(c.rspauth)) {
			c.serverErr = fmt.Errorf("%w (wrong rspauth)", ErrServerNotVerified)
			return nil, c.serverErr
		}
		c.step = digestVerified
		return []byte{}, nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// Verified implements [Verifier].
func (c *digestMD5Client) Verified() error {
	if c.step == digestVerified {
		return nil
	}
	if c.serverErr != nil {
		return c.serverErr
	}
	return fmt.Errorf("%w (no rspauth)", ErrServerNotVerified)
}

var digestResponseRE = regexp.MustCompile(`(response=)[0-9a-fA-F]*`)

// Describe implements [Describer]: the challenge as the server sent it, the
// response with its digest masked (it allows an offline guess of the
// password, so the line counts as secret), rspauth as it is.
func (c *digestMD5Client) Describe(step int, fromServer bool, data []byte) (string, bool) {
	if fromServer {
		return Printable(data), false
	}
	if step == 1 {
		return digestResponseRE.ReplaceAllString(Printable(data), "${1}"+DigestMasked), true
	}
	return Printable(data), false
}

// digestResponse computes the client's response to a digest-challenge
// (RFC 2831 §2.1.2) and the rspauth the server must answer with (§2.1.3).
func digestResponse(authzid, username string, password secret.Secret, service, host string, challenge []byte, cnonce string) (resp []byte, rspauth string, err error) {
	d, err := parseDirectives(string(challenge))
	if err != nil {
		return nil, "", fmt.Errorf("bad DIGEST-MD5 challenge: %w", err)
	}
	nonces := d["nonce"]
	if len(nonces) != 1 || nonces[0] == "" {
		return nil, "", errors.New("bad DIGEST-MD5 challenge: no nonce, or more than one")
	}
	nonce := nonces[0]
	if alg := d["algorithm"]; len(alg) != 1 || !strings.EqualFold(alg[0], "md5-sess") {
		return nil, "", errors.New("bad DIGEST-MD5 challenge: algorithm is not md5-sess")
	}
	qopOK := len(d["qop"]) == 0 // absent means "auth"
	for _, q := range d["qop"] {
		for _, v := range strings.Split(q, ",") {
			qopOK = qopOK || strings.EqualFold(strings.TrimSpace(v), "auth")
		}
	}
	if !qopOK {
		return nil, "", fmt.Errorf("DIGEST-MD5: the server does not offer qop=auth (offers %s)", strings.Join(d["qop"], ","))
	}
	utf8Charset := len(d["charset"]) == 1 && strings.EqualFold(d["charset"][0], "utf-8")
	realm := ""
	if r := d["realm"]; len(r) > 0 {
		realm = r[0]
	}
	const nc = "00000001"
	digestURI := service + "/" + host

	// RFC 2831 §2.1.2.1: with charset=utf-8, user, realm and password are
	// hashed in ISO 8859-1 when they can be.
	conv := func(s string) string {
		if utf8Charset {
			return latin1(s)
		}
		return s
	}
	h := func(s ...string) []byte {
		sum := md5.Sum([]byte(strings.Join(s, ":")))
		return sum[:]
	}
	hexh := func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }
	a1 := append(h(conv(username), conv(realm), conv(password.Reveal())), []byte(":"+nonce+":"+cnonce)...)
	if authzid != "" {
		a1 = append(a1, ":"+authzid...)
	}
	ha1 := hexh(a1)
	kd := func(a2 string) string {
		return hexh([]byte(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + hexh([]byte(a2))))
	}
	response := kd("AUTHENTICATE:" + digestURI)
	rspauth = kd(":" + digestURI)

	var b strings.Builder
	if utf8Charset {
		b.WriteString("charset=utf-8,")
	}
	fmt.Fprintf(&b, "username=%s,", quote(username))
	if _, has := d["realm"]; has {
		fmt.Fprintf(&b, "realm=%s,", quote(realm))
	}
	fmt.Fprintf(&b, "nonce=%s,nc=%s,cnonce=%s,digest-uri=%s,response=%s,qop=auth", quote(nonce), nc, quote(cnonce), quote(digestURI), response)
	if authzid != "" {
		fmt.Fprintf(&b, ",authzid=%s", quote(authzid))
	}
	return []byte(b.String()), rspauth, nil
}

// latin1 returns s in ISO 8859-1 when every character of it fits, else s.
func latin1(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff || r == utf8.RuneError {
			return s
		}
		out = append(out, byte(r))
	}
	return string(out)
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// parseDirectives parses a comma-separated list of name=value or
// name="quoted value" directives (RFC 2831 §7.1, with empty elements
// allowed). Names are lower-cased; a name may repeat (realm).
func parseDirectives(s string) (map[string][]string, error) {
	d := map[string][]string{}
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return d, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ',' {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("directive %q has no value", strings.TrimSpace(s[start:i]))
		}
		name := strings.ToLower(strings.TrimSpace(s[start:i]))
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				ch := s[i]
				i++
				if ch == '\\' && i < len(s) {
					val.WriteByte(s[i])
					i++
					continue
				}
				if ch == '"' {
					closed = true
					break
				}
				val.WriteByte(ch)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted value of %q", name)
			}
		} else {
			start := i
			for i < len(s) && s[i] != ',' {
				i++
			}
			val.WriteString(strings.TrimSpace(s[start:i]))
		}
		d[name] = append(d[name], val.String())
	}
}
