package auth

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/Azure/go-ntlmssp"

	"github.com/mailscript/mailscript/internal/secret"
)

// The functions below compute single SASL lines for a person who talks to a
// server by hand (telnet, openssl s_client): each returns the base64 line
// to type back. Their results carry the credential (or something that
// allows guessing it offline): show them only to the person who asked.

var b64 = base64.StdEncoding

// PlainString returns the AUTH PLAIN initial response (RFC 4616):
// base64(authzid NUL user NUL password).
func PlainString(authzid, user string, pass secret.Secret) string {
	return b64.EncodeToString([]byte(authzid + "\x00" + user + "\x00" + pass.Reveal()))
}

// LoginStrings returns the two AUTH LOGIN answers: base64(user), to the
// "Username:" prompt, and base64(password), to "Password:".
func LoginStrings(user string, pass secret.Secret) (userLine, passLine string) {
	return b64.EncodeToString([]byte(user)), b64.EncodeToString([]byte(pass.Reveal()))
}

// DecodeChallenge decodes a challenge as a server sends it after "334 ":
// base64, padded or not (of the first word when there is more), else the
// text as it is (servers that prompt in plain text, a raw CRAM challenge
// starting with "<").
func DecodeChallenge(s string) []byte {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "334 "))
	if strings.HasPrefix(s, "<") {
		return []byte(s)
	}
	if b, err := b64.DecodeString(s); err == nil {
		return b
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b
	}
	if first, _, ok := strings.Cut(s, " "); ok {
		if b, err := b64.DecodeString(first); err == nil {
			return b
		}
	}
	return []byte(s)
}

// CRAMString returns the response line of mech (CRAM-MD5 or CRAM-SHA1) to
// challenge, given base64 (as after "334 ") or raw (starting with "<").
func CRAMString(mech, user string, pass secret.Secret, challenge string) (string, error) {
	var h func() hash.Hash
	switch strings.ToUpper(mech) {
	case CRAMMD5:
		h = md5.New
	case CRAMSHA1:
		h = sha1.New
	default:
		return "", fmt.Errorf("auth: %q is not CRAM-MD5 or CRAM-SHA1", mech)
	}
	ch := DecodeChallenge(challenge)
	if len(ch) == 0 {
		return "", errors.New("auth: empty challenge")
	}
	return b64.EncodeToString(CRAMResponse(h, user, pass, ch)), nil
}

// DigestMD5Response returns the DIGEST-MD5 response line (RFC 2831, qop=auth,
// digest-uri "smtp/<host>") to the server's base64 challenge, and the
// rspauth the server must answer with when it knows the password (compare
// it with the decoded next challenge; then send an empty line).
func DigestMD5Response(user string, pass secret.Secret, challengeB64, host string) (line, rspauth string, err error) {
	resp, rspauth, err := digestResponse("", user, pass, "smtp", host, DecodeChallenge(challengeB64), randomCNonce())
	if err != nil {
		return "", "", err
	}
	return b64.EncodeToString(resp), rspauth, nil
}

// NTLMNegotiate returns the NTLM type 1 (NEGOTIATE) message in base64, the
// answer to the empty 334 after "AUTH NTLM". workstationDomain is the
// client machine's domain and is usually left empty (the user's domain goes
// in NTLMAuthenticate).
func NTLMNegotiate(workstationDomain string) (string, error) {
	msg, err := ntlmssp.NewNegotiateMessage(workstationDomain, "")
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(msg), nil
}

// NTLMAuthenticate returns the NTLM type 3 (AUTHENTICATE) message in base64
// from the server's type 2 (CHALLENGE) message in base64. The user may be
// `DOMAIN\user`, or the domain given apart (or empty).
func NTLMAuthenticate(user string, pass secret.Secret, domain, type2B64 string) (string, error) {
	ch := DecodeChallenge(type2B64)
	if ntlmType(ch) != 2 {
		return "", errors.New("auth: not an NTLM type 2 (CHALLENGE) message")
	}
	msg, err := ntlmssp.NewAuthenticateMessage(ch, ntlmUser(user, domain), pass.Reveal(), nil)
	if err != nil {
		return "", fmt.Errorf("auth: NTLM: %w", err)
	}
	return b64.EncodeToString(msg), nil
}

// XOAUTH2String returns the AUTH XOAUTH2 initial response:
// base64("user=USER^Aauth=Bearer TOKEN^A^A").
func XOAUTH2String(user string, token secret.Secret) string {
	_, ir, _ := NewXOAuth2Client(user, token).Start()
	return b64.EncodeToString(ir)
}

// OAuthBearerString returns the AUTH OAUTHBEARER initial response (RFC
// 7628) for the token, with the optional authorization identity, host and
// port.
func OAuthBearerString(authzid, host string, port int, token secret.Secret) string {
	_, ir, _ := NewOAuthBearerClient(authzid, host, port, token).Start()
	return b64.EncodeToString(ir)
}

// ExternalString returns the AUTH EXTERNAL initial response: the
// authorization identity in base64, or "=" for none.
func ExternalString(authzid string) string {
	if authzid == "" {
		return "="
	}
	return b64.EncodeToString([]byte(authzid))
}

// AnonymousString returns the AUTH ANONYMOUS initial response for the trace
// information, or "=" for none.
func AnonymousString(trace string) string {
	if trace == "" {
		return "="
	}
	return b64.EncodeToString([]byte(trace))
}
