package capture

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The SASL mechanisms the server offers, in the order it advertises them.
const (
	MechPlain   = "PLAIN"    // RFC 4616
	MechLogin   = "LOGIN"    // draft-murchison-sasl-login
	MechCRAMMD5 = "CRAM-MD5" // RFC 2195
)

// mechanisms is the AUTH advertisement.
var mechanisms = []string{MechPlain, MechLogin, MechCRAMMD5}

// Replies of the authentication exchange. go-smtp writes an *smtp.SMTPError
// returned from a SASL step as is.
var (
	// errBadCredentials is RFC 4954's reply to wrong credentials.
	errBadCredentials = &smtp.SMTPError{
		Code:         535,
		EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message:      "Authentication credentials invalid",
	}
	// errMalformed answers a response that does not follow the mechanism's
	// syntax (RFC 4954 uses 501 for responses it cannot decode).
	errMalformed = &smtp.SMTPError{
		Code:         501,
		EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message:      "Malformed authentication response",
	}
	// errEncryptionRequired refuses AUTH before STARTTLS (RFC 4954 §6).
	errEncryptionRequired = &smtp.SMTPError{
		Code:         538,
		EnhancedCode: smtp.EnhancedCode{5, 7, 11},
		Message:      "Encryption required for requested authentication mechanism",
	}
)

// mechServer is a server-side SASL mechanism that can tell which login the
// client claimed, for the log.
type mechServer interface {
	sasl.Server
	// login returns the authentication identity the client sent so far, or
	// "" if it has not sent one yet.
	login() string
}

// userDB checks credentials. An empty userDB accepts any credentials.
type userDB map[string]string

// open reports whether any credentials are accepted.
func (db userDB) open() bool { return len(db) == 0 }

// checkPassword reports whether user may log in with password.
func (db userDB) checkPassword(user, password string) bool {
	if db.open() {
		return true
	}
	want, ok := db[user]
	eq := subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
	return ok && eq
}

// checkCRAM reports whether digest is HMAC-MD5(password of user, challenge)
// in lowercase hex (RFC 2195).
func (db userDB) checkCRAM(user string, challenge, digest []byte) bool {
	if db.open() {
		return true
	}
	want, ok := db[user]
	return ok && hmac.Equal(digest, []byte(cramDigest(want, challenge)))
}

// cramDigest returns the RFC 2195 digest of challenge keyed with password, in
// lowercase hex.
func cramDigest(password string, challenge []byte) string {
	mac := hmac.New(md5.New, []byte(password))
	mac.Write(challenge)
	return hex.EncodeToString(mac.Sum(nil))
}
