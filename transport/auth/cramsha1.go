package auth

import (
	"crypto/sha1"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// CRAMSHA1 is the name of the CRAM-SHA1 mechanism: RFC 2195 with HMAC-SHA1.
const CRAMSHA1 = "CRAM-SHA1"

// NewCRAMSHA1Client returns a CRAM-SHA1 client: CRAM-MD5 (RFC 2195) with
// HMAC-SHA1 in place of HMAC-MD5.
func NewCRAMSHA1Client(username string, password secret.Secret) sasl.Client {
	return &cramClient{mech: CRAMSHA1, hash: sha1.New, username: username, password: password}
}
