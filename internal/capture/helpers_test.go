package capture

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer starts a server on 127.0.0.1:0 with a fresh Maildir (unless
// cfg names one) and a log buffer (unless cfg has a Log), closed at cleanup.
func startServer(t *testing.T, cfg Config) (*Server, *lockedBuffer) {
	t.Helper()
	if cfg.Maildir == "" {
		cfg.Maildir = filepath.Join(t.TempDir(), "Maildir")
	}
	logBuf := &lockedBuffer{}
	if cfg.Log == nil {
		cfg.Log = logBuf
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logBuf)
		}
	})
	return s, logBuf
}

// files lists the names in the Maildir subdirectory sub, sorted; a missing
// directory is empty.
func files(t *testing.T, s *Server, sub string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.cfg.Maildir, sub))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// assertNothingStored fails unless tmp/ and new/ are empty.
func assertNothingStored(t *testing.T, s *Server) {
	t.Helper()
	if f := files(t, s, "new"); len(f) != 0 {
		t.Errorf("new/ holds %v, want nothing", f)
	}
	if f := files(t, s, "tmp"); len(f) != 0 {
		t.Errorf("tmp/ holds %v, want nothing", f)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func clientTLS(s *Server) *tls.Config {
	return &tls.Config{RootCAs: s.RootCAs(), ServerName: "localhost"}
}

// dialClient connects go-smtp's client in the given mode: "starttls",
// "implicit" or "plain".
func dialClient(t *testing.T, s *Server, mode string) *smtp.Client {
	t.Helper()
	var (
		c   *smtp.Client
		err error
	)
	switch mode {
	case "starttls":
		c, err = smtp.DialStartTLS(s.Addr(), clientTLS(s))
	case "implicit":
		c, err = smtp.DialTLS(s.Addr(), clientTLS(s))
	case "plain":
		c, err = smtp.Dial(s.Addr())
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send runs one transaction and returns the final reply's text.
func send(c *smtp.Client, from string, to []string, msg string) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

// cramClient is a CRAM-MD5 sasl.Client (go-sasl has none).
type cramClient struct{ user, password string }

func (c cramClient) Start() (string, []byte, error) { return MechCRAMMD5, nil, nil }
func (c cramClient) Next(challenge []byte) ([]byte, error) {
	return []byte(c.user + " " + cramDigest(c.password, challenge)), nil
}

// wire is a raw SMTP client for exact checks of the conversation.
type wire struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dialWire(t *testing.T, s *Server, implicitTLS bool) *wire {
	t.Helper()
	var (
		conn net.Conn
		err  error
	)
	if implicitTLS {
		conn, err = tls.Dial("tcp", s.Addr(), clientTLS(s))
	} else {
		conn, err = net.Dial("tcp", s.Addr())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	w := &wire{t: t, conn: conn, tp: textproto.NewConn(conn)}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	w.expect("220 ")
	return w
}

// reply reads one (possibly multi-line) reply as "CODE text" lines joined
// with "\n", the code repeated on each line.
func (w *wire) reply() string {
	w.t.Helper()
	var lines []string
	for {
		line, err := w.tp.ReadLine()
		if err != nil {
			w.t.Fatalf("reading reply: %v (so far %q)", err, lines)
		}
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// expect reads a reply and checks that its last line starts with prefix.
func (w *wire) expect(prefix string) string {
	w.t.Helper()
	r := w.reply()
	last := r[strings.LastIndexByte(r, '\n')+1:]
	if !strings.HasPrefix(last, prefix) {
		w.t.Fatalf("reply %q, want %q...", r, prefix)
	}
	return r
}

// cmd sends a command line and checks the reply.
func (w *wire) cmd(line, want string) string {
	w.t.Helper()
	if err := w.tp.PrintfLine("%s", line); err != nil {
		w.t.Fatal(err)
	}
	return w.expect(want)
}

// raw writes bytes as they are.
func (w *wire) raw(s string) {
	w.t.Helper()
	if _, err := w.tp.W.WriteString(s); err != nil {
		w.t.Fatal(err)
	}
	if err := w.tp.W.Flush(); err != nil {
		w.t.Fatal(err)
	}
}

// starttls upgrades the connection.
func (w *wire) starttls(s *Server) {
	w.t.Helper()
	w.cmd("STARTTLS", "220 ")
	tc := tls.Client(w.conn, clientTLS(s))
	if err := tc.Handshake(); err != nil {
		w.t.Fatal(err)
	}
	w.conn = tc
	w.tp = textproto.NewConn(tc)
}

// ehloCaps sends EHLO and returns the capability lines (without the code).
func (w *wire) ehloCaps() []string {
	w.t.Helper()
	r := w.cmd("EHLO client.example", "250 ")
	var caps []string
	for _, line := range strings.Split(r, "\n")[1:] {
		caps = append(caps, line[4:])
	}
	return caps
}
