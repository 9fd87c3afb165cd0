package transport

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/transport/auth"
)

// TestTranscriptSTARTTLSLogin is a golden transcript: clear and TLS
// markers, the TLS note, LOGIN with plain-text and base64 prompts decoded
// and the password masked, the body elided after the headers.
func TestTranscriptSTARTTLSLogin(t *testing.T) {
	_, pool := testCert()
	s := newScriptServer(t, loopbackAddr, greeting+`
		S: 250-mx.example.test
		S: 250 STARTTLS
		C: STARTTLS
		S: 220 2.0.0 Ready to start TLS
		TLS
		C: EHLO client.example
		S: 250-mx.example.test
		S: 250 AUTH LOGIN
		C: AUTH LOGIN
		S: 334 Username:
		C: YWxpY2U=
		S: 334 UGFzc3dvcmQ6
		C: czNjcmV0LVBhNTU=
		S: 235 2.7.0 Authentication successful
		C: MAIL FROM:<alice@example.com>
		S: 250 2.1.0 Ok
		C: RCPT TO:<bob@example.com>
		S: 250 2.1.5 Ok
		C: DATA
		S: 354 End data with <CR><LF>.<CR><LF>
		C: From: alice@example.com
		C: Subject: hi
		C:
		C: Hello Bob,
		C: bye
		C: .
		S: 250 2.0.0 Ok: queued as 8E2FD52095
		C: QUIT
		S: 221 2.0.0 Bye`)
	s.tcp = true
	var tr bytes.Buffer
	cfg := scriptConfig(s)
	cfg.Endpoint = Endpoint{Scheme: "smtp", Host: "mx.example.test", Port: "587", TLS: TLSStartTLS}
	cfg.TLS = ""
	cfg.RootCAs = pool
	cfg.Mechanism, cfg.Username, cfg.Password = "LOGIN", "alice", secret.New("s3cret-Pa55")
	cfg.Transcript = &tr
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := c.TLSState(); !ok || st.ServerName != "mx.example.test" {
		t.Errorf("TLSState = %v, %v; want ServerName mx.example.test", st.ServerName, ok)
	}
	msg := "From: alice@example.com\r\nSubject: hi\r\n\r\nHello Bob,\r\nbye\r\n"
	if _, err := c.Send(context.Background(), "alice@example.com", []string{"bob@example.com"}, strings.NewReader(msg)); err != nil {
		s.wait()
		t.Fatalf("%v; server: %v\ntranscript:\n%s", err, s.errs, tr.String())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s.check()

	want := `=== Trying mx.example.test:587...
=== Connected to 127.0.0.1:25
<- 220 mx.example.test ESMTP
-> EHLO client.example
<- 250-mx.example.test
<- 250 STARTTLS
-> STARTTLS
<- 220 2.0.0 Ready to start TLS
=== TLS started with TLSv1.3, cipher CIPHER, peer CN=mx.example.test, issuer CN=mx.example.test, expires 2099-01-02T03:04:05Z
~> EHLO client.example
<~ 250-mx.example.test
<~ 250 AUTH LOGIN
~> AUTH LOGIN
<~ 334 Username:
## Username:
~> YWxpY2U=
## username: alice
<~ 334 UGFzc3dvcmQ6
## Password:
~> ********
## password: ********
<~ 235 2.7.0 Authentication successful
~> MAIL FROM:<alice@example.com>
<~ 250 2.1.0 Ok
~> RCPT TO:<bob@example.com>
<~ 250 2.1.5 Ok
~> DATA
<~ 354 End data with <CR><LF>.<CR><LF>
~> From: alice@example.com
~> Subject: hi
~>
~> [... 2 body lines elided ...]
~> .
<~ 250 2.0.0 Ok: queued as 8E2FD52095
~> QUIT
<~ 221 2.0.0 Bye
=== Connection closed
`
	got := regexp.MustCompile(`cipher TLS_[A-Z0-9_]+`).ReplaceAllString(tr.String(), "cipher CIPHER")
	if got != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, want)
	}
	assertNoSecret(t, "transcript", tr.String(), "alice", "s3cret-Pa55")
}

