package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailscript/mailscript/internal/secret"
)

const greeting = `
	S: 220 mx.example.test ESMTP
	C: EHLO client.example
`

// scriptConfig is a Config that dials s, with TLS off and a fixed EHLO name.
func scriptConfig(s *scriptServer) Config {
	return Config{
		Endpoint:  Endpoint{Scheme: "smtp", Host: "mx.example.test", Port: "25", TLS: TLSNone},
		LocalName: "client.example",
		Timeout:   5 * time.Second,
		dial:      s.dial,
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *transport.Error", err, err)
	}
	return e
}

func TestSendExactBytes(t *testing.T) {
	msg := "Subject: hi\r\n\r\n.leading dot\r\nbare lf line\nlast line without newline"
	s := newScriptServer(t, loopbackAddr, greeting+`
		S: 250-mx.example.test
		S: 250-PIPELINING
		S: 250-SIZE 10240000
		S: 250 8BITMIME
		C: MAIL FROM:<alice@example.com> SIZE=70
		S: 250 2.1.0 Ok
		C: RCPT TO:<bob@example.com>
		S: 250 2.1.5 Ok
		C: RCPT TO:<carol@example.com>
		S: 251 2.1.5 Ok, will forward
		C: DATA
		S: 354 End data with <CR><LF>.<CR><LF>
		C: Subject: hi
		C:
		C: ..leading dot
		C: bare lf line
		C: last line without newline
		C: .
		S: 250 2.0.0 Ok: queued as 8E2FD52095
		C: QUIT
		S: 221 2.0.0 Bye
	`)
	c, err := Dial(context.Background(), scriptConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	// A plain reader (not a Seeker) is scanned by reading ahead.
	reply, err := c.Send(context.Background(), "alice@example.com", []string{"bob@example.com", "carol@example.com"}, io.MultiReader(strings.NewReader(msg)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reply.String(), "250 2.0.0 Ok: queued as 8E2FD52095"; got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
	if reply.Code != 250 || reply.Enhanced != "2.0.0" || reply.Text != "Ok: queued as 8E2FD52095" {
		t.Errorf("reply = %+v", reply)
	}
	if _, ok := c.TLSState(); ok {
		t.Error("TLSState reports TLS on a clear connection")
	}
	if p, ok := c.Extension("size"); !ok || p != "10240000" {
		t.Errorf("Extension(size) = %q, %v", p, ok)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s.check()
}

func TestSendMailParameters(t *testing.T) {
	tests := []struct {
		name     string
		ehlo     string // extension lines after the first
		from, to string
		msg      string
		wantMail string // "" = Send must fail before MAIL
		wantErr  error
	}{
		{"7-bit, 8BITMIME offered: no BODY", "8BITMIME", "a@x", "b@y", "Subject: x\r\n\r\nhi\r\n", "MAIL FROM:<a@x>", nil},
		{"8-bit, 8BITMIME offered", "8BITMIME", "a@x", "b@y", "Subject: x\r\n\r\nh\xc3\xa9\r\n", "MAIL FROM:<a@x> BODY=8BITMIME", nil},
		// RFC 6152 §3: no 8-bit data to a server without 8BITMIME.
		{"8-bit body, not offered", "PIPELINING", "a@x", "b@y", "Subject: x\r\n\r\nh\xc3\xa9\r\n", "", ErrNo8BitMIME},
		{"8-bit header, not offered", "SIZE 0", "a@x", "b@y", "Subject: caf\xc3\xa9\r\n\r\nhi\r\n", "", ErrNo8BitMIME},
		{"7-bit, not offered", "PIPELINING", "a@x", "b@y", "Subject: x\r\n\r\nhi\r\n", "MAIL FROM:<a@x>", nil},
		{"SIZE declared", "SIZE 0", "a@x", "b@y", "Subject: x\r\n\r\nhi\r\n", "MAIL FROM:<a@x> SIZE=18", nil},
		{"SIZE over the limit", "SIZE 10", "a@x", "b@y", "Subject: x\r\n\r\nhi\r\n", "", ErrTooBig},
		{"UTF-8 address, SMTPUTF8 offered", "SMTPUTF8", "a@x", "bé@y", "Subject: x\r\n\r\nhi\r\n", "MAIL FROM:<a@x> SMTPUTF8", nil},
		{"UTF-8 address, no SMTPUTF8", "8BITMIME", "a@x", "bé@y", "Subject: x\r\n\r\nhi\r\n", "", ErrSMTPUTF8},
		{"null reverse path", "8BITMIME", "", "b@y", "Subject: x\r\n\r\nhi\r\n", "MAIL FROM:<>", nil},
		{"bare CR refused before MAIL", "8BITMIME", "a@x", "b@y", "Subject: x\r\n\r\nh\ri\r\n", "", ErrBareCR},
		{"bare CR at the end", "8BITMIME", "a@x", "b@y", "Subject: x\r\n\r\nhi\r", "", ErrBareCR},
		{"CR CR LF", "8BITMIME", "a@x", "b@y", "Subject: x\r\n\r\nhi\r\r\n", "", ErrBareCR},
		{"line too long", "8BITMIME", "a@x", "b@y", "Subject: x\r\n\r\n" + strings.Repeat("x", 999) + "\r\n", "", ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := greeting + "S: 250-mx.example.test\nS: 250 " + tt.ehlo + "\n"
			if tt.wantMail != "" {
				script += "C: " + tt.wantMail + "\nS: 250 2.1.0 Ok\nC: RCPT TO:<" + tt.to + ">\nS: 250 2.1.5 Ok\nC: DATA\nS: 354 go\n"
				// The server never answers the dot: Send ends with the context.
				script += "C: Subject: x\nC:\nDRAIN\n"
			} else {
				script += "C: QUIT\nS: 221 Bye\n"
			}
			s := newScriptServer(t, loopbackAddr, script)
			c, err := Dial(context.Background(), scriptConfig(s))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err = c.Send(ctx, tt.from, []string{tt.to}, strings.NewReader(tt.msg))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Send error = %v, want %v", err, tt.wantErr)
				}
				if e := asError(t, err); e.Temporary() {
					t.Errorf("%v is temporary", err)
				} else if e.Stage != StageMail && tt.wantErr == ErrNo8BitMIME {
					t.Errorf("%v at stage %s, want mail", err, e.Stage)
				}
			}
			c.Close()
			s.check()
		})
	}
}

func TestDialFailures(t *testing.T) {
	pass := secret.New("s3cret-Pa55")
	tests := []struct {
		name      string
		remote    net.Addr
		mode      TLSMode
		mech      string
		insecure  bool
		script    string
		wantStage Stage
		wantErr   error  // errors.Is
		wantText  string // in Error()
		temporary bool
		authFail  bool
	}{
		{
			name: "STARTTLS required but not offered: nothing sent but EHLO and QUIT",
			mode: TLSStartTLS, mech: "PLAIN", remote: remoteAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 AUTH PLAIN LOGIN
				C: QUIT
				S: 221 Bye`,
			wantStage: StageStartTLS, wantErr: ErrNoStartTLS, wantText: "starttls: server does not offer STARTTLS",
		},
		{
			name: "mechanism not offered: lists the offered ones from AUTH and AUTH= lines",
			mode: TLSNone, mech: "cram-md5", remote: loopbackAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250-AUTH PLAIN LOGIN
				S: 250-AUTH=LOGIN XOAUTH2
				S: 250 8BITMIME
				C: QUIT
				S: 221 Bye`,
			wantStage: StageAuth, wantText: "auth: server does not offer AUTH CRAM-MD5 (it offers PLAIN, LOGIN, XOAUTH2)",
		},
		{
			name: "no AUTH at all",
			mode: TLSNone, mech: "PLAIN", remote: loopbackAddr,
			script: greeting + `
				S: 250 mx.example.test
				C: QUIT
				S: 221 Bye`,
			wantStage: StageAuth, wantText: "auth: server does not offer AUTH (wanted PLAIN)",
		},
		{
			name: "cleartext AUTH to a remote host refused",
			mode: TLSNone, mech: "PLAIN", remote: remoteAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 AUTH PLAIN
				C: QUIT
				S: 221 Bye`,
			wantStage: StageAuth, wantErr: ErrInsecureAuth,
		},
		{
			name: "cleartext CRAM-MD5 to a remote host refused too",
			mode: TLSNone, mech: "CRAM-MD5", remote: remoteAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 AUTH CRAM-MD5
				C: QUIT
				S: 221 Bye`,
			wantStage: StageAuth, wantErr: ErrInsecureAuth,
		},
		{
			name: "535: AuthFailed, not temporary, QUIT after",
			mode: TLSNone, mech: "PLAIN", remote: loopbackAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 AUTH PLAIN
				C: AUTH PLAIN AGFsaWNlAHMzY3JldC1QYTU1
				S: 535 5.7.8 Error: authentication failed: authentication failure
				C: QUIT
				S: 221 Bye`,
			wantStage: StageAuth, wantText: "auth: 535 5.7.8 Error: authentication failed: authentication failure", authFail: true,
		},
		{
			name: "454 at AUTH: temporary",
			mode: TLSNone, mech: "PLAIN", remote: loopbackAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 AUTH PLAIN
				C: AUTH PLAIN AGFsaWNlAHMzY3JldC1QYTU1
				S: 454 4.7.0 Temporary authentication failure
				C: QUIT
				S: 221 Bye`,
			wantStage: StageAuth, wantText: "auth: 454 4.7.0 Temporary authentication failure", temporary: true,
		},
		{
			name: "server echoes the credentials: scrubbed from the error",
			mode: TLSNone, mech: "PLAIN", remote: loopbackAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 AUTH PLAIN
				C: AUTH PLAIN AGFsaWNlAHMzY3JldC1QYTU1
				S: 501 5.5.2 bad line AGFsaWNlAHMzY3JldC1QYTU1 for s3cret-Pa55
				C: QUIT
				S: 221 Bye`,
			wantStage: StageAuth, wantText: "auth: 501 5.5.2 bad line ******** for ********",
		},
		{
			name:   "greeting 554",
			mode:   TLSNone,
			remote: loopbackAddr,
			script: `
				S: 554 5.7.1 No SMTP service here
				C: QUIT
				S: 221 Bye`,
			wantStage: StageGreeting, wantText: "greeting: 554 5.7.1 No SMTP service here",
		},
		{
			name:   "greeting 421: temporary, no QUIT",
			mode:   TLSNone,
			remote: loopbackAddr,
			script: `
				S: 421 4.3.2 Too busy`,
			wantStage: StageGreeting, temporary: true,
		},
		{
			name:   "server hangs up before the greeting: temporary",
			mode:   TLSNone,
			remote: loopbackAddr,
			script: `
				HANGUP`,
			wantStage: StageGreeting, wantErr: io.EOF, temporary: true,
		},
		{
			name:   "garbage instead of a reply",
			mode:   TLSNone,
			remote: loopbackAddr,
			script: `
				S: hello there`,
			wantStage: StageGreeting, wantText: `greeting: malformed reply line "hello there"`,
		},
		{
			name: "EHLO refused, HELO refused",
			mode: TLSNone, remote: loopbackAddr,
			script: greeting + `
				S: 502 5.5.1 no EHLO
				C: HELO client.example
				S: 550 5.7.1 go away
				C: QUIT
				S: 221 Bye`,
			wantStage: StageEHLO, wantText: "ehlo: 550 5.7.1 go away",
		},
		{
			name: "STARTTLS refused",
			mode: TLSStartTLS, remote: remoteAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 STARTTLS
				C: STARTTLS
				S: 454 4.7.0 TLS not available due to local problem
				C: QUIT
				S: 221 Bye`,
			wantStage: StageStartTLS, wantText: "starttls: 454 4.7.0 TLS not available due to local problem", temporary: true,
		},
		{
			name: "bytes injected after the STARTTLS reply",
			mode: TLSStartTLS, remote: remoteAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 STARTTLS
				C: STARTTLS
				RAW: "220 Go ahead\r\n250-injected\r\n"`,
			wantStage: StageStartTLS, wantErr: ErrSTARTTLSInjection,
		},
		{
			name: "untrusted certificate at STARTTLS: fails at starttls, nothing more sent",
			mode: TLSStartTLS, remote: remoteAddr,
			script: greeting + `
				S: 250-mx.example.test
				S: 250 STARTTLS
				C: STARTTLS
				S: 220 Go ahead
				TLS`,
			wantStage: StageStartTLS, wantText: "certificate signed by unknown authority",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, tt.remote, tt.script)
			s.tcp = strings.Contains(tt.name, "certificate") // a TLS alert needs a buffered connection
			cfg := scriptConfig(s)
			cfg.TLS = tt.mode
			cfg.Mechanism = tt.mech
			cfg.Username = "alice"
			cfg.Password = pass
			cfg.AllowInsecureAuth = tt.insecure
			var tr bytes.Buffer
			cfg.Transcript = &tr
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			e := asError(t, err)
			if e.Stage != tt.wantStage {
				t.Errorf("stage = %q, want %q (%v)", e.Stage, tt.wantStage, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantText != "" && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantText)
			}
			if e.Temporary() != tt.temporary {
				t.Errorf("Temporary() = %v, want %v", e.Temporary(), tt.temporary)
			}
			if e.AuthFailed() != tt.authFail {
				t.Errorf("AuthFailed() = %v, want %v", e.AuthFailed(), tt.authFail)
			}
			if !strings.Contains(tr.String(), "*** "+err.Error()) {
				t.Errorf("transcript does not show the error:\n%s", tr.String())
			}
			assertNoSecret(t, "transcript", tr.String(), "alice", pass.Reveal())
			assertNoSecret(t, "error", err.Error(), "alice", pass.Reveal())
			if strings.Contains(tt.name, "untrusted") {
				s.wait() // the server's handshake fails too: not a script error
				if got := s.got.String(); strings.Contains(got, "EHLO client.example\r\nSTARTTLS\r\nEHLO") {
					t.Errorf("client went on after a failed handshake: %q", got)
				}
				return
			}
			s.check()
		})
	}
}

func TestInsecureAuthAllowed(t *testing.T) {
	for _, tt := range []struct {
		name     string
		remote   net.Addr
		insecure bool
	}{
		{"loopback without TLS", loopbackAddr, false},
		{"remote with AllowInsecureAuth", remoteAddr, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, tt.remote, greeting+`
				S: 250-mx.example.test
				S: 250 AUTH PLAIN
				C: AUTH PLAIN AGFsaWNlAHMzY3JldA==
				S: 235 2.7.0 Authentication successful
				C: QUIT
				S: 221 Bye`)
			cfg := scriptConfig(s)
			cfg.Mechanism, cfg.Username, cfg.Password, cfg.AllowInsecureAuth = "plain", "alice", secret.New("s3cret"), tt.insecure
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			s.check()
		})
	}
}

func TestRcptRefused(t *testing.T) {
	tests := []struct {
		name      string
		replies   []string // to a@x, b@x, c@x
		wantText  string
		temporary bool
		wantCode  int
	}{
		{
			name:     "one permanent, one temporary",
			replies:  []string{"250 2.1.5 Ok", "550 5.1.1 <b@x>: Recipient address rejected: User unknown", "450 4.2.0 <c@x>: greylisted"},
			wantText: "rcpt: 2 of 3 recipients refused: <b@x>: 550 5.1.1 <b@x>: Recipient address rejected: User unknown; <c@x>: 450 4.2.0 <c@x>: greylisted (nothing sent)",
			wantCode: 550,
		},
		{
			name:      "all temporary",
			replies:   []string{"451 4.3.0 try later", "250 Ok", "452 4.5.3 too many"},
			wantText:  "rcpt: 2 of 3 recipients refused: <a@x>: 451 4.3.0 try later; <c@x>: 452 4.5.3 too many (nothing sent)",
			temporary: true,
			wantCode:  451,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, loopbackAddr, greeting+`
				S: 250 mx.example.test
				C: MAIL FROM:<me@x>
				S: 250 2.1.0 Ok
				C: RCPT TO:<a@x>
				S: `+tt.replies[0]+`
				C: RCPT TO:<b@x>
				S: `+tt.replies[1]+`
				C: RCPT TO:<c@x>
				S: `+tt.replies[2]+`
				C: RSET
				S: 250 2.0.0 Ok
				C: MAIL FROM:<me@x>
				S: 250 2.1.0 Ok
				C: RCPT TO:<a@x>
				S: 250 2.1.5 Ok
				C: DATA
				S: 354 go
				C: Subject: x
				C:
				C: hi
				C: .
				S: 250 2.0.0 Ok: queued
				C: QUIT
				S: 221 Bye`)
			c, err := Dial(context.Background(), scriptConfig(s))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(context.Background(), "me@x", []string{"a@x", "b@x", "c@x"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
			e := asError(t, err)
			if e.Stage != StageRcpt || err.Error() != tt.wantText {
				t.Errorf("error = %q (stage %s), want %q", err, e.Stage, tt.wantText)
			}
			if e.Temporary() != tt.temporary {
				t.Errorf("Temporary() = %v", e.Temporary())
			}
			if e.Reply == nil || e.Reply.Code != tt.wantCode {
				t.Errorf("Reply = %v, want code %d", e.Reply, tt.wantCode)
			}
			var re *RcptError
			if !errors.As(err, &re) || len(re.Refused) != 2 {
				t.Errorf("cause = %#v", e.Err)
			}
			// The connection is still usable for the next message.
			if _, err := c.Send(context.Background(), "me@x", []string{"a@x"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			s.check()
		})
	}
}

func TestSendFailures(t *testing.T) {
	msg := "Subject: x\r\n\r\nhi\r\n"
	tests := []struct {
		name        string
		script      string
		ctxAfter    time.Duration // cancel the Send context after this long
		timeout     time.Duration
		dataTimeout time.Duration
		body        io.Reader
		wantStage   Stage
		wantText    string
		temporary   bool
		ambiguous   bool
	}{
		{
			name: "MAIL 451: temporary",
			script: `
				C: MAIL FROM:<me@x>
				S: 451 4.3.0 Mail server temporarily rejected message
				C: QUIT
				S: 221 Bye`,
			wantStage: StageMail, wantText: "mail: 451 4.3.0 Mail server temporarily rejected message", temporary: true,
		},
		{
			name: "DATA refused: RSET",
			script: `
				C: MAIL FROM:<me@x>
				S: 250 Ok
				C: RCPT TO:<a@x>
				S: 250 Ok
				C: DATA
				S: 554 5.5.1 Error: no valid recipients
				C: RSET
				S: 250 Ok
				C: QUIT
				S: 221 Bye`,
			wantStage: StageData, wantText: "data: 554 5.5.1 Error: no valid recipients",
		},
		{
			name: "final reply 554",
			script: `
				C: MAIL FROM:<me@x>
				S: 250 Ok
				C: RCPT TO:<a@x>
				S: 250 Ok
				C: DATA
				S: 354 go
				C: Subject: x
				C:
				C: hi
				C: .
				S: 554-5.7.1 Message rejected
				S: 554 5.7.1 as spam
				C: QUIT
				S: 221 Bye`,
			wantStage: StageDot, wantText: "dot: 554 5.7.1 Message rejected as spam",
		},
		{
			name: "hang-up after the dot: ambiguous, not temporary",
			script: `
				C: MAIL FROM:<me@x>
				S: 250 Ok
				C: RCPT TO:<a@x>
				S: 250 Ok
				C: DATA
				S: 354 go
				C: Subject: x
				C:
				C: hi
				C: .
				HANGUP`,
			wantStage: StageDot, wantText: "dot: EOF", ambiguous: true,
		},
		{
			name: "server stops reading after 354: the write deadline ends it",
			script: `
				C: MAIL FROM:<me@x>
				S: 250 Ok
				C: RCPT TO:<a@x>
				S: 250 Ok
				C: DATA
				S: 354 go
				SLEEP: 2s`,
			timeout:   300 * time.Millisecond,
			body:      io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), strings.NewReader(strings.Repeat("line\r\n", 20000))),
			wantStage: StageData, wantText: "i/o timeout", temporary: true,
		},
		{
			// Config.Timeout bounds the wait for the reply to the dot too
			// (the context would end it later, with another error).
			name: "no reply to the dot: Timeout ends the wait",
			script: `
				C: MAIL FROM:<me@x>
				S: 250 Ok
				C: RCPT TO:<a@x>
				S: 250 Ok
				C: DATA
				S: 354 go
				C: Subject: x
				C:
				C: hi
				C: .
				SLEEP: 2s`,
			timeout:   300 * time.Millisecond,
			ctxAfter:  1200 * time.Millisecond,
			wantStage: StageDot, wantText: "i/o timeout", ambiguous: true,
		},
		{
			name: "no reply to the dot: DataTimeout ends the wait",
			script: `
				C: MAIL FROM:<me@x>
				S: 250 Ok
				C: RCPT TO:<a@x>
				S: 250 Ok
				C: DATA
				S: 354 go
				C: Subject: x
				C:
				C: hi
				C: .
				SLEEP: 2s`,
			dataTimeout: 300 * time.Millisecond,
			ctxAfter:    1200 * time.Millisecond,
			wantStage:   StageDot, wantText: "i/o timeout", ambiguous: true,
		},
		{
			name: "context cancelled while waiting for a reply",
			script: `
				C: MAIL FROM:<me@x>
				SLEEP: 2s`,
			ctxAfter:  100 * time.Millisecond,
			wantStage: StageMail, wantText: "mail: context canceled",
		},
		{
			name: "bare CR after the first megabyte of a stream: closed without the dot",
			script: `
				C: MAIL FROM:<me@x> SIZE=0
				C: RCPT TO:<a@x>
				C: DATA
				C: Subject: x
				C:
				DRAIN`,
			body: io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), strings.NewReader(strings.Repeat("line\r\n", 200000)), strings.NewReader("bad\rline\r\n")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := greeting + "S: 250 mx.example.test\n" + tt.script
			if strings.Contains(tt.name, "megabyte") {
				script = greeting + `
					S: 250-mx.example.test
					S: 250 8BITMIME
					C: MAIL FROM:<me@x> BODY=8BITMIME
					S: 250 Ok
					C: RCPT TO:<a@x>
					S: 250 Ok
					C: DATA
					S: 354 go
					C: Subject: x
					C:
					DRAIN`
				tt.wantStage, tt.wantText = StageData, "bare CR"
			}
			s := newScriptServer(t, loopbackAddr, script)
			cfg := scriptConfig(s)
			if tt.timeout != 0 {
				cfg.Timeout = tt.timeout
			}
			cfg.DataTimeout = tt.dataTimeout
			var tr bytes.Buffer
			cfg.Transcript = &tr
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tt.ctxAfter != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tt.ctxAfter, cancel)
			}
			body := tt.body
			if body == nil {
				body = strings.NewReader(msg)
			}
			start := time.Now()
			_, err = c.Send(ctx, "me@x", []string{"a@x"}, body)
			if time.Since(start) > 1500*time.Millisecond {
				t.Errorf("Send took %v", time.Since(start))
			}
			e := asError(t, err)
			if e.Stage != tt.wantStage || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error = %q (stage %s), want stage %s and %q", err, e.Stage, tt.wantStage, tt.wantText)
			}
			if e.Temporary() != tt.temporary || e.Ambiguous() != tt.ambiguous {
				t.Errorf("Temporary() = %v, Ambiguous() = %v; want %v, %v", e.Temporary(), e.Ambiguous(), tt.temporary, tt.ambiguous)
			}
			c.Close()
			if strings.Contains(tt.name, "megabyte") {
				s.check()
				if strings.Contains(s.got.String(), "\r\n.\r\n") {
					t.Error("the final dot was sent for an abandoned message")
				}
				return
			}
			if strings.Contains(tt.name, "stops reading") || strings.Contains(tt.name, "cancelled") || strings.Contains(tt.name, "no reply to the dot") {
				return // the script is cut short on purpose
			}
			s.check()
		})
	}
}

// TestSendAfterBroken: after an error that leaves the connection unusable,
// Send fails at once and Close does not send QUIT.
func TestSendAfterBroken(t *testing.T) {
	s := newScriptServer(t, loopbackAddr, greeting+`
		S: 250 mx.example.test
		C: MAIL FROM:<me@x>
		S: 421 4.4.2 mx.example.test Error: timeout exceeded`)
	c, err := Dial(context.Background(), scriptConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), "me@x", []string{"a@x"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
	if e := asError(t, err); !e.Temporary() || e.Reply.Code != 421 {
		t.Fatalf("error = %v", err)
	}
	_, err = c.Send(context.Background(), "me@x", []string{"a@x"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
	if !errors.Is(err, ErrBroken) {
		t.Fatalf("second Send: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s.check()
}

func TestSendBadArguments(t *testing.T) {
	s := newScriptServer(t, loopbackAddr, greeting+`
		S: 250 mx.example.test
		C: QUIT
		S: 221 Bye`)
	c, err := Dial(context.Background(), scriptConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from string
		to   []string
	}{
		{"me@x", nil},
		{"me@x\r\nRCPT TO:<evil@x>", []string{"a@x"}},
		{"me@x", []string{"a@x>"}},
		{"me@x", []string{""}},
	} {
		if _, err := c.Send(context.Background(), tt.from, tt.to, strings.NewReader("x\r\n")); err == nil {
			t.Errorf("Send(%q, %q) succeeded", tt.from, tt.to)
		}
	}
	c.Close()
	s.check()
}

func TestDialConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no endpoint", Config{}, "connect: no server host and port"},
		{"bad TLS mode", Config{Endpoint: Endpoint{Host: "h", Port: "25"}, TLS: "maybe"}, `connect: unknown TLS mode "maybe"`},
		{"unknown mechanism", Config{Endpoint: Endpoint{Host: "h", Port: "25"}, Mechanism: "NTLMv9", Username: "a", Password: secret.New("b")}, "auth: unknown mechanism"},
		{"no password", Config{Endpoint: Endpoint{Host: "h", Port: "25"}, Mechanism: "PLAIN", Username: "a"}, "auth: PLAIN needs a password"},
		{"bad EHLO name", Config{Endpoint: Endpoint{Host: "h", Port: "25"}, LocalName: "a b"}, "ehlo: bad EHLO name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(context.Background(), tt.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Dial error = %v, want %q", err, tt.want)
			}
		})
	}
	// A refused connection is a temporary connect-stage error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	_, err = Dial(context.Background(), Config{Endpoint: Endpoint{Host: "127.0.0.1", Port: fmt.Sprint(addr.Port), TLS: TLSNone}})
	e := asError(t, err)
	if e.Stage != StageConnect || !e.Temporary() || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error = %v (temporary %v)", err, e.Temporary())
	}
}

// TestSend8BitStreamNo8BitMIME: 8-bit data beyond the part of a stream
// scanned before MAIL, to a server that does not offer 8BITMIME (RFC 6152
// §3), abandons the message: the connection is closed without the dot.
func TestSend8BitStreamNo8BitMIME(t *testing.T) {
	s := newScriptServer(t, loopbackAddr, greeting+`
		S: 250-mx.example.test
		S: 250 PIPELINING
		C: MAIL FROM:<me@x>
		S: 250 Ok
		C: RCPT TO:<a@x>
		S: 250 Ok
		C: DATA
		S: 354 go
		C: Subject: x
		C:
		DRAIN`)
	c, err := Dial(context.Background(), scriptConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	body := io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), strings.NewReader(strings.Repeat("line\r\n", 200000)), strings.NewReader("caf\xc3\xa9\r\n"))
	_, err = c.Send(context.Background(), "me@x", []string{"a@x"}, body)
	e := asError(t, err)
	if e.Stage != StageData || !errors.Is(err, ErrNo8BitMIME) {
		t.Errorf("error = %v (stage %s), want ErrNo8BitMIME at stage data", err, e.Stage)
	}
	c.Close()
	s.check()
	if got := s.wait(); strings.Contains(got, "\r\n.\r\n") || strings.Contains(got, "\xc3") {
		t.Error("8-bit data or the final dot was sent")
	}
}

// Postfix's smtp-sink answers AUTH with 250, not 235: any positive
// completion is a success, and the transcript says so.
func TestAuthAnswered250(t *testing.T) {
	s := newScriptServer(t, loopbackAddr, greeting+`
		S: 250-smtp-sink
		S: 250-PIPELINING
		S: 250 AUTH PLAIN LOGIN
		C: AUTH PLAIN AGJlbmNoAGJlbmNoLXBhc3N3b3Jk
		S: 250 2.0.0 Ok
		C: QUIT
		S: 221 2.0.0 Bye
	`)
	cfg := scriptConfig(s)
	cfg.Mechanism, cfg.Username, cfg.Password = "PLAIN", "bench", secret.New("bench-password")
	var tr bytes.Buffer
	cfg.Transcript = &tr
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, tr.String())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tr.String(), "answered AUTH with 250 instead of 235") {
		t.Errorf("no note in the transcript:\n%s", tr.String())
	}
	s.check()
}

// A failed AUTO login reports the mechanism AUTO chose, not "AUTO".
func TestProbeAutoFailureNamesMechanism(t *testing.T) {
	s := newScriptServer(t, loopbackAddr, greeting+`
		S: 250-mx.example.test
		S: 250 AUTH PLAIN CRAM-MD5
		C: AUTH CRAM-MD5
		S: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+
		C: dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw
		S: 535 5.7.8 Authentication failed
		C: QUIT
		S: 221 2.0.0 Bye
	`)
	cfg := scriptConfig(s)
	cfg.Mechanism, cfg.Username, cfg.Password = MechanismAuto, "tim", secret.New("tanstaaftanstaaf")
	res, err := Probe(context.Background(), cfg)
	if err == nil {
		t.Fatal("no error")
	}
	if res.Auth != "CRAM-MD5" || res.AuthOK {
		t.Errorf("Auth = %q, AuthOK = %v; want CRAM-MD5, false", res.Auth, res.AuthOK)
	}
	s.check()
}
