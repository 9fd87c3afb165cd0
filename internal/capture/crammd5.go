package capture

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// cramServer is the server side of CRAM-MD5 (RFC 2195): the server sends a
// challenge shaped like a msg-id, the client answers
// "user SP hex(HMAC-MD5(password, challenge))".
type cramServer struct {
	db        userDB
	challenge []byte
	step      int
	user      string
}

func newCRAMServer(db userDB, challenge string) *cramServer {
	return &cramServer{db: db, challenge: []byte(challenge)}
}

func (c *cramServer) login() string { return c.user }

// Next implements sasl.Server.
func (c *cramServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch c.step {
	case 0:
		c.step = 1
		if response != nil {
			// CRAM-MD5 has no initial response (RFC 4954 §4).
			return nil, false, errMalformed
		}
		return c.challenge, false, nil
	case 1:
		c.step = 2
	default:
		return nil, false, sasl.ErrUnexpectedClientResponse
	}

	// The user name may itself contain spaces: the digest follows the last.
	i := bytes.LastIndexByte(response, ' ')
	if i <= 0 || !utf8.Valid(response[:i]) {
		return nil, false, errMalformed
	}
	user, digest := response[:i], response[i+1:]
	if !isLowerHex(digest, 32) {
		return nil, false, errMalformed
	}
	c.user = string(user)
	if !c.db.checkCRAM(c.user, c.challenge, digest) {
		return nil, false, errBadCredentials
	}
	return nil, true, nil
}

// isLowerHex reports whether b is n lowercase hexadecimal digits, the only
// form RFC 2195 allows for the digest.
func isLowerHex(b []byte, n int) bool {
	if len(b) != n {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// defaultChallenge returns a fresh RFC 2195 challenge for a server named
// domain: "<random.unixnano@domain>".
func defaultChallenge(domain string) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return fmt.Sprintf("<%d.%d@%s>", binary.BigEndian.Uint64(b[:])>>1, time.Now().UnixNano(), domain)
}
