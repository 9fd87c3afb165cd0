package capture

import (
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// The LOGIN prompts, sent base64-encoded as 334 challenges. go-sasl's LOGIN
// client insists on exactly "Password:".
var (
	loginUserPrompt     = []byte("Username:")
	loginPasswordPrompt = []byte("Password:")
)

// loginServer is the server side of the obsolete but ubiquitous LOGIN
// mechanism (draft-murchison-sasl-login): the user name, either as the
// initial response or after a "Username:" prompt, then the password after a
// "Password:" prompt.
type loginServer struct {
	db   userDB
	step int
	user string
}

func newLoginServer(db userDB) *loginServer { return &loginServer{db: db} }

func (l *loginServer) login() string { return l.user }

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return loginUserPrompt, false, nil
		}
		fallthrough // the initial response is the user name
	case 1:
		if len(response) == 0 || !utf8.Valid(response) {
			return nil, false, errMalformed
		}
		l.user = string(response)
		l.step = 2
		return loginPasswordPrompt, false, nil
	case 2:
		l.step = 3
		if len(response) == 0 || !utf8.Valid(response) {
			return nil, false, errMalformed
		}
		if !l.db.checkPassword(l.user, string(response)) {
			return nil, false, errBadCredentials
		}
		return nil, true, nil
	default:
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
}
