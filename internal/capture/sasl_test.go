package capture

import (
	"encoding/base64"
	"errors"
	"testing"
)

// RFC 2195 §2's example exchange.
const (
	rfcUser      = "tim"
	rfcPassword  = "tanstaaftanstaaf"
	rfcChallenge = "<1896.697170952@postoffice.reston.mci.net>"
	rfcDigest    = "b913a602c7eda7a495b4e6e7334d3890"
	rfcResponse  = "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw" // base64("tim " + rfcDigest)
)

func TestCRAMDigestKnownAnswers(t *testing.T) {
	seedChallenge, err := base64.StdEncoding.DecodeString("PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg==")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		challenge            []byte
		wantBase64           string
	}{
		{"RFC 2195", rfcUser, rfcPassword, []byte(rfcChallenge), rfcResponse},
		{"seed 001", "postmaster@example.com", "pass", seedChallenge,
			"cG9zdG1hc3RlckBleGFtcGxlLmNvbSBjZWU4Mzk3YWIxMjNhMGQ0ZjNhN2ZkZGJiOWNiODcxOQ=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := base64.StdEncoding.EncodeToString([]byte(tt.user + " " + cramDigest(tt.password, tt.challenge)))
			if got != tt.wantBase64 {
				t.Errorf("response = %s, want %s", got, tt.wantBase64)
			}
		})
	}
	if d := cramDigest(rfcPassword, []byte(rfcChallenge)); d != rfcDigest {
		t.Errorf("digest = %s, want %s", d, rfcDigest)
	}
}

// step is one client response and what the mechanism must answer.
type step struct {
	resp      []byte // nil = no initial response
	challenge string // expected challenge when not done
	done      bool
	err       error // expected error (compared with errors.Is)
}

func runSteps(t *testing.T, m mechServer, steps []step) {
	t.Helper()
	for i, st := range steps {
		ch, done, err := m.Next(st.resp)
		if !errors.Is(err, st.err) {
			t.Fatalf("step %d: err = %v, want %v", i, err, st.err)
		}
		if err != nil {
			return
		}
		if done != st.done {
			t.Fatalf("step %d: done = %v, want %v", i, done, st.done)
		}
		if !done && string(ch) != st.challenge {
			t.Fatalf("step %d: challenge = %q, want %q", i, ch, st.challenge)
		}
	}
}

func TestMechanisms(t *testing.T) {
	users := userDB{rfcUser: rfcPassword}
	open := userDB(nil)
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name  string
		new   func(userDB) mechServer
		db    userDB
		steps []step
		login string
	}{
		// PLAIN
		{"plain ir ok", plainMech, users, []step{{resp: b("\x00tim\x00tanstaaftanstaaf"), done: true}}, "tim"},
		{"plain authz=authc ok", plainMech, users, []step{{resp: b("tim\x00tim\x00tanstaaftanstaaf"), done: true}}, "tim"},
		{"plain after empty challenge", plainMech, users, []step{{resp: nil, challenge: ""}, {resp: b("\x00tim\x00tanstaaftanstaaf"), done: true}}, "tim"},
		{"plain wrong password", plainMech, users, []step{{resp: b("\x00tim\x00wrong"), err: errBadCredentials}}, "tim"},
		{"plain unknown user", plainMech, users, []step{{resp: b("\x00bob\x00tanstaaftanstaaf"), err: errBadCredentials}}, "bob"},
		{"plain other authz", plainMech, users, []step{{resp: b("root\x00tim\x00tanstaaftanstaaf"), err: errBadCredentials}}, "tim"},
		{"plain two fields", plainMech, open, []step{{resp: b("tim\x00pw"), err: errMalformed}}, ""},
		{"plain empty password", plainMech, open, []step{{resp: b("\x00tim\x00"), err: errMalformed}}, ""},
		{"plain empty response", plainMech, open, []step{{resp: b(""), err: errMalformed}}, ""},
		{"plain open any", plainMech, open, []step{{resp: b("x\x00any\x00thing"), done: true}}, "any"},
		// LOGIN
		{"login ir ok", loginMech, users, []step{{resp: b("tim"), challenge: "Password:"}, {resp: b("tanstaaftanstaaf"), done: true}}, "tim"},
		{"login prompts", loginMech, users, []step{{resp: nil, challenge: "Username:"}, {resp: b("tim"), challenge: "Password:"}, {resp: b("tanstaaftanstaaf"), done: true}}, "tim"},
		{"login wrong password", loginMech, users, []step{{resp: b("tim"), challenge: "Password:"}, {resp: b("nope"), err: errBadCredentials}}, "tim"},
		{"login empty user", loginMech, open, []step{{resp: nil, challenge: "Username:"}, {resp: b(""), err: errMalformed}}, ""},
		{"login open any", loginMech, open, []step{{resp: b("who"), challenge: "Password:"}, {resp: b("ever"), done: true}}, "who"},
		// CRAM-MD5
		{"cram rfc 2195", cramMech, users, []step{{resp: nil, challenge: rfcChallenge}, {resp: b("tim " + rfcDigest), done: true}}, "tim"},
		{"cram wrong digest", cramMech, users, []step{{resp: nil, challenge: rfcChallenge}, {resp: b("tim " + rfcDigest[:31] + "1"), err: errBadCredentials}}, "tim"},
		{"cram unknown user", cramMech, users, []step{{resp: nil, challenge: rfcChallenge}, {resp: b("tom " + rfcDigest), err: errBadCredentials}}, "tom"},
		{"cram uppercase digest", cramMech, open, []step{{resp: nil, challenge: rfcChallenge}, {resp: b("tim B913A602C7EDA7A495B4E6E7334D3890"), err: errMalformed}}, ""},
		{"cram short digest", cramMech, open, []step{{resp: nil, challenge: rfcChallenge}, {resp: b("tim b913"), err: errMalformed}}, ""},
		{"cram no user", cramMech, open, []step{{resp: nil, challenge: rfcChallenge}, {resp: b(" " + rfcDigest), err: errMalformed}}, ""},
		{"cram initial response", cramMech, open, []step{{resp: b("tim"), err: errMalformed}}, ""},
		{"cram open any", cramMech, open, []step{{resp: nil, challenge: rfcChallenge}, {resp: b("a user 0123456789abcdef0123456789abcdef"), done: true}}, "a user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.new(tt.db)
			runSteps(t, m, tt.steps)
			if got := m.login(); got != tt.login {
				t.Errorf("login() = %q, want %q", got, tt.login)
			}
		})
	}
}

func plainMech(db userDB) mechServer { return newPlainServer(db) }
func loginMech(db userDB) mechServer { return newLoginServer(db) }
func cramMech(db userDB) mechServer  { return newCRAMServer(db, rfcChallenge) }
