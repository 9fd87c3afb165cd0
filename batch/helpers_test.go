package batch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
)

// testTemplate renders one message per row; X-Row names the row so that
// a server can count what it got.
const testTemplate = `---
from: sender@example.org
to: '{{.email}}'
subject: 'Row {{.n}}'
headers:
  X-Row: '{{.n}}'
---
Hello {{.name}}, this is row {{.n}}.
`

func parseTemplate(t testing.TB, src string) *template.Template {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "t.tmpl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tm, err := template.ParseFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// csvRows returns a CSV of n rows: n,email,name; email(i) may override
// the address of row i.
func csvRows(n int, email func(i int) string) string {
	var b strings.Builder
	b.WriteString("n,email,name\n")
	for i := 1; i <= n; i++ {
		e := fmt.Sprintf("user%d@example.org", i)
		if email != nil {
			e = email(i)
		}
		fmt.Fprintf(&b, "%d,%s,User %d\n", i, e, i)
	}
	return b.String()
}

func source(t testing.TB, csv string, opts selection.Options) selection.Source {
	t.Helper()
	r, err := data.NewReader(strings.NewReader(csv), "rows.csv", data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return selection.NewStream(r, "rows.csv", selection.New(opts))
}

// faultServer is a go-smtp server that counts messages by their X-Row
// header and injects faults.
type faultServer struct {
	t    testing.TB
	srv  *smtp.Server
	addr string

	mu        sync.Mutex
	got       map[int]int    // row → messages stored
	ids       map[int]string // row → Message-ID
	tries     map[int]int    // row → DATA attempts seen
	rcptTries map[string]int // recipient → RCPT seen
	total     int            // messages stored
	stored    []stored       // every message stored, in order
	conns     int            // connections
	maxConns  int            // most at once
	open      int

	// Faults; each may be nil.
	rcpt func(to string, n int) error             // n: RCPTs for to so far, 1-based
	data func(row, try, onConn int) (error, bool) // try: 1-based; onConn: messages before on this connection; true = drop without reply
	auth func(user, pass string) error            // nil = no AUTH offered
	slow time.Duration                            // delay before each reply to DATA
}

func startFault(t testing.TB, configure func(*faultServer)) *faultServer {
	t.Helper()
	f := &faultServer{t: t, got: map[int]int{}, ids: map[int]string{}, tries: map[int]int{}, rcptTries: map[string]int{}}
	if configure != nil {
		configure(f)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		f.mu.Lock()
		f.conns++
		f.open++
		f.maxConns = max(f.maxConns, f.open)
		f.mu.Unlock()
		return &faultSession{f: f, c: c}, nil
	}))
	s.Domain = "fault.test"
	s.AllowInsecureAuth = true
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.MaxRecipients = 100
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr = s, l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return f
}

func (f *faultServer) config() transport.Config {
	ep, _ := transport.ParseURL("smtp://" + f.addr)
	cfg := transport.Config{Endpoint: ep, TLS: transport.TLSNone, Timeout: 5 * time.Second}
	if f.auth != nil {
		cfg.Mechanism, cfg.Username = "PLAIN", "alice"
	}
	return cfg
}

func (f *faultServer) counts() (got map[int]int, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	got = make(map[int]int, len(f.got))
	for k, v := range f.got {
		got[k] = v
	}
	return got, f.total
}

type faultSession struct {
	f      *faultServer
	c      *smtp.Conn
	to     []string
	onConn int
}

var rowHeader = regexp.MustCompile(`(?m)^X-Row: (\d+)\r?$`)
var msgIDHeader = regexp.MustCompile(`(?mi)^Message-Id: (.*)\r?$`)

func (s *faultSession) AuthMechanisms() []string {
	if s.f.auth == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *faultSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		return s.f.auth(user, pass)
	}), nil
}

func (s *faultSession) Reset()        { s.to = nil }
func (s *faultSession) Logout() error { s.f.mu.Lock(); s.f.open--; s.f.mu.Unlock(); return nil }
func (s *faultSession) Mail(from string, _ *smtp.MailOptions) error {
	return nil
}

func (s *faultSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.f.mu.Lock()
	s.f.rcptTries[to]++
	n := s.f.rcptTries[to]
	s.f.mu.Unlock()
	if s.f.rcpt != nil {
		if err := s.f.rcpt(to, n); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *faultSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := rowHeader.FindSubmatch(b)
	if m == nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "no X-Row header"}
	}
	row, _ := strconv.Atoi(string(m[1]))
	f := s.f
	f.mu.Lock()
	f.tries[row]++
	try := f.tries[row]
	f.mu.Unlock()
	if f.slow > 0 {
		time.Sleep(f.slow)
	}
	onConn := s.onConn
	s.onConn++
	if f.data != nil {
		err, drop := f.data(row, try, onConn)
		if drop {
			// Stored, then the connection is lost before the reply: the
			// client cannot know (RFC 1047).
			f.store(row, b, s.to)
			s.c.Conn().Close()
			return errors.New("dropped")
		}
		if err != nil {
			return err
		}
	}
	f.store(row, b, s.to)
	return nil
}

// stored is a message the fault server stored.
type stored struct {
	row int
	at  time.Time
	to  []string // the envelope recipients
	msg []byte
}

// messages returns the messages stored so far, in order.
func (f *faultServer) messages() []stored {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stored(nil), f.stored...)
}

// rcpts returns how many times each recipient was given in RCPT.
func (f *faultServer) rcpts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.rcptTries))
	for k, v := range f.rcptTries {
		m[k] = v
	}
	return m
}

func (f *faultServer) store(row int, b []byte, to []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got[row]++
	f.total++
	f.stored = append(f.stored, stored{row: row, at: time.Now(), to: append([]string(nil), to...), msg: b})
	if m := msgIDHeader.FindSubmatch(b); m != nil {
		id := string(bytes.TrimSpace(m[1]))
		if old, ok := f.ids[row]; ok && old != id {
			f.t.Errorf("row %d re-sent with another Message-ID: %s then %s", row, old, id)
		}
		f.ids[row] = id
	}
}

func smtpErr(code int, enh string, msg string) error {
	var e smtp.EnhancedCode
	fmt.Sscanf(enh, "%d.%d.%d", &e[0], &e[1], &e[2])
	return &smtp.SMTPError{Code: code, EnhancedCode: e, Message: msg}
}

// fast are retry settings for tests.
func fast(cfg *batch.Config) {
	cfg.RetryBase = 5 * time.Millisecond
	cfg.RetryMax = 50 * time.Millisecond
	cfg.RetryFor = 10 * time.Second
	cfg.Quiet = 50 * time.Millisecond
}

func runBatch(t testing.TB, cfg batch.Config) (*batch.Summary, map[int]batch.RowResult) {
	t.Helper()
	results := map[int]batch.RowResult{}
	var mu sync.Mutex
	cfg.OnRow = func(r batch.RowResult) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := results[r.Row]; dup {
			t.Errorf("row %d reported twice", r.Row)
		}
		results[r.Row] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, _ := batch.Run(ctx, cfg)
	return s, results
}

func secretOf(s string) secret.Secret { return secret.New(s) }
