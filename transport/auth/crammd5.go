package auth

import (
	"crypto/md5"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// CRAMMD5 is the name of the CRAM-MD5 mechanism (RFC 2195).
const CRAMMD5 = "CRAM-MD5"

// NewCRAMMD5Client returns a CRAM-MD5 client (RFC 2195). The password never
// crosses the wire, only an HMAC-MD5 of the server's challenge keyed with it;
// the server must however store the password in a recoverable form.
func NewCRAMMD5Client(username string, password secret.Secret) sasl.Client {
	return &cramClient{mech: CRAMMD5, hash: md5.New, username: username, password: password}
}
