package capture

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// A message with lines that need dot-stuffing, 8-bit text and a line of
// exactly 998 octets.
var testMessage = "From: sender@example.com\r\n" +
	"To: rcpt@example.com\r\n" +
	"Subject: capture test\r\n" +
	"\r\n" +
	".leading dot\r\n" +
	"..two dots\r\n" +
	".\r\n" +
	"8-bit: caf\xc3\xa9\r\n" +
	strings.Repeat("x", 998) + "\r\n"

var queuedRe = regexp.MustCompile(`^2\.0\.0 Ok: queued as ([0-9A-F]{10})$`)

func TestSendAndStore(t *testing.T) {
	users := map[string]string{rfcUser: rfcPassword}
	clients := map[string]func(user, password string) sasl.Client{
		MechPlain:   func(u, p string) sasl.Client { return sasl.NewPlainClient("", u, p) },
		MechLogin:   func(u, p string) sasl.Client { return sasl.NewLoginClient(u, p) },
		MechCRAMMD5: func(u, p string) sasl.Client { return cramClient{u, p} },
	}
	for _, mode := range []string{"starttls", "implicit"} {
		for _, mech := range mechanisms {
			for _, good := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/good=%v", mode, mech, good)
				t.Run(name, func(t *testing.T) {
					var delivered []Delivery
					var mu sync.Mutex
					s, logBuf := startServer(t, Config{
						Users:       users,
						ImplicitTLS: mode == "implicit",
						RequireAuth: true,
						RequireTLS:  true,
						OnDeliver: func(d Delivery) {
							mu.Lock()
							delivered = append(delivered, d)
							mu.Unlock()
						},
					})
					c := dialClient(t, s, mode)
					password := rfcPassword
					if !good {
						password = "guess"
					}
					err := c.Auth(clients[mech](rfcUser, password))
					if !good {
						var se *smtp.SMTPError
						if !errors.As(err, &se) || se.Code != 535 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8}) {
							t.Fatalf("Auth with a wrong password: %v, want 535 5.7.8", err)
						}
						_, err := send(c, "sender@example.com", []string{"rcpt@example.com"}, testMessage)
						if !errors.As(err, &se) || se.Code != 530 {
							t.Fatalf("send after failed AUTH: %v, want 530", err)
						}
						if !strings.Contains(logBuf.String(), "auth failed") {
							t.Errorf("log has no failed auth:\n%s", logBuf)
						}
						assertNothingStored(t, s)
						return
					}
					if err != nil {
						t.Fatalf("Auth: %v", err)
					}
					to := []string{"rcpt@example.com", "bcc@example.org"}
					text, err := send(c, "sender@example.com", to, testMessage)
					if err != nil {
						t.Fatalf("send: %v", err)
					}
					m := queuedRe.FindStringSubmatch(text)
					if m == nil {
						t.Fatalf("final reply %q, want 2.0.0 Ok: queued as <ID>", text)
					}
					if err := c.Quit(); err != nil {
						t.Fatal(err)
					}

					names := files(t, s, "new")
					if len(names) != 1 {
						t.Fatalf("new/ holds %v, want one message", names)
					}
					got, err := os.ReadFile(filepath.Join(s.cfg.Maildir, "new", names[0]))
					if err != nil {
						t.Fatal(err)
					}
					want := "Return-Path: <sender@example.com>\r\n" +
						"X-Original-To: <rcpt@example.com>\r\n" +
						"X-Original-To: <bcc@example.org>\r\n" +
						testMessage
					if string(got) != want {
						t.Errorf("stored message:\n%q\nwant:\n%q", got, want)
					}
					if f := files(t, s, "tmp"); len(f) != 0 {
						t.Errorf("tmp/ holds %v", f)
					}

					mu.Lock()
					defer mu.Unlock()
					if len(delivered) != 1 {
						t.Fatalf("OnDeliver called %d times, want 1", len(delivered))
					}
					d := delivered[0]
					wantD := Delivery{
						Path:      filepath.Join(s.cfg.Maildir, "new", names[0]),
						From:      "sender@example.com",
						To:        to,
						Size:      int64(len(testMessage)),
						QueueID:   m[1],
						User:      rfcUser,
						Mechanism: mech,
						TLS:       true,
					}
					if d.Path != wantD.Path || d.From != wantD.From || !slices.Equal(d.To, wantD.To) ||
						d.Size != wantD.Size || d.QueueID != wantD.QueueID || d.User != wantD.User ||
						d.Mechanism != wantD.Mechanism || d.TLS != wantD.TLS {
						t.Errorf("Delivery = %+v\nwant %+v", d, wantD)
					}
					if !strings.Contains(names[0], "R"+strings.ToLower(m[1])+".") {
						t.Errorf("file name %s does not carry the queue ID %s", names[0], m[1])
					}
				})
			}
		}
	}
}