// TestTranscriptSASL checks the decoded lines of PLAIN and CRAM-MD5.
func TestTranscriptSASL(t *testing.T) {
	tests := []struct {
		mech, user, pass string
		script           string
		want             string
	}{
		{
			mech: "PLAIN", user: "alice", pass: "s3cret",
			script: `
				C: AUTH PLAIN AGFsaWNlAHMzY3JldA==
				S: 235 2.7.0 Authentication successful`,
			want: `-> AUTH PLAIN ********
## \0alice\0********
<- 235 2.7.0 Authentication successful
`,
		},
		{
			mech: "CRAM-MD5", user: "tim", pass: "tanstaaftanstaaf",
			script: `
				C: AUTH CRAM-MD5
				S: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+
				C: dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw
				S: 235 Authentication successful`,
			want: `-> AUTH CRAM-MD5
<- 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+
## <1896.697170952@postoffice.reston.mci.net>
-> ********
## tim <digest masked>
<- 235 Authentication successful
`,
		},
		{
			mech: "CRAM-MD5", user: "postmaster@example.com", pass: "pass",
			script: `
				C: AUTH CRAM-MD5
				S: 334 PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg==
				C: cG9zdG1hc3RlckBleGFtcGxlLmNvbSBjZWU4Mzk3YWIxMjNhMGQ0ZjNhN2ZkZGJiOWNiODcxOQ==
				S: 235 ok, go ahead (#2.0.0)`,
			want: `-> AUTH CRAM-MD5
<- 334 PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg==
## <20137.1267585100@indimail.org>
-> ********
## postmaster@example.com <digest masked>
<- 235 ok, go ahead (#2.0.0)
`,
		},
		{
			// The mechanism fails (a third LOGIN prompt): "*" cancels the
			// exchange and the connection stays usable for QUIT.
			mech: "LOGIN", user: "alice", pass: "s3cret",
			script: `
				C: AUTH LOGIN
				S: 334 VXNlcm5hbWU6
				C: YWxpY2U=
				S: 334 UGFzc3dvcmQ6
				C: czNjcmV0
				S: 334 UGFzc3dvcmQ6
				C: *
				S: 501 5.7.0 Authentication aborted`,
			want: `-> AUTH LOGIN
<- 334 VXNlcm5hbWU6
## Username:
-> YWxpY2U=
## username: alice
<- 334 UGFzc3dvcmQ6
## Password:
-> ********
## password: ********
<- 334 UGFzc3dvcmQ6
## Password:
-> *
<- 501 5.7.0 Authentication aborted
*** auth: LOGIN: sasl: unexpected server challenge (a third LOGIN prompt)
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.mech+"/"+tt.user, func(t *testing.T) {
			s := newScriptServer(t, loopbackAddr, greeting+`
				S: 250-mx.example.test
				S: 250 AUTH PLAIN LOGIN CRAM-MD5`+tt.script+`
				C: QUIT
				S: 221 Bye`)
			var tr bytes.Buffer
			cfg := scriptConfig(s)
			cfg.Mechanism, cfg.Username, cfg.Password = tt.mech, tt.user, secret.New(tt.pass)
			cfg.Transcript = &tr
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
			}
			s.check()
			got := tr.String()
			start := strings.Index(got, "-> AUTH")
			end := strings.Index(got, "-> QUIT")
			if start < 0 || end < 0 {
				t.Fatalf("transcript:\n%s", got)
			}
			if got[start:end] != tt.want {
				t.Errorf("transcript:\n%s\nwant:\n%s", got[start:end], tt.want)
			}
			assertNoSecret(t, "transcript", got, tt.user, tt.pass)
			// No CRAM digest, in hex or as the base64 line.
			for _, digest := range []string{"b913a602c7eda7a495b4e6e7334d3890", "dGltIGI5MTNh", "cee8397ab123a0d4f3a7fddbb9cb8719", "cG9zdG1hc3RlckBleGFtcGxlLmNvbSBjZWU4"} {
				if strings.Contains(got, digest) {
					t.Errorf("transcript shows the CRAM digest %q:\n%s", digest, got)
				}
			}
		})
	}
}

// TestTranscriptShortPassword: a password under 4 bytes is too short for
// the scrubber's own needles, but a server that echoes the AUTH payload
// (or its CRAM response) back must still not show it in the transcript or
// in the error.
func TestTranscriptShortPassword(t *testing.T) {
	tests := []struct {
		name, mech, pass string
		script           string
		echoed           []string // wire forms the server echoes
	}{
		{
			name: "PLAIN initial response", mech: "PLAIN", pass: "abc",
			script: `
				C: AUTH PLAIN AGFsaWNlAGFiYw==
				S: 535 5.7.8 Bad credentials for AGFsaWNlAGFiYw== (AGFsaWNlAGFiYw)`,
			echoed: []string{"AGFsaWNlAGFiYw==", "AGFsaWNlAGFiYw"},
		},
		{
			name: "CRAM-MD5 response", mech: "CRAM-MD5", pass: "abc",
			script: `
				C: AUTH CRAM-MD5
				S: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+
				C: ` + base64.StdEncoding.EncodeToString(auth.CRAMResponse(md5.New, "alice", secret.New("abc"), []byte("<1896.697170952@postoffice.reston.mci.net>"))) + `
				S: 535 5.7.8 Bad response ` + base64.StdEncoding.EncodeToString(auth.CRAMResponse(md5.New, "alice", secret.New("abc"), []byte("<1896.697170952@postoffice.reston.mci.net>"))),
			echoed: []string{base64.StdEncoding.EncodeToString(auth.CRAMResponse(md5.New, "alice", secret.New("abc"), []byte("<1896.697170952@postoffice.reston.mci.net>")))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, loopbackAddr, greeting+`
				S: 250-mx.example.test
				S: 250 AUTH PLAIN LOGIN CRAM-MD5`+tt.script+`
				C: QUIT
				S: 221 Bye`)
			var tr bytes.Buffer
			cfg := scriptConfig(s)
			cfg.Mechanism, cfg.Username, cfg.Password = tt.mech, "alice", secret.New(tt.pass)
			cfg.Transcript = &tr
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			s.check()
			for _, text := range []string{tr.String(), err.Error(), fmt.Sprintf("%+v", err)} {
				for _, e := range tt.echoed {
					if strings.Contains(text, e) {
						t.Errorf("output shows the wire form %q:\n%s", e, text)
					}
				}
			}
			if !strings.Contains(tr.String(), "<- 535 5.7.8 ") {
				t.Errorf("transcript lacks the reply:\n%s", tr.String())
			}
		})
	}
}
