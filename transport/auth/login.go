package auth

import (
	"bytes"
	"fmt"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// Login is the name of the LOGIN mechanism (draft-murchison-sasl-login).
const Login = "LOGIN"

type loginStep int

const (
	loginUser loginStep = iota + 1
	loginPass
)

type loginClient struct {
	username string
	password secret.Secret
	sent     []loginStep // what the response to challenge i+1 was
}

// NewLoginClient returns a LOGIN client. LOGIN sends no initial response;
// the server prompts for the user name and then for the password, and the
// client answers each prompt. The prompts are recognised by their text
// ("Username:", "Password:", any case, base64-decoded or in plain text as
// some servers send them); an unrecognised prompt is answered by position
// (first the user name, then the password). Like PLAIN, LOGIN carries the
// password in clear: send it only over TLS.
func NewLoginClient(username string, password secret.Secret) sasl.Client {
	return &loginClient{username: username, password: password}
}

func (c *loginClient) Start() (string, []byte, error) {
	c.sent = c.sent[:0]
	return Login, nil, nil
}

func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	prompt := bytes.ToLower(challenge)
	var step loginStep
	switch {
	case bytes.Contains(prompt, []byte("pass")):
		step = loginPass
	case bytes.Contains(prompt, []byte("user")), bytes.Contains(prompt, []byte("login")):
		step = loginUser
	case len(c.sent) == 0:
		step = loginUser
	case len(c.sent) == 1:
		step = loginPass
	default:
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	if len(c.sent) >= 2 {
		return nil, fmt.Errorf("%w (a third LOGIN prompt)", sasl.ErrUnexpectedServerChallenge)
	}
	c.sent = append(c.sent, step)
	if step == loginPass {
		return []byte(c.password.Reveal()), nil
	}
	return []byte(c.username), nil
}

// Describe implements [Describer]: prompts are shown decoded ("Username:"),
// answers as "username: alice" and "password: ********".
func (c *loginClient) Describe(step int, fromServer bool, data []byte) (string, bool) {
	if fromServer {
		return Printable(data), false
	}
	if step >= 1 && step <= len(c.sent) && c.sent[step-1] == loginUser {
		return "username: " + Printable(data), false
	}
	return "password: " + secret.Redacted, true
}