// The RFC 2195 exchange, byte for byte on the wire, with the challenge
// injected.
func TestCRAMMD5OnTheWire(t *testing.T) {
	for _, tt := range []struct {
		name, response, want string
	}{
		{"rfc 2195 response", rfcResponse, "235 2.0.0 "},
		{"wrong digest", base64.StdEncoding.EncodeToString([]byte("tim " + strings.Repeat("0", 32))), "535 5.7.8 "},
		{"not base64", "%%%", "454 4.7.0 "},
		{"malformed", base64.StdEncoding.EncodeToString([]byte("tim")), "501 5.5.2 "},
		{"cancelled", "*", "501 5.0.0 "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := startServer(t, Config{
				Users:     map[string]string{rfcUser: rfcPassword},
				challenge: func() string { return rfcChallenge },
			})
			w := dialWire(t, s, false)
			w.ehloCaps()
			// The RFC's own base64 of the challenge.
			w.cmd("AUTH CRAM-MD5", "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
			w.cmd(tt.response, tt.want)
		})
	}
}

func TestCapabilities(t *testing.T) {
	base := []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 52428800", "SMTPUTF8"}
	auth := "AUTH PLAIN LOGIN CRAM-MD5"
	for _, tt := range []struct {
		name     string
		cfg      Config
		implicit bool
		before   []string // capabilities required before STARTTLS (or on implicit TLS)
		absent   []string // and absent
		after    []string // after STARTTLS (nil: no STARTTLS)
	}{
		{"starttls", Config{}, false, append([]string{"STARTTLS", auth}, base...), nil, []string{auth}},
		{"require tls hides auth", Config{RequireTLS: true}, false, append([]string{"STARTTLS"}, base...), []string{auth}, []string{auth}},
		{"implicit", Config{ImplicitTLS: true}, true, append([]string{auth}, base...), []string{"STARTTLS"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := startServer(t, tt.cfg)
			w := dialWire(t, s, tt.implicit)
			caps := w.ehloCaps()
			for _, c := range tt.before {
				if !slices.Contains(caps, c) {
					t.Errorf("EHLO %q lacks %q", caps, c)
				}
			}
			for _, c := range tt.absent {
				if slices.Contains(caps, c) {
					t.Errorf("EHLO %q has %q", caps, c)
				}
			}
			if tt.after == nil {
				return
			}
			w.starttls(s)
			caps = w.ehloCaps()
			for _, c := range tt.after {
				if !slices.Contains(caps, c) {
					t.Errorf("EHLO after STARTTLS %q lacks %q", caps, c)
				}
			}
			if slices.Contains(caps, "STARTTLS") {
				t.Errorf("EHLO after STARTTLS still offers STARTTLS")
			}
		})
	}
}

