package auth

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"hash"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// cramClient implements the CRAM family of RFC 2195: the response to the
// server's challenge is "username SP lowercase-hex(HMAC(password, challenge))".
type cramClient struct {
	mech     string
	hash     func() hash.Hash
	username string
	password secret.Secret
	answered bool
}

func (c *cramClient) Start() (string, []byte, error) {
	c.answered = false
	return c.mech, nil, nil
}

func (c *cramClient) Next(challenge []byte) ([]byte, error) {
	if c.answered {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	if len(challenge) == 0 {
		return nil, errors.New("empty challenge")
	}
	c.answered = true
	return CRAMResponse(c.hash, c.username, c.password, challenge), nil
}

// DigestMasked replaces the HMAC digest in the description of a CRAM
// response.
const DigestMasked = "<digest masked>"

// Describe implements [Describer]: the challenge is shown decoded and the
// response as "alice <digest masked>". The digest is not the password, but
// with the challenge beside it it allows an offline dictionary attack on the
// password, so the response counts as secret: its base64 on the wire is
// masked too.
func (c *cramClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	if fromServer {
		return Printable(data), false
	}
	i := bytes.LastIndexByte(data, ' ')
	if i < 0 {
		return DigestMasked, true
	}
	return Printable(data[:i]) + " " + DigestMasked, true
}

// CRAMResponse computes the RFC 2195 response to challenge with the given
// hash (md5.New for CRAM-MD5, sha1.New for CRAM-SHA1):
// "username SP hex(HMAC(password, challenge))".
func CRAMResponse(h func() hash.Hash, username string, password secret.Secret, challenge []byte) []byte {
	mac := hmac.New(h, []byte(password.Reveal()))
	mac.Write(challenge)
	sum := mac.Sum(nil)
	resp := make([]byte, 0, len(username)+1+hex.EncodedLen(len(sum)))
	resp = append(resp, username...)
	resp = append(resp, ' ')
	return hex.AppendEncode(resp, sum)
}
