package auth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/Azure/go-ntlmssp"
	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// NTLM is the name of the NTLM mechanism (MS-NLMP; in SMTP, MS-SMTPNTLM).
const NTLM = "NTLM"

var ntlmSignature = []byte("NTLMSSP\x00")

type ntlmClient struct {
	username string // `DOMAIN\user`, or user alone
	password secret.Secret
	step     int // messages sent
}

// NewNTLMClient returns an NTLM client (NTLMv2 only; MS-NLMP) with
// github.com/Azure/go-ntlmssp. The user may be given as `DOMAIN\user`, or
// the domain apart (it may be empty). The exchange is AUTH NTLM, an empty
// 334 answered with the NEGOTIATE message (type 1), the server's CHALLENGE
// (type 2), answered with the AUTHENTICATE message (type 3).
func NewNTLMClient(username string, password secret.Secret, domain string) sasl.Client {
	return &ntlmClient{username: ntlmUser(username, domain), password: password}
}

func ntlmUser(username, domain string) string {
	if domain != "" && !strings.Contains(username, `\`) {
		return domain + `\` + username
	}
	return username
}

func (c *ntlmClient) Start() (string, []byte, error) {
	c.step = 0
	return NTLM, nil, nil
}

func (c *ntlmClient) Next(challenge []byte) ([]byte, error) {
	switch {
	case c.step == 0 && len(challenge) == 0:
		c.step = 1
		return ntlmssp.NewNegotiateMessage("", "")
	case c.step <= 1 && len(challenge) > 0:
		if ntlmType(challenge) != 2 {
			return nil, errors.New("NTLM: the server's challenge is not a type 2 (CHALLENGE) message")
		}
		c.step = 2
		msg, err := ntlmssp.NewAuthenticateMessage(challenge, c.username, c.password.Reveal(), nil)
		if err != nil {
			return nil, fmt.Errorf("NTLM: %w", err)
		}
		return msg, nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// ntlmType returns the message type of an NTLMSSP message, 0 when data is
// not one.
func ntlmType(data []byte) uint32 {
	if len(data) < 12 || !bytes.Equal(data[:8], ntlmSignature) {
		return 0
	}
	return binary.LittleEndian.Uint32(data[8:12])
}

// ntlmField returns the payload of the security buffer at offset off of
// an NTLMSSP message (MS-NLMP §2.2.1: Len uint16, MaxLen uint16, Offset
// uint32).
func ntlmField(msg []byte, off int) ([]byte, bool) {
	if len(msg) < off+8 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint16(msg[off:]))
	at := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if at < 0 || at+n > len(msg) {
		return nil, false
	}
	return msg[at : at+n], true
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Describe implements [Describer]: each message by its type; the
// AUTHENTICATE message with its domain and user name and the responses
// masked (an NTLMv2 response allows an offline guess of the password, so
// that line counts as secret).
func (c *ntlmClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	switch ntlmType(data) {
	case 1:
		return "NTLM type 1 (NEGOTIATE)", false
	case 2:
		s := "NTLM type 2 (CHALLENGE)"
		if len(data) >= 32 {
			s += fmt.Sprintf(", server challenge %x", data[24:32])
		}
		if t, ok := ntlmField(data, 12); ok && len(t) > 0 {
			s += ", target " + Printable([]byte(utf16le(t)))
		}
		return s, false
	case 3:
		s := "NTLM type 3 (AUTHENTICATE)"
		dom, _ := ntlmField(data, 28)
		user, _ := ntlmField(data, 36)
		s += fmt.Sprintf(", user %s\\%s, response %s", Printable([]byte(utf16le(dom))), Printable([]byte(utf16le(user))), DigestMasked)
		return s, true
	}
	if fromServer {
		return Printable(data), false
	}
	return secret.Redacted, true
}
