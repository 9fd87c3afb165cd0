package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailscript/mailscript/internal/secret"
)

// featBackend records envelopes with their options; over LMTP it refuses
// delivery to recipients starting with "full@".
type featBackend struct {
	mu    sync.Mutex
	mails []smtp.MailOptions
	rcpts []smtp.RcptOptions
	to    []string
	data  []string
	peers []string
}

type featSession struct {
	be   *featBackend
	to   []string
	conn *smtp.Conn
}

func (b *featBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	b.peers = append(b.peers, c.Conn().RemoteAddr().String())
	b.mu.Unlock()
	return &featSession{be: b, conn: c}, nil
}

func (s *featSession) Mail(from string, opts *smtp.MailOptions) error {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	if opts != nil {
		s.be.mails = append(s.be.mails, *opts)
	}
	return nil
}

func (s *featSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
	}
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.to = append(s.to, to)
	s.be.to = append(s.be.to, to)
	if opts != nil {
		s.be.rcpts = append(s.be.rcpts, *opts)
	}
	return nil
}

func (s *featSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.be.mu.Lock()
	s.be.data = append(s.be.data, string(b))
	s.be.mu.Unlock()
	return nil
}

func (s *featSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	s.Data(r)
	for _, to := range s.to {
		if strings.HasPrefix(to, "full@") {
			status.SetStatus(to, &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"})
		} else {
			status.SetStatus(to, nil)
		}
	}
	return nil
}

func (s *featSession) Reset()        { s.to = nil }
func (s *featSession) Logout() error { return nil }

type featOpts struct {
	network, addr string // "" = tcp 127.0.0.1:0
	implicit      bool
	lmtp, dsn     bool
}

// startFeatServer starts go-smtp's server and returns the URL to reach it.
func startFeatServer(t *testing.T, o featOpts) (Endpoint, *featBackend) {
	t.Helper()
	cert, _ := testCert()
	be := &featBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.example.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.LMTP, srv.EnableDSN = o.lmtp, o.dsn
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if o.network == "" {
		o.network, o.addr = "tcp", "127.0.0.1:0"
	}
	l, err := net.Listen(o.network, o.addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", o.network, o.addr, err)
	}
	if o.implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	var url string
	switch {
	case o.network == "unix":
		url = "lmtp:" + o.addr
	case o.lmtp:
		url = "lmtp://" + l.Addr().String()
	case o.implicit:
		url = "smtps://" + l.Addr().String()
	default:
		url = "smtp://" + l.Addr().String()
	}
	ep, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return ep, be
}

const featMsg = "From: a@example.com\r\nTo: b@example.com\r\nSubject: feat\r\n\r\nfirst body line\r\nsecond body line\r\n"

func TestPinning(t *testing.T) {
	leaf, _ := testCert()
	fp := Fingerprint(leaf.Leaf)
	for _, tt := range []struct {
		name, pin, wantErr string
	}{
		{"colons", fp, ""},
		{"lower case, no colons", strings.ToLower(strings.ReplaceAll(fp, ":", "")), ""},
		{"openssl form", "SHA256 Fingerprint=" + fp, ""},
		{"wrong", strings.Repeat("00:", 31) + "00", "does not match the pinned SHA-256 fingerprint"},
		{"malformed", "abc", "bad SHA-256 fingerprint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ep, _ := startFeatServer(t, featOpts{})
			var tr bytes.Buffer
			c, err := Dial(context.Background(), Config{Endpoint: ep, PinSHA256: []string{tt.pin}, Transcript: &tr, Timeout: 5 * time.Second})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v\n%s", err, tr.String())
			}
			c.Close()
			if !strings.Contains(tr.String(), "=== certificate verified by its pinned SHA-256 fingerprint "+fp) {
				t.Errorf("transcript:\n%s", tr.String())
			}
		})
	}
}

