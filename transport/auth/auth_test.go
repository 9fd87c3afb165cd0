package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
)

// exchange runs c against the scripted base64 challenges and returns the
// base64 of the initial response (or "" when there is none) and of each
// response, as an SMTP client would put them on the wire.
func exchange(t *testing.T, c sasl.Client, challenges ...string) (string, string, []string) {
	t.Helper()
	mech, ir, err := c.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	irB64 := ""
	if ir != nil {
		irB64 = base64.StdEncoding.EncodeToString(ir)
	}
	var resps []string
	for _, ch := range challenges {
		raw, err := base64.StdEncoding.DecodeString(ch)
		if err != nil {
			t.Fatalf("bad test challenge %q: %v", ch, err)
		}
		resp, err := c.Next(raw)
		if err != nil {
			t.Fatalf("Next(%q): %v", raw, err)
		}
		resps = append(resps, base64.StdEncoding.EncodeToString(resp))
	}
	return mech, irB64, resps
}

// TestKnownAnswers reproduces the published exchanges of TESTING.md byte
// for byte.
func TestKnownAnswers(t *testing.T) {
	const rfc2195Challenge = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+" // <1896.697170952@postoffice.reston.mci.net>
	tests := []struct {
		name       string
		client     sasl.Client
		challenges []string
		wantMech   string
		wantIR     string
		wantResps  []string
	}{
		{
			name:       "CRAM-MD5 RFC 2195",
			client:     NewCRAMMD5Client("tim", secret.New("tanstaaftanstaaf")),
			challenges: []string{rfc2195Challenge},
			wantMech:   "CRAM-MD5",
			wantResps:  []string{"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"},
		},
		{
			name:       "CRAM-MD5 seed 001",
			client:     NewCRAMMD5Client("postmaster@example.com", secret.New("pass")),
			challenges: []string{"PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg=="},
			wantMech:   "CRAM-MD5",
			wantResps:  []string{"cG9zdG1hc3RlckBleGFtcGxlLmNvbSBjZWU4Mzk3YWIxMjNhMGQ0ZjNhN2ZkZGJiOWNiODcxOQ=="},
		},
		{
			name:       "CRAM-SHA1 on RFC 2195 inputs",
			client:     NewCRAMSHA1Client("tim", secret.New("tanstaaftanstaaf")),
			challenges: []string{rfc2195Challenge},
			wantMech:   "CRAM-SHA1",
			wantResps:  []string{base64.StdEncoding.EncodeToString([]byte("tim 8cb10ed0a8b764ab0e05125dd6eaa295f19b5943"))},
		},
		{
			name:     "PLAIN seed 001",
			client:   NewPlainClient("", "kenneth.burgener", secret.New("ImBB1999!")),
			wantMech: "PLAIN",
			wantIR:   "AGtlbm5ldGguYnVyZ2VuZXIASW1CQjE5OTkh",
		},
		{
			name:       "LOGIN seed 001",
			client:     NewLoginClient("kenneth.burgener", secret.New("ImBB1999!")),
			challenges: []string{"VXNlcm5hbWU6", "UGFzc3dvcmQ6"},
			wantMech:   "LOGIN",
			wantResps:  []string{"a2VubmV0aC5idXJnZW5lcg==", "SW1CQjE5OTkh"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mech, ir, resps := exchange(t, tt.client, tt.challenges...)
			if mech != tt.wantMech {
				t.Errorf("mechanism = %q, want %q", mech, tt.wantMech)
			}
			if ir != tt.wantIR {
				t.Errorf("initial response = %q, want %q", ir, tt.wantIR)
			}
			if strings.Join(resps, "\n") != strings.Join(tt.wantResps, "\n") {
				t.Errorf("responses = %q, want %q", resps, tt.wantResps)
			}
		})
	}
}

// TestLoginPrompts covers servers that prompt in plain text, in another
// case, in the other order, or with prompts LOGIN cannot recognise.
func TestLoginPrompts(t *testing.T) {
	tests := []struct {
		name    string
		prompts []string
		want    []string
	}{
		{"base64-decoded", []string{"Username:", "Password:"}, []string{"alice", "s3cret"}},
		{"lower case", []string{"username:", "password:"}, []string{"alice", "s3cret"}},
		{"other words", []string{"User Name", "Pass phrase"}, []string{"alice", "s3cret"}},
		{"unknown prompts, by position", []string{"", "?"}, []string{"alice", "s3cret"}},
		{"password asked first", []string{"Password:", "Username:"}, []string{"s3cret", "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewLoginClient("alice", secret.New("s3cret"))
			if _, ir, _ := c.Start(); ir != nil {
				t.Fatalf("LOGIN sent an initial response %q", ir)
			}
			for i, p := range tt.prompts {
				resp, err := c.Next([]byte(p))
				if err != nil {
					t.Fatalf("Next(%q): %v", p, err)
				}
				if string(resp) != tt.want[i] {
					t.Errorf("answer to %q = %q, want %q", p, resp, tt.want[i])
				}
			}
			if _, err := c.Next([]byte("Password:")); err == nil {
				t.Error("a third prompt was answered")
			}
		})
	}
}