func TestPolicyReplies(t *testing.T) {
	plain := base64.StdEncoding.EncodeToString([]byte("\x00tim\x00" + rfcPassword))
	t.Run("require tls refuses auth", func(t *testing.T) {
		s, _ := startServer(t, Config{RequireTLS: true})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("AUTH PLAIN "+plain, "538 5.7.11 ")
		w.starttls(s)
		w.ehloCaps()
		w.cmd("AUTH PLAIN "+plain, "235 2.0.0 ")
	})
	t.Run("require auth refuses mail", func(t *testing.T) {
		s, _ := startServer(t, Config{RequireAuth: true})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("MAIL FROM:<a@example.com>", "530 5.7.0 ")
		w.cmd("AUTH PLAIN "+plain, "235 2.0.0 ")
		w.cmd("MAIL FROM:<a@example.com>", "250 ")
	})
	t.Run("users refuse strangers", func(t *testing.T) {
		s, _ := startServer(t, Config{Users: map[string]string{"bob": "secret"}})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("AUTH PLAIN "+plain, "535 5.7.8 ")
		w.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00bob\x00secret")), "235 ")
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		s, _ := startServer(t, Config{})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("AUTH DIGEST-MD5", "504 5.7.4 ")
	})
	t.Run("max recipients", func(t *testing.T) {
		s, _ := startServer(t, Config{MaxRecipients: 2})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("MAIL FROM:<a@example.com>", "250 ")
		w.cmd("RCPT TO:<b@example.com>", "250 ")
		w.cmd("RCPT TO:<c@example.com>", "250 ")
		w.cmd("RCPT TO:<d@example.com>", "452 4.5.3 ")
	})
	t.Run("pipelining", func(t *testing.T) {
		s, _ := startServer(t, Config{})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.raw("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n")
		for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
			w.expect(want)
		}
		w.raw("Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n")
		w.expect("250 2.0.0 Ok: queued as ")
		w.expect("221 ")
		if n := len(files(t, s, "new")); n != 1 {
			t.Errorf("%d messages stored, want 1", n)
		}
	})
	t.Run("declared size", func(t *testing.T) {
		s, _ := startServer(t, Config{MaxMessageBytes: 1000})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("MAIL FROM:<a@example.com> SIZE=1001", "552 5.3.4 ")
		w.cmd("MAIL FROM:<a@example.com> SIZE=1000", "250 ")
	})
}

// Message contents on the wire: what is stored, what is refused. After a
// refusal the session goes on and nothing is left in the Maildir.
func TestDataContent(t *testing.T) {
	const hdr = "Subject: t\r\n\r\n"
	for _, tt := range []struct {
		name   string
		wire   string // after DATA, up to and including the end marker
		reply  string
		stored string // expected body when stored
	}{
		{"plain", hdr + "hello\r\n.\r\n", "250 2.0.0 Ok: queued as ", hdr + "hello\r\n"},
		{"dot-unstuffing", hdr + "..one\r\n...\r\n. x\r\n.\r\n", "250 2.0.0 ", hdr + ".one\r\n..\r\n x\r\n"},
		{"empty message", ".\r\n", "250 2.0.0 ", ""},
		{"998-octet line", strings.Repeat("y", 998) + "\r\n.\r\n", "250 2.0.0 ", strings.Repeat("y", 998) + "\r\n"},
		{"999-octet line", strings.Repeat("y", 999) + "\r\n.\r\n", "550 5.6.0 Message refused: line 1 is longer than 998 octets", ""},
		{"very long line", hdr + strings.Repeat("z", 5000) + "\r\n.\r\n", "550 5.6.0 Message refused: line 3 ", ""},
		{"bare CR", hdr + "a\rb\r\n.\r\n", "550 5.6.0 Message refused: bare CR in line 3", ""},
		{"bare LF", hdr + "a\nb\r\n.\r\n", "550 5.6.0 Message refused: bare LF in line 3", ""},
		// go-smtp misses the end marker in "\r\r\n.\r\n", hence the extra line.
		{"CR before CRLF", hdr + "a\r\r\nb\r\n.\r\n", "550 5.6.0 Message refused: bare CR in line 3", ""},
		{"smuggling LF.CRLF", hdr + "hi\r\n\n.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nsmuggled\r\n.\r\n",
			"550 5.6.0 Message refused: bare LF", ""},
		{"smuggling CR.CR", hdr + "hi\r.\rMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nsmuggled\r\n.\r\n",
			"550 5.6.0 Message refused: bare CR", ""},
		{"too large", hdr + strings.Repeat(strings.Repeat("s", 98)+"\r\n", 20) + ".\r\n", "552 5.3.4 ", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := startServer(t, Config{MaxMessageBytes: 1500})
			w := dialWire(t, s, false)
			w.ehloCaps()
			w.cmd("MAIL FROM:<a@example.com>", "250 ")
			w.cmd("RCPT TO:<b@example.com>", "250 ")
			w.cmd("DATA", "354 ")
			w.raw(tt.wire)
			w.expect(tt.reply)
			// The session is still usable and in sync: nothing smuggled.
			w.cmd("NOOP", "250 ")
			w.cmd("QUIT", "221 ")

			if !strings.HasPrefix(tt.reply, "250") {
				assertNothingStored(t, s)
				return
			}
			names := files(t, s, "new")
			if len(names) != 1 {
				t.Fatalf("new/ holds %v, want one message", names)
			}
			got, err := os.ReadFile(filepath.Join(s.cfg.Maildir, "new", names[0]))
			if err != nil {
				t.Fatal(err)
			}
			want := "Return-Path: <a@example.com>\r\nX-Original-To: <b@example.com>\r\n" + tt.stored
			if string(got) != want {
				t.Errorf("stored %q, want %q", got, want)
			}
		})
	}
}

func TestNullSenderAndMaildirLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "outbox")
	s, _ := startServer(t, Config{Maildir: root})
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Maildir created before any delivery (stat: %v)", err)
	}
	c := dialClient(t, s, "starttls")
	if _, err := send(c, "", []string{"b@example.com"}, "Subject: bounce\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		fi, err := os.Stat(filepath.Join(root, sub))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 || !fi.IsDir() {
			t.Errorf("%s: mode %v, want drwx------", sub, fi.Mode())
		}
	}
	names := files(t, s, "new")
	if len(names) != 1 {
		t.Fatalf("new/ holds %v", names)
	}
	// <unixtime>.<unique>.<host>
	if !regexp.MustCompile(`^\d+\.M\d{6}P\d+Q\d+R[0-9a-f]{10}\.[^/:]+$`).MatchString(names[0]) {
		t.Errorf("file name %q is not a Maildir name", names[0])
	}
	path := filepath.Join(root, "new", names[0])
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("message mode %v, want -rw-------", fi.Mode())
	}
	got, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(got), "Return-Path: <>\r\nX-Original-To: <b@example.com>\r\nSubject: bounce") {
		t.Errorf("stored %q", got)
	}
}

// CHUNKING is always on in go-smtp: BDAT goes through the same checks.
func TestBDAT(t *testing.T) {
	for _, tt := range []struct {
		name    string
		chunks  []string
		replies []string
		stored  string
	}{
		{"two chunks", []string{"Subject: b\r\n", "\r\nbody\r\n"}, []string{"250 ", "250 2.0.0 Ok: queued as "}, "Subject: b\r\n\r\nbody\r\n"},
		{"no unstuffing", []string{"..dots\r\n.\r\n"}, []string{"250 2.0.0 Ok: queued as "}, "..dots\r\n.\r\n"},
		{"bare LF", []string{"Subject: b\n\r\n"}, []string{"550 5.6.0 "}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := startServer(t, Config{})
			w := dialWire(t, s, false)
			w.ehloCaps()
			w.cmd("MAIL FROM:<a@example.com>", "250 ")
			w.cmd("RCPT TO:<b@example.com>", "250 ")
			for i, chunk := range tt.chunks {
				last := ""
				if i == len(tt.chunks)-1 {
					last = " LAST"
				}
				w.raw(fmt.Sprintf("BDAT %d%s\r\n%s", len(chunk), last, chunk))
				w.expect(tt.replies[i])
			}
			w.cmd("NOOP", "250 ")
			if tt.stored == "" {
				assertNothingStored(t, s)
				return
			}
			names := files(t, s, "new")
			if len(names) != 1 {
				t.Fatalf("new/ holds %v", names)
			}
			got, _ := os.ReadFile(filepath.Join(s.cfg.Maildir, "new", names[0]))
			if want := "Return-Path: <a@example.com>\r\nX-Original-To: <b@example.com>\r\n" + tt.stored; string(got) != want {
				t.Errorf("stored %q, want %q", got, want)
			}
		})
	}
}

