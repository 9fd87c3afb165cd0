package transport

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailscript/mailscript/internal/secret"
)

// The end-to-end tests run the client against go-smtp's server, in
// process, over STARTTLS and implicit TLS, with a certificate made in the
// test. The server side of each SASL mechanism is written here from its
// specification, not from the client code.

const (
	e2eUser = "alice@example.com"
	e2ePass = "Tr0ub4dor&3-very-secret" // long enough for every base64 alignment to be checked
)

type received struct {
	from string
	opts smtp.MailOptions
	to   []string
	data string
}

type e2eBackend struct {
	mu   sync.Mutex
	msgs []received
}

func (b *e2eBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &e2eSession{be: b, conn: c}, nil
}

func (b *e2eBackend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type e2eSession struct {
	conn   *smtp.Conn
	be     *e2eBackend
	authed bool
	cur    received
}

func checkCredentials(user, pass string) error {
	if user != e2eUser || pass != e2ePass {
		return smtp.ErrAuthFailed
	}
	return nil
}

func (s *e2eSession) AuthMechanisms() []string {
	return append([]string{"PLAIN", "LOGIN", "CRAM-MD5", "CRAM-SHA1"}, specMechanisms...)
}

func (s *e2eSession) Auth(mech string) (sasl.Server, error) {
	ok := func(err error) error {
		if err == nil {
			s.authed = true
		}
		return err
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return ok(checkCredentials(user, pass))
		}), nil
	case "LOGIN":
		return &loginServer{check: func(u, p string) error { return ok(checkCredentials(u, p)) }}, nil
	case "CRAM-MD5":
		return &cramServer{hash: md5.New, check: ok}, nil
	case "CRAM-SHA1":
		return &cramServer{hash: sha1.New, check: ok}, nil
	}
	if srv := s.specServer(mech, ok); srv != nil {
		return srv, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *e2eSession) Mail(from string, opts *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{from: from}
	if opts != nil {
		s.cur.opts = *opts
	}
	return nil
}

func (s *e2eSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *e2eSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = string(b)
	s.be.mu.Lock()
	s.be.msgs = append(s.be.msgs, s.cur)
	s.be.mu.Unlock()
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as E2E"}
}

func (s *e2eSession) Reset()        { s.cur = received{} }
func (s *e2eSession) Logout() error { return nil }

// loginServer is the server side of LOGIN (draft-murchison-sasl-login):
// prompt "Username:", then "Password:".
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if resp != nil { // username sent as an initial response
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// cramServer is the server side of RFC 2195: send a msg-id-like challenge,
// expect "user SP 32-lowercase-hex-digit keyed digest" and compare it with
// HMAC(password, challenge) computed here.
type cramServer struct {
	hash      func() hash.Hash
	challenge []byte
	check     func(error) error
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == nil {
		if resp != nil {
			return nil, false, errors.New("CRAM takes no initial response")
		}
		var n [8]byte
		rand.Read(n[:])
		c.challenge = fmt.Appendf(nil, "<%x.%d@mx.example.test>", n, time.Now().Unix())
		return c.challenge, false, nil
	}
	i := bytes.LastIndexByte(resp, ' ')
	if i < 0 {
		return nil, true, c.check(smtp.ErrAuthFailed)
	}
	user, digest := string(resp[:i]), string(resp[i+1:])
	if user != e2eUser {
		return nil, true, c.check(smtp.ErrAuthFailed)
	}
	mac := hmac.New(c.hash, []byte(e2ePass))
	mac.Write(c.challenge)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(digest), []byte(want)) {
		return nil, true, c.check(smtp.ErrAuthFailed)
	}
	return nil, true, c.check(nil)
}

// startServer starts go-smtp's server on 127.0.0.1, with implicit TLS or
// offering STARTTLS, and returns its endpoint.
func startServer(t *testing.T, mode TLSMode) (Endpoint, *e2eBackend) {
	t.Helper()
	cert, _ := testCert()
	be := &e2eBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.example.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}
	srv.MaxMessageBytes = 1 << 20
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode == TLSImplicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	scheme := "smtp"
	if mode == TLSImplicit {
		scheme = "smtps"
	}
	e, err := ParseURL(scheme + "://127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	return e, be
}