func TestUnexpectedChallenges(t *testing.T) {
	p := NewPlainClient("", "alice", secret.New("s3cret"))
	p.Start()
	if _, err := p.Next([]byte("more?")); !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
		t.Errorf("PLAIN Next: err = %v", err)
	}
	c := NewCRAMMD5Client("alice", secret.New("s3cret"))
	c.Start()
	if _, err := c.Next(nil); err == nil {
		t.Error("CRAM-MD5 answered an empty challenge")
	}
	if _, err := c.Next([]byte("<1@x>")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next([]byte("<2@x>")); err == nil {
		t.Error("CRAM-MD5 answered a second challenge")
	}
}

func TestDescribe(t *testing.T) {
	pass := secret.New("s3cret")
	type step struct {
		n          int
		fromServer bool
		data       string
		want       string
		hasSecret  bool
	}
	tests := []struct {
		name   string
		client sasl.Client
		steps  []step
	}{
		{"PLAIN", NewPlainClient("", "alice", pass), []step{
			{0, false, "\x00alice\x00s3cret", `\0alice\0********`, true},
			{0, false, "garbage", "********", true},
		}},
		{"PLAIN with identity", NewPlainClient("bob", "alice", pass), []step{
			{0, false, "bob\x00alice\x00s3cret", `bob\0alice\0********`, true},
		}},
		{"LOGIN", NewLoginClient("alice", pass), []step{
			{1, true, "Username:", "Username:", false},
			{1, false, "alice", "username: alice", false},
			{2, true, "Password:", "Password:", false},
			{2, false, "s3cret", "password: ********", true},
			{3, false, "anything", "password: ********", true},
		}},
		{"CRAM-MD5", NewCRAMMD5Client("tim", secret.New("tanstaaftanstaaf")), []step{
			{1, true, "<1896.697170952@postoffice.reston.mci.net>", "<1896.697170952@postoffice.reston.mci.net>", false},
			{1, false, "tim b913a602c7eda7a495b4e6e7334d3890", "tim <digest masked>", true},
		}},
		{"CRAM-SHA1", NewCRAMSHA1Client("tim", secret.New("tanstaaftanstaaf")), []step{
			{1, true, "<1896.697170952@postoffice.reston.mci.net>", "<1896.697170952@postoffice.reston.mci.net>", false},
			{1, false, "tim b913a602c7eda7a495b4e6e7334d3890b913a602", "tim <digest masked>", true},
			{1, false, "b913a602c7eda7a495b4e6e7334d3890", "<digest masked>", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := tt.client.(Describer)
			if !ok {
				t.Fatal("not a Describer")
			}
			tt.client.Start()
			for _, s := range tt.steps {
				if s.fromServer {
					// Describe the client step after Next, as the transport does.
					tt.client.Next([]byte(s.data))
				}
				got, hasSecret := d.Describe(s.n, s.fromServer, []byte(s.data))
				if got != s.want || hasSecret != s.hasSecret {
					t.Errorf("Describe(%d, %v, %q) = %q, %v; want %q, %v", s.n, s.fromServer, s.data, got, hasSecret, s.want, s.hasSecret)
				}
				if strings.Contains(got, "s3cret") {
					t.Errorf("description %q shows the password", got)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	pass := secret.New("s3cret")
	for _, name := range []string{"plain", "PLAIN", "Login", "cram-md5", "CRAM-SHA1"} {
		c, err := New(name, "alice", pass)
		if err != nil {
			t.Errorf("New(%q): %v", name, err)
			continue
		}
		mech, _, _ := c.Start()
		if mech != strings.ToUpper(name) {
			t.Errorf("New(%q) started %q", name, mech)
		}
		if _, ok := c.(Describer); !ok {
			t.Errorf("New(%q) is not a Describer", name)
		}
	}
	for _, tt := range []struct{ mech, user, pass, wantErr string }{
		{"XOAUTH3", "alice", "x", "unknown mechanism"},
		{"PLAIN", "", "x", "needs a user name"},
		{"LOGIN", "alice", "", "needs a password"},
	} {
		_, err := New(tt.mech, tt.user, secret.New(tt.pass))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("New(%q, %q, ...) error = %v, want %q", tt.mech, tt.user, err, tt.wantErr)
		}
	}
	if got := strings.Join(Mechanisms(), " "); got != "ANONYMOUS CRAM-MD5 CRAM-SHA1 DIGEST-MD5 EXTERNAL LOGIN NTLM OAUTHBEARER PLAIN SCRAM-SHA-1 SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-256-PLUS XOAUTH2" {
		t.Errorf("Mechanisms() = %q", got)
	}
}

func TestCleartext(t *testing.T) {
	for mech, want := range map[string]bool{"PLAIN": true, "login": true, "CRAM-MD5": false, "cram-sha1": false, "XOAUTH2": true} {
		if got := Cleartext(mech); got != want {
			t.Errorf("Cleartext(%q) = %v, want %v", mech, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	got := Printable([]byte("\x00a\x01é\xff\x7f"))
	if want := `\0a\x01é\xff\x7f`; got != want {
		t.Errorf("Printable = %q, want %q", got, want)
	}
	if !bytes.Equal([]byte(Printable([]byte("plain text"))), []byte("plain text")) {
		t.Error("Printable changed plain text")
	}
}