func TestInsecureSkipVerifyIsLoud(t *testing.T) {
	ep, _ := startFeatServer(t, featOpts{implicit: true})
	var tr bytes.Buffer
	c, err := Dial(context.Background(), Config{Endpoint: ep, InsecureSkipVerify: true, Transcript: &tr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !strings.Contains(tr.String(), "*** WARNING: the server certificate was NOT verified") {
		t.Errorf("no warning:\n%s", tr.String())
	}
	// Without the opt-in the same server is refused.
	if _, err := Dial(context.Background(), Config{Endpoint: ep, Timeout: 5 * time.Second}); err == nil {
		t.Error("untrusted certificate accepted")
	}
}

func TestTranscriptOptions(t *testing.T) {
	_, pool := testCert()
	for _, body := range []bool{false, true} {
		ep, _ := startFeatServer(t, featOpts{})
		var tr bytes.Buffer
		fixed := time.Date(2024, 5, 6, 12, 34, 56, 789e6, time.UTC)
		c, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, Transcript: &tr, Timestamps: true,
			TranscriptBody: body, now: func() time.Time { return fixed }, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(context.Background(), "a@example.com", []string{"b@example.com"}, strings.NewReader(featMsg)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		for _, line := range strings.Split(strings.TrimSpace(tr.String()), "\n") {
			if !strings.HasPrefix(line, "12:34:56.789 ") {
				t.Errorf("line without timestamp: %q", line)
			}
		}
		shown := strings.Contains(tr.String(), "~> second body line")
		elided := strings.Contains(tr.String(), "[... 2 body lines elided ...]")
		if shown != body || elided == body {
			t.Errorf("TranscriptBody=%v: shown %v, elided %v\n%s", body, shown, elided, tr.String())
		}
	}
}

func TestLMTP(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	for _, o := range []featOpts{{network: "unix", addr: sock, lmtp: true}, {lmtp: true}} {
		t.Run(o.network, func(t *testing.T) {
			ep, be := startFeatServer(t, o)
			if !ep.LMTP() || ep.TLS != TLSNone {
				t.Fatalf("endpoint %+v", ep)
			}
			var tr bytes.Buffer
			c, err := Dial(context.Background(), Config{Endpoint: ep, Transcript: &tr, LocalName: "client.example", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("Dial: %v\n%s", err, tr.String())
			}
			defer c.Close()
			res, err := c.SendMessage(context.Background(), "a@example.com", []string{"b@example.com", "full@example.com", "c@example.com"}, strings.NewReader(featMsg), nil)
			e := asError(t, err)
			var re *RcptError
			if e.Stage != StageDot || !errors.As(err, &re) || !re.AfterDot || len(re.Refused) != 1 || e.Temporary() != true {
				t.Fatalf("error = %v\n%s", err, tr.String())
			}
			if !strings.Contains(err.Error(), "<full@example.com>: 452 4.2.2 <full@example.com> Mailbox full (delivered to the others)") {
				t.Errorf("error text %q", err)
			}
			if res == nil || len(res.Recipients) != 3 || !res.Recipients[0].Accepted() || res.Recipients[1].Accepted() || !res.Recipients[2].Accepted() {
				t.Fatalf("result = %+v", res)
			}
			if res.Recipients[1].Delivery.Code != 452 {
				t.Errorf("delivery reply %v", res.Recipients[1].Delivery)
			}
			if !strings.Contains(tr.String(), "-> LHLO client.example") {
				t.Errorf("no LHLO:\n%s", tr.String())
			}
			// All delivered: no error, Send compatible.
			if _, err := c.Send(context.Background(), "a@example.com", []string{"b@example.com"}, strings.NewReader(featMsg)); err != nil {
				t.Fatal(err)
			}
			if len(be.data) != 2 {
				t.Errorf("server got %d messages", len(be.data))
			}
		})
	}
}

func TestQuitAfterAndVerify(t *testing.T) {
	_, pool := testCert()
	for _, stage := range []Stage{StageConnect, StageEHLO, StageTLS, StageAuth} {
		t.Run(string(stage), func(t *testing.T) {
			ep, _ := startServer(t, TLSStartTLS)
			var tr bytes.Buffer
			c, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, QuitAfter: stage, Mechanism: "PLAIN",
				Username: e2eUser, Password: secret.New(e2ePass), Transcript: &tr, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			s := tr.String()
			has := func(x string) bool { return strings.Contains(s, x) }
			want := map[Stage][3]bool{ // EHLO, STARTTLS, AUTH
				StageConnect: {false, false, false}, StageEHLO: {true, false, false},
				StageTLS: {true, true, false}, StageAuth: {true, true, true},
			}[stage]
			if got := [3]bool{has("EHLO"), has("-> STARTTLS"), has("> AUTH PLAIN")}; got != want || !has("QUIT") {
				t.Errorf("EHLO/STARTTLS/AUTH = %v, want %v\n%s", got, want, s)
			}
		})
	}
	ep, be := startServer(t, TLSStartTLS)
	var tr bytes.Buffer
	c, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, Mechanism: "PLAIN",
		Username: e2eUser, Password: secret.New(e2ePass), Transcript: &tr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Verify(context.Background(), "alice@example.com", []string{"bob@example.com", "nobody@example.com"})
	if err != nil || len(res) != 2 || !res[0].Accepted() || res[1].Accepted() || res[1].Rcpt.Enhanced != "5.1.1" {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	// The session is still usable after the RSET.
	if _, err := c.Send(context.Background(), "alice@example.com", []string{"bob@example.com"}, strings.NewReader(featMsg)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := len(be.messages()); n != 1 || !strings.Contains(tr.String(), "~> RSET") {
		t.Errorf("server got %d messages\n%s", n, tr.String())
	}
	if _, err := Dial(context.Background(), Config{Endpoint: ep, QuitAfter: "dot"}); err == nil {
		t.Error("QuitAfter dot accepted")
	}
}

func TestErrorJSON(t *testing.T) {
	e := &Error{Stage: StageAuth, Reply: &Reply{Code: 535, Enhanced: "5.7.8", Text: "Authentication failed"}}
	e.Err = e.Reply.smtpError()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	if got["stage"] != "auth" || got["code"] != float64(535) || got["enhanced"] != "5.7.8" || got["text"] != "Authentication failed" ||
		got["message"] != "auth: 535 5.7.8 Authentication failed" || got["auth_failed"] != true || got["temporary"] != false {
		t.Errorf("JSON = %s", b)
	}
	rcpt := &Error{Stage: StageRcpt, Reply: &Reply{Code: 550}, Err: &RcptError{Total: 2, Refused: []RefusedRecipient{{"x@y", &Reply{Code: 550, Enhanced: "5.1.1", Text: "no"}}}}}
	b, _ = json.Marshal(rcpt)
	if !strings.Contains(string(b), `"refused":[{"address":"x@y","reply":{"code":550,"enhanced":"5.1.1","text":"no"}}]`) {
		t.Errorf("JSON = %s", b)
	}
	b, _ = json.Marshal(&Error{Stage: StageConnect, Err: errors.New("dial tcp: refused")})
	if string(b) != `{"stage":"connect","message":"connect: dial tcp: refused","temporary":false}` {
		t.Errorf("JSON = %s", b)
	}
}

func TestIPv6AndLocalAddr(t *testing.T) {
	_, pool := testCert()
	ep, be := startFeatServer(t, featOpts{network: "tcp6", addr: "[::1]:0"})
	if ep.Host != "::1" {
		t.Fatalf("endpoint %+v", ep)
	}
	c, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, LocalAddr: "::1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(be.peers) == 0 || !strings.HasPrefix(be.peers[0], "[::1]:") {
		t.Errorf("peers %v", be.peers)
	}
	ep4, be4 := startFeatServer(t, featOpts{})
	c, err = Dial(context.Background(), Config{Endpoint: ep4, RootCAs: pool, LocalAddr: "127.0.0.1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(be4.peers) == 0 || !strings.HasPrefix(be4.peers[0], "127.0.0.1:") {
		t.Errorf("peers %v", be4.peers)
	}
	if _, err := Dial(context.Background(), Config{Endpoint: ep4, LocalAddr: "not-an-ip"}); err == nil || !strings.Contains(err.Error(), "bad local address") {
		t.Errorf("err = %v", err)
	}
}

func TestDSN(t *testing.T) {
	_, pool := testCert()
	dsn := &DSN{Notify: []string{"success", "FAILURE"}, Ret: "hdrs", EnvID: "id+1 x", ORCPT: true}
	for _, offered := range []bool{true, false} {
		ep, be := startFeatServer(t, featOpts{dsn: offered})
		var tr bytes.Buffer
		c, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, DSN: dsn, Transcript: &tr, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(context.Background(), "a@example.com", []string{"b@example.com"}, strings.NewReader(featMsg)); err != nil {
			t.Fatalf("Send: %v\n%s", err, tr.String())
		}
		c.Close()
		s := tr.String()
		if offered {
			if !strings.Contains(s, "MAIL FROM:<a@example.com> SIZE=") || !strings.Contains(s, " RET=HDRS ENVID=id+2B1+20x") ||
				!strings.Contains(s, "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com") {
				t.Errorf("transcript:\n%s", s)
			}
			m, r := be.mails[0], be.rcpts[0]
			if m.Return != smtp.DSNReturnHeaders || m.EnvelopeID != "id+1 x" || len(r.Notify) != 2 || r.OriginalRecipient != "b@example.com" {
				t.Errorf("server saw %+v %+v", m, r)
			}
		} else if strings.Contains(s, "NOTIFY=") || !strings.Contains(s, "=== the server does not offer DSN") {
			t.Errorf("transcript:\n%s", s)
		}
	}
	for _, bad := range []*DSN{{Notify: []string{"NEVER", "SUCCESS"}}, {Notify: []string{"SOMETIMES"}}, {Ret: "ALL"}, {EnvID: "a\x01"}} {
		if _, err := Dial(context.Background(), Config{Endpoint: Endpoint{Host: "h", Port: "1"}, DSN: bad}); err == nil || !strings.Contains(err.Error(), "DSN") {
			t.Errorf("DSN %+v: err = %v", bad, err)
		}
	}
}

func TestTLSModeMismatch(t *testing.T) {
	_, pool := testCert()
	ep, _ := startFeatServer(t, featOpts{implicit: true})
	ep.TLS = TLSStartTLS
	start := time.Now()
	_, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, Timeout: 500 * time.Millisecond})
	e := asError(t, err)
	if e.Stage != StageGreeting || !errors.Is(err, ErrTLSModeMismatch) || !strings.Contains(err.Error(), "this port speaks TLS from the first byte: use smtps:// / --tls implicit") {
		t.Errorf("error = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	js, _ := json.Marshal(e)
	if !strings.Contains(string(js), `"tls_mode_mismatch":true`) {
		t.Errorf("JSON %s", js)
	}
}

func TestProbe(t *testing.T) {
	_, pool := testCert()
	ep, _ := startServer(t, TLSStartTLS)
	res, err := Probe(context.Background(), Config{Endpoint: ep, RootCAs: pool, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Banner == nil || res.Banner.Code != 220 || res.Clear == nil || !res.Clear.StartTLS || res.Secure == nil ||
		!res.Secure.Pipelining || !res.Secure.EightBitMIME || !res.Secure.Chunking || res.Secure.Size != 1<<20 ||
		len(res.Secure.Auth) == 0 || res.TLS == nil || res.TLS.Verified != "chain" || res.TLS.DaysLeft < 1000 || res.Auth != "" {
		t.Errorf("probe = %+v", res)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Error(err)
	}
	// With a login.
	res, err = Probe(context.Background(), Config{Endpoint: ep, RootCAs: pool, Mechanism: "AUTO", Username: e2eUser, Password: secret.New(e2ePass), Timeout: 5 * time.Second})
	if err != nil || !res.AuthOK || res.Auth != "SCRAM-SHA-256-PLUS" {
		t.Errorf("probe with login = %+v, %v", res, err)
	}
	// A wrong password and an untrusted certificate are reported.
	res, err = Probe(context.Background(), Config{Endpoint: ep, RootCAs: pool, Mechanism: "PLAIN", Username: e2eUser, Password: secret.New("nope-nope"), Timeout: 5 * time.Second})
	if err == nil || res.AuthOK || res.Auth != "PLAIN" || res.Error == nil || !res.Error.AuthFailed() {
		t.Errorf("probe wrong password = %+v, %v", res, err)
	}
	res, err = Probe(context.Background(), Config{Endpoint: ep, Timeout: 5 * time.Second})
	if err == nil || res.TLS == nil || res.TLS.Verified != "failed" || res.TLS.ChainError == "" || res.TLS.Subject == "" {
		t.Errorf("probe untrusted = %+v, %v", res, err)
	}
}