func TestEndToEnd(t *testing.T) {
	_, pool := testCert()
	msg7 := "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: test\r\n\r\n.a line with a leading dot\r\nHello Bob.\r\n.\r\n"
	msg8 := "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xc3\xa9 cr\xc3\xa8me.\r\n"
	for _, mode := range []TLSMode{TLSStartTLS, TLSImplicit} {
		for _, mech := range []string{"PLAIN", "LOGIN", "CRAM-MD5", "CRAM-SHA1"} {
			t.Run(string(mode)+"/"+mech, func(t *testing.T) {
				ep, be := startServer(t, mode)
				var tr bytes.Buffer
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				c, err := Dial(ctx, Config{
					Endpoint:   ep,
					RootCAs:    pool,
					Mechanism:  mech,
					Username:   e2eUser,
					Password:   secret.New(e2ePass),
					LocalName:  "client.example",
					Transcript: &tr,
				})
				if err != nil {
					t.Fatalf("Dial: %v\n%s", err, tr.String())
				}
				st, ok := c.TLSState()
				if !ok || len(st.VerifiedChains) == 0 {
					t.Errorf("TLS not verified: %v", ok)
				}
				for _, m := range []string{msg7, msg8} {
					reply, err := c.Send(ctx, "alice@example.com", []string{"bob@example.com", "carol@example.com"}, strings.NewReader(m))
					if err != nil {
						t.Fatalf("Send: %v\n%s", err, tr.String())
					}
					if got := reply.String(); got != "250 2.0.0 Ok: queued as E2E" {
						t.Errorf("reply = %q", got)
					}
				}
				// A refused recipient: nothing sent, the next message still goes.
				_, err = c.Send(ctx, "alice@example.com", []string{"bob@example.com", "nobody@example.com"}, strings.NewReader(msg7))
				if e := asError(t, err); e.Stage != StageRcpt || !strings.Contains(err.Error(), "<nobody@example.com>: 550 5.1.1 User unknown") {
					t.Errorf("error = %v", err)
				}
				if _, err := c.Send(ctx, "alice@example.com", []string{"bob@example.com"}, strings.NewReader(msg7)); err != nil {
					t.Fatalf("Send after refusal: %v", err)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}

				msgs := be.messages()
				if len(msgs) != 3 {
					t.Fatalf("server got %d messages, want 3", len(msgs))
				}
				if msgs[0].data != msg7 || msgs[1].data != msg8 || msgs[2].data != msg7 {
					t.Errorf("server got %q", []string{msgs[0].data, msgs[1].data})
				}
				if msgs[0].opts.Body != "" || msgs[1].opts.Body != smtp.Body8BitMIME {
					t.Errorf("BODY = %q, %q; want none for 7-bit, 8BITMIME for 8-bit", msgs[0].opts.Body, msgs[1].opts.Body)
				}
				if msgs[0].opts.Size != int64(len(msg7)) {
					t.Errorf("SIZE = %d, want %d", msgs[0].opts.Size, len(msg7))
				}
				if strings.Join(msgs[0].to, ",") != "bob@example.com,carol@example.com" {
					t.Errorf("recipients = %q", msgs[0].to)
				}
				if !strings.Contains(tr.String(), "=== TLS started with TLSv1.3") {
					t.Errorf("no TLS note in the transcript:\n%s", tr.String())
				}
				assertNoSecret(t, "transcript", tr.String(), e2eUser, e2ePass)
			})
		}
	}
}

// TestEndToEndFailures covers the failure paths against the real server,
// and greps each transcript and error for the password.
func TestEndToEndFailures(t *testing.T) {
	_, pool := testCert()
	tests := []struct {
		name      string
		mode      TLSMode // server
		client    TLSMode // client override
		pool      bool
		mech      string
		pass      string
		wantStage Stage
		wantText  string
		check     func(*Error) bool
	}{
		{"wrong password PLAIN", TLSStartTLS, "", true, "PLAIN", "wrong-" + e2ePass, StageAuth, "auth: 535 5.7.8 Authentication failed", (*Error).AuthFailed},
		{"wrong password LOGIN", TLSImplicit, "", true, "LOGIN", "wrong-" + e2ePass, StageAuth, "auth: 535 5.7.8", (*Error).AuthFailed},
		{"wrong password CRAM-MD5", TLSStartTLS, "", true, "CRAM-MD5", "wrong-" + e2ePass, StageAuth, "auth: 535 5.7.8", (*Error).AuthFailed},
		{"untrusted certificate, STARTTLS", TLSStartTLS, "", false, "PLAIN", e2ePass, StageStartTLS, "certificate signed by unknown authority", nil},
		{"untrusted certificate, implicit", TLSImplicit, "", false, "PLAIN", e2ePass, StageConnect, "certificate signed by unknown authority", nil},
		{"no TLS: the server offers no AUTH", TLSStartTLS, TLSNone, true, "PLAIN", e2ePass, StageAuth, "server does not offer AUTH (wanted PLAIN)", nil},
		{"implicit TLS against a STARTTLS port", TLSStartTLS, TLSImplicit, true, "PLAIN", e2ePass, StageConnect, "this port expects STARTTLS or no TLS, use smtp:// / --tls starttls", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, be := startServer(t, tt.mode)
			cfg := Config{Endpoint: ep, TLS: tt.client, Mechanism: tt.mech, Username: e2eUser, Password: secret.New(tt.pass), LocalName: "client.example"}
			if tt.pool {
				cfg.RootCAs = pool
			}
			var tr bytes.Buffer
			cfg.Transcript = &tr
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			e := asError(t, err)
			if e.Stage != tt.wantStage || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error = %q (stage %s), want stage %s and %q", err, e.Stage, tt.wantStage, tt.wantText)
			}
			if tt.check != nil && !tt.check(e) {
				t.Errorf("check failed for %v", err)
			}
			if e.Temporary() {
				t.Errorf("%v is temporary", err)
			}
			if len(be.messages()) != 0 {
				t.Error("a message was delivered")
			}
			for _, p := range []string{tt.pass, e2ePass} {
				assertNoSecret(t, "transcript", tr.String(), e2eUser, p)
				assertNoSecret(t, "error", err.Error(), e2eUser, p)
				assertNoSecret(t, "error %#v", fmt.Sprintf("%#v %+v", err, err), e2eUser, p)
			}
		})
	}
}