func TestInternationalAddresses(t *testing.T) {
	s, _ := startServer(t, Config{})
	c := dialClient(t, s, "starttls")
	if _, err := send(c, "jos\u00e9@exampl\u00e9.com", []string{"\u00fc@b\u00fccher.example"}, "Subject: i18n\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	names := files(t, s, "new")
	if len(names) != 1 {
		t.Fatalf("new/ holds %v", names)
	}
	got, _ := os.ReadFile(filepath.Join(s.cfg.Maildir, "new", names[0]))
	want := "Return-Path: <jos\u00e9@exampl\u00e9.com>\r\nX-Original-To: <\u00fc@b\u00fccher.example>\r\n"
	if !strings.HasPrefix(string(got), want) {
		t.Errorf("stored %q, want it to start with %q", got, want)
	}
}

func TestStartErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no maildir", Config{}},
		{"maildir is a file", Config{Maildir: file}},
		{"bad address", Config{Maildir: t.TempDir(), Addr: "127.0.0.1:http-nope"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
}

// A client that vanishes in the middle of DATA leaves nothing behind.
func TestAbortedData(t *testing.T) {
	s, logBuf := startServer(t, Config{})
	w := dialWire(t, s, false)
	w.ehloCaps()
	w.cmd("MAIL FROM:<a@example.com>", "250 ")
	w.cmd("RCPT TO:<b@example.com>", "250 ")
	w.cmd("DATA", "354 ")
	w.raw("Subject: half\r\n\r\nthe first half\r\n")
	waitFor(t, "the tmp file", func() bool { return len(files(t, s, "tmp")) == 1 })
	w.conn.Close()
	waitFor(t, "the cleanup", func() bool { return len(files(t, s, "tmp")) == 0 })
	assertNothingStored(t, s)
	waitFor(t, "the log line", func() bool { return strings.Contains(logBuf.String(), "refused ") })
}

// ReadTimeout is an idle timeout inside DATA: a slow sender gets through, a
// stalled one is cut off (go-smtp alone would read the rest of the message
// as commands) and nothing is stored.
func TestDataTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	t.Run("slow but steady", func(t *testing.T) {
		s, _ := startServer(t, Config{ReadTimeout: timeout})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("MAIL FROM:<a@example.com>", "250 ")
		w.cmd("RCPT TO:<b@example.com>", "250 ")
		w.cmd("DATA", "354 ")
		for i := range 6 {
			w.raw(fmt.Sprintf("line %d\r\n", i))
			time.Sleep(timeout / 3)
		}
		w.raw(".\r\n")
		w.expect("250 2.0.0 ")
	})
	t.Run("stalled", func(t *testing.T) {
		s, logBuf := startServer(t, Config{ReadTimeout: timeout})
		w := dialWire(t, s, false)
		w.ehloCaps()
		w.cmd("MAIL FROM:<a@example.com>", "250 ")
		w.cmd("RCPT TO:<b@example.com>", "250 ")
		w.cmd("DATA", "354 ")
		w.raw("Subject: stall\r\n\r\nQUIT\r\n")
		start := time.Now()
		line, err := w.tp.ReadLine()
		if err == nil {
			t.Fatalf("got %q, want the connection closed", line)
		}
		if d := time.Since(start); d > 5*timeout {
			t.Errorf("connection closed after %v, want about %v", d, timeout)
		}
		assertNothingStored(t, s)
		if !strings.Contains(logBuf.String(), "421 4.4.2") {
			t.Errorf("log lacks the timeout:\n%s", logBuf)
		}
	})
}

func TestConcurrentSessions(t *testing.T) {
	const clients, perClient = 8, 10
	var count atomic.Int64
	var ids sync.Map
	s, _ := startServer(t, Config{
		Users:     map[string]string{"u": "p"},
		OnDeliver: func(d Delivery) { count.Add(1); ids.Store(d.QueueID, d.Path) },
	})
	msg := func(i, j int) string {
		return fmt.Sprintf("Message-ID: <%d.%d@test>\r\nSubject: %d/%d\r\n\r\nbody %d %d\r\n", i, j, i, j, i, j)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := []string{"starttls", "plain"}[i%2]
			c := dialClient(t, s, mode)
			if err := c.Auth(sasl.NewPlainClient("", "u", "p")); err != nil {
				errs <- err
				return
			}
			for j := range perClient {
				if _, err := send(c, "a@example.com", []string{fmt.Sprintf("r%d@example.com", i)}, msg(i, j)); err != nil {
					errs <- fmt.Errorf("client %d message %d: %w", i, j, err)
					return
				}
			}
			errs <- c.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	names := files(t, s, "new")
	if len(names) != clients*perClient || count.Load() != clients*perClient {
		t.Fatalf("%d files, %d OnDeliver calls, want %d", len(names), count.Load(), clients*perClient)
	}
	seen := map[string]bool{}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(s.cfg.Maildir, "new", name))
		if err != nil {
			t.Fatal(err)
		}
		var i, j int
		body := string(b)
		k := strings.Index(body, "Message-ID: ")
		if _, err := fmt.Sscanf(body[k:], "Message-ID: <%d.%d@test>", &i, &j); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := fmt.Sprintf("Return-Path: <a@example.com>\r\nX-Original-To: <r%d@example.com>\r\n", i) + msg(i, j)
		if body != want {
			t.Errorf("%s = %q, want %q", name, body, want)
		}
		seen[fmt.Sprint(i, j)] = true
	}
	if len(seen) != clients*perClient {
		t.Errorf("%d distinct messages stored, want %d", len(seen), clients*perClient)
	}
	n := 0
	ids.Range(func(_, _ any) bool { n++; return true })
	if n != clients*perClient {
		t.Errorf("%d distinct queue IDs, want %d", n, clients*perClient)
	}
}

