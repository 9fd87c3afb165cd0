package capture

import (
	"bytes"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// plainServer is the server side of PLAIN (RFC 4616): one message
// authzid NUL authcid NUL passwd, sent as the initial response or after an
// empty challenge.
type plainServer struct {
	db    userDB
	step  int
	authc string
}

func newPlainServer(db userDB) *plainServer { return &plainServer{db: db} }

func (p *plainServer) login() string { return p.authc }

// Next implements sasl.Server.
func (p *plainServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch p.step {
	case 0:
		p.step = 1
		if response == nil {
			// No initial response: ask for it with an empty challenge.
			return []byte{}, false, nil
		}
	case 1:
	default:
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
	p.step = 2

	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 || !utf8.Valid(response) {
		return nil, false, errMalformed
	}
	authz, authc, passwd := string(parts[0]), string(parts[1]), string(parts[2])
	// RFC 4616 §2: authcid and passwd are 1*SAFE.
	if authc == "" || passwd == "" {
		return nil, false, errMalformed
	}
	p.authc = authc
	// Acting as another user is not supported: the authorization identity
	// must be empty or the login itself (unless anything goes).
	if !p.db.open() && authz != "" && authz != authc {
		return nil, false, errBadCredentials
	}
	if !p.db.checkPassword(authc, passwd) {
		return nil, false, errBadCredentials
	}
	return nil, true, nil
}