func TestClose(t *testing.T) {
	t.Run("waits for a delivery in progress", func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		s, _ := startServer(t, Config{OnDeliver: func(Delivery) {
			close(entered)
			<-release
		}})
		c := dialClient(t, s, "starttls")
		go send(c, "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\ny\r\n")
		<-entered
		closed := make(chan error)
		go func() { closed <- s.Close() }()
		select {
		case <-closed:
			t.Fatal("Close returned while OnDeliver was running")
		case <-time.After(200 * time.Millisecond):
		}
		close(release)
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		if n := len(files(t, s, "new")); n != 1 {
			t.Errorf("%d messages stored, want 1", n)
		}
	})
	t.Run("cuts idle sessions and transfers", func(t *testing.T) {
		s, _ := startServer(t, Config{})
		idle := dialWire(t, s, false)
		idle.ehloCaps()
		busy := dialWire(t, s, false)
		busy.ehloCaps()
		busy.cmd("MAIL FROM:<a@example.com>", "250 ")
		busy.cmd("RCPT TO:<b@example.com>", "250 ")
		busy.cmd("DATA", "354 ")
		busy.raw("Subject: cut\r\n\r\npart\r\n")
		waitFor(t, "the tmp file", func() bool { return len(files(t, s, "tmp")) == 1 })

		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close took %v", d)
		}
		assertNothingStored(t, s)
		for _, w := range []*wire{idle, busy} {
			w.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := w.tp.ReadLine(); err == nil {
				// A farewell line is fine; the connection must end.
				if _, err := w.tp.ReadLine(); err == nil {
					t.Error("connection still open after Close")
				}
			}
		}
		if _, err := net.Dial("tcp", s.Addr()); err == nil {
			t.Error("still listening after Close")
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := s.Wait(); err != nil {
			t.Errorf("Wait after Close: %v", err)
		}
	})
	t.Run("shutdown lets sessions finish", func(t *testing.T) {
		s, _ := startServer(t, Config{})
		c := dialClient(t, s, "starttls")
		if err := c.Noop(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done <- s.Shutdown(ctx)
		}()
		waitFor(t, "the listener to close", func() bool {
			conn, err := net.Dial("tcp", s.Addr())
			if err == nil {
				conn.Close()
			}
			return err != nil
		})
		if _, err := send(c, "a@example.com", []string{"b@example.com"}, "Subject: late\r\n\r\nstill welcome\r\n"); err != nil {
			t.Fatalf("send during Shutdown: %v", err)
		}
		select {
		case <-done:
			t.Fatal("Shutdown returned while a session was open")
		case <-time.After(100 * time.Millisecond):
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if n := len(files(t, s, "new")); n != 1 {
			t.Errorf("%d messages stored, want 1", n)
		}
	})
	t.Run("serve returns when ctx is done", func(t *testing.T) {
		s, _ := startServer(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Serve(ctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return")
		}
	})
}

func TestLog(t *testing.T) {
	s, logBuf := startServer(t, Config{Users: map[string]string{rfcUser: rfcPassword}})
	for _, a := range []sasl.Client{
		sasl.NewPlainClient("", rfcUser, "wrong-"+rfcPassword),
		sasl.NewLoginClient(rfcUser, rfcPassword),
	} {
		c := dialClient(t, s, "starttls")
		err := c.Auth(a)
		if err == nil {
			if _, err := send(c, "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\ny\r\n"); err != nil {
				t.Fatal(err)
			}
		}
		c.Quit()
	}
	s.Close()
	log := logBuf.String()
	for _, re := range []string{
		`(?m)^connect 127\.0\.0\.1:\d+$`,
		`(?m)^auth failed 127\.0\.0\.1:\d+ mech=PLAIN user="tim": Authentication credentials invalid$`,
		`(?m)^auth ok 127\.0\.0\.1:\d+ mech=LOGIN user="tim"$`,
		`(?m)^stored 127\.0\.0\.1:\d+ queue=[0-9A-F]{10} from=<a@example\.com> to=<b@example\.com> size=\d+ path=.*/new/\S+$`,
		`(?m)^disconnect 127\.0\.0\.1:\d+$`,
	} {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("log lacks %s:\n%s", re, log)
		}
	}
	for _, secret := range []string{rfcPassword, base64.StdEncoding.EncodeToString([]byte(rfcPassword))} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains the password (%s):\n%s", secret, log)
		}
	}
}

func TestCertificates(t *testing.T) {
	t.Run("NewSelfSigned", func(t *testing.T) {
		cert, pool, err := NewSelfSigned("localhost", "127.0.0.1", "::1")
		if err != nil {
			t.Fatal(err)
		}
		leaf := cert.Leaf
		key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
		if !ok || key.Curve != elliptic.P256() {
			t.Errorf("key %T, want ECDSA P-256", leaf.PublicKey)
		}
		// 90 days: longer than probe's default --min-days (14), short
		// enough that a leaked throwaway key soon stops mattering.
		if life := leaf.NotAfter.Sub(leaf.NotBefore); life > certLifetime+10*time.Minute || leaf.NotAfter.After(time.Now().Add(certLifetime+time.Minute)) || leaf.NotAfter.Before(time.Now().Add(89*24*time.Hour)) {
			t.Errorf("valid %v to %v, want about 90 days from now", leaf.NotBefore, leaf.NotAfter)
		}
		for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
				t.Errorf("verify %s: %v", name, err)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); err == nil {
			t.Error("certificate verifies for example.com")
		}
		if _, _, err := NewSelfSigned(); err == nil {
			t.Error("NewSelfSigned() with no host succeeded")
		}
	})
	t.Run("CertPEM is what a --tls-ca file holds", func(t *testing.T) {
		s, _ := startServer(t, Config{})
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.CertPEM()) {
			t.Fatalf("CertPEM %q holds no certificate", s.CertPEM())
		}
		for _, name := range []string{"127.0.0.1", "localhost"} {
			c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: pool, ServerName: name})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Noop(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if st, ok := c.TLSConnectionState(); !ok || len(st.VerifiedChains) == 0 {
				t.Errorf("%s: no verified chain", name)
			}
			c.Close()
		}
		// An unrelated pool does not trust it.
		other, _, _ := NewSelfSigned("localhost")
		otherPool := x509.NewCertPool()
		otherPool.AddCert(other.Leaf)
		c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: otherPool, ServerName: "localhost"})
		if err == nil {
			err = c.Noop()
			c.Close()
		}
		if err == nil {
			t.Error("handshake succeeded with an unrelated CA")
		}
	})
	t.Run("own TLSConfig", func(t *testing.T) {
		cert, pool, err := NewSelfSigned("localhost")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := startServer(t, Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ImplicitTLS: true})
		if s.RootCAs() != nil || s.CertPEM() != nil {
			t.Error("RootCAs/CertPEM set although TLSConfig was given")
		}
		c, err := smtp.DialTLS(s.Addr(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Noop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEnvelopeControlCharacters: go-smtp unquotes a quoted local part, so
// "a\rX"@evil arrives with a bare CR. Such an address is refused (553) and
// never reaches the stored header lines or the log; the session goes on.
func TestEnvelopeControlCharacters(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmd  string
		want string
	}{
		{"CR in a quoted sender", "MAIL FROM:<\"a\rX\"@evil.example>", "553 5.1.7 "},
		{"quoted-pair CR in the sender", "MAIL FROM:<\"a\\\rX\"@evil.example>", "553 5.1.7 "},
		{"CR in the sender's domain", "MAIL FROM:<a@evil\r.example>", "553 5.1.7 "},
		{"NUL in the sender", "MAIL FROM:<\"a\x00b\"@evil.example>", "553 5.1.7 "},
		{"DEL in the sender", "MAIL FROM:<\"a\x7fb\"@evil.example>", "553 5.1.7 "},
		{"ESC in the sender", "MAIL FROM:<\"a\x1b[2Jb\"@evil.example>", "553 5.1.7 "},
		{"CR in a quoted recipient", "RCPT TO:<\"b\rX-Injected: yes\"@evil.example>", "553 5.1.3 "},
		{"control in the recipient's domain", "RCPT TO:<b@evil\x01.example>", "553 5.1.3 "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, logBuf := startServer(t, Config{})
			w := dialWire(t, s, false)
			w.ehloCaps()
			if strings.HasPrefix(tt.cmd, "RCPT") {
				w.cmd("MAIL FROM:<a@example.com>", "250 ")
			}
			w.cmd(tt.cmd, tt.want)
			// The session is usable and the refused address is not kept.
			if strings.HasPrefix(tt.cmd, "MAIL") {
				w.cmd("MAIL FROM:<a@example.com>", "250 ")
			}
			w.cmd("RCPT TO:<b@example.com>", "250 ")
			w.cmd("DATA", "354 ")
			w.raw("Subject: t\r\n\r\nhi\r\n.\r\n")
			w.expect("250 2.0.0 ")
			w.cmd("QUIT", "221 ")
			names := files(t, s, "new")
			if len(names) != 1 {
				t.Fatalf("new/ holds %v, want one message", names)
			}
			got, err := os.ReadFile(filepath.Join(s.cfg.Maildir, "new", names[0]))
			if err != nil {
				t.Fatal(err)
			}
			want := "Return-Path: <a@example.com>\r\nX-Original-To: <b@example.com>\r\nSubject: t\r\n\r\nhi\r\n"
			if string(got) != want {
				t.Errorf("stored %q, want %q", got, want)
			}
			s.Close()
			log := logBuf.String()
			if strings.ContainsAny(strings.ReplaceAll(log, "\n", ""), "\r\x00\x01\x1b\x7f") {
				t.Errorf("log carries a control character: %q", log)
			}
			if !strings.Contains(log, "refused ") {
				t.Errorf("log lacks the refusal:\n%s", log)
			}
		})
	}
}

// TestEnvelopeQuotedLocalPart: go-smtp hands over "john smith"@x unquoted;
// the stored header lines and the log quote it again.
func TestEnvelopeQuotedLocalPart(t *testing.T) {
	s, logBuf := startServer(t, Config{})
	w := dialWire(t, s, false)
	w.ehloCaps()
	w.cmd(`MAIL FROM:<"john smith"@example.com>`, "250 ")
	w.cmd(`RCPT TO:<"a\"b\\c"@example.net>`, "250 ")
	w.cmd(`RCPT TO:<"a@b"@example.net>`, "250 ")
	w.cmd(`RCPT TO:<".dot"@example.net>`, "250 ")
	w.cmd(`RCPT TO:<"plain.user"@example.net>`, "250 ")
	w.cmd(`RCPT TO:<o'brien+tag@example.net>`, "250 ")
	w.cmd("DATA", "354 ")
	w.raw("Subject: t\r\n\r\nhi\r\n.\r\n")
	w.expect("250 2.0.0 ")
	w.cmd("QUIT", "221 ")
	names := files(t, s, "new")
	if len(names) != 1 {
		t.Fatalf("new/ holds %v, want one message", names)
	}
	got, err := os.ReadFile(filepath.Join(s.cfg.Maildir, "new", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := "Return-Path: <\"john smith\"@example.com>\r\n" +
		"X-Original-To: <\"a\\\"b\\\\c\"@example.net>\r\n" +
		"X-Original-To: <\"a@b\"@example.net>\r\n" +
		"X-Original-To: <\".dot\"@example.net>\r\n" +
		"X-Original-To: <plain.user@example.net>\r\n" +
		"X-Original-To: <o'brien+tag@example.net>\r\n" +
		"Subject: t\r\n\r\nhi\r\n"
	if string(got) != want {
		t.Errorf("stored:\n%s\nwant:\n%s", got, want)
	}
	s.Close()
	if log := logBuf.String(); !strings.Contains(log, `from=<"john smith"@example.com> to=<"a\"b\\c"@example.net>,<"a@b"@example.net>,`) {
		t.Errorf("log does not quote the local parts:\n%s", log)
	}
}
