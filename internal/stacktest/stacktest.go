// Package stacktest gives tests access to the private Postfix + Dovecot mail
// stack started by .ci/mailstack/start.sh.
//
// Start it (as root) and export its settings before running the tests:
//
//	.ci/mailstack/start.sh DIR && source DIR/env
//	go test ./...
//	.ci/mailstack/stop.sh DIR
//
// The stack listens on loopback: plain SMTP without AUTH (Stack.SMTP),
// submission with STARTTLS and AUTH (Stack.Submission), implicit TLS with AUTH
// (Stack.SMTPS) and IMAP (Stack.IMAP). Its certificate is signed by the CA in
// Stack.CAFile and is valid for "localhost" and 127.0.0.1. Mail for the users
// of the example.test domain is delivered into their Maildirs, which tests read
// with User.WaitMessage and User.CountMessages.
package stacktest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Environment variables written by start.sh into DIR/env.
const (
	// EnvStack holds the stack directory; when it is unset there is no stack.
	EnvStack = "MAILSCRIPT_STACK"
	// EnvRequire, set to "1", turns Require's skip into a failure (CI).
	EnvRequire = "MAILSCRIPT_REQUIRE_STACK"
)

// UserNames lists the stack's users, the keys of Stack.Users.
var UserNames = []string{"alice", "bob", "carol"}

// Stack describes the running private Postfix+Dovecot stack (from the
// MAILSCRIPT_STACK_* environment variables).
type Stack struct {
	// Dir is the stack directory (MAILSCRIPT_STACK), holding its logs.
	Dir string
	// SMTP is host:port of plain SMTP: no AUTH, no STARTTLS, accepts mail
	// for example.test only (MAILSCRIPT_STACK_SMTP).
	SMTP string
	// Submission is host:port of submission: STARTTLS offered, AUTH required
	// to send, AUTH offered in cleartext too (MAILSCRIPT_STACK_SUBMISSION).
	Submission string
	// SMTPS is host:port of SMTP over implicit TLS with AUTH required
	// (MAILSCRIPT_STACK_SMTPS).
	SMTPS string
	// Cyrus is host:port of a second submission listener whose SASL is
	// Cyrus SASL (sasldb) rather than Dovecot: NTLM, SCRAM-SHA-1/256,
	// DIGEST-MD5, CRAM-MD5, PLAIN, LOGIN (MAILSCRIPT_STACK_CYRUS).
	Cyrus string
	// IMAP is host:port of Dovecot's IMAP (MAILSCRIPT_STACK_IMAP).
	IMAP string
	// CAFile is the PEM file of the CA that signed the servers' certificate
	// (MAILSCRIPT_STACK_CA).
	CAFile string
	// Users is keyed "alice", "bob", "carol".
	Users map[string]User
}

// User is a mailbox of the stack.
type User struct {
	// Address is the mail address, e.g. alice@example.test.
	Address string
	// Login is the SASL/IMAP user name (the address).
	Login string
	// Password is the user's password (valid for every SASL mechanism).
	Password string
	// Maildir is the directory mail is delivered to (with new/, cur/, tmp/).
	Maildir string
}

// Load returns the stack from the environment, ok=false when MAILSCRIPT_STACK
// is unset.
func Load() (Stack, bool) {
	dir := os.Getenv(EnvStack)
	if dir == "" {
		return Stack{}, false
	}
	s := Stack{
		Dir:        dir,
		SMTP:       os.Getenv(EnvStack + "_SMTP"),
		Submission: os.Getenv(EnvStack + "_SUBMISSION"),
		SMTPS:      os.Getenv(EnvStack + "_SMTPS"),
		Cyrus:      os.Getenv(EnvStack + "_CYRUS"),
		IMAP:       os.Getenv(EnvStack + "_IMAP"),
		CAFile:     os.Getenv(EnvStack + "_CA"),
		Users:      make(map[string]User, len(UserNames)),
	}
	for _, name := range UserNames {
		p := EnvStack + "_" + strings.ToUpper(name) + "_"
		addr := os.Getenv(p + "USER")
		if addr == "" {
			continue
		}
		s.Users[name] = User{
			Address:  addr,
			Login:    addr,
			Password: os.Getenv(p + "PASSWORD"),
			Maildir:  os.Getenv(p + "MAILDIR"),
		}
	}
	return s, true
}

// missing lists the settings Load could not find.
func (s Stack) missing() []string {
	var m []string
	for _, kv := range [][2]string{
		{"_SMTP", s.SMTP}, {"_SUBMISSION", s.Submission}, {"_SMTPS", s.SMTPS},
		{"_CYRUS", s.Cyrus}, {"_IMAP", s.IMAP}, {"_CA", s.CAFile},
	} {
		if kv[1] == "" {
			m = append(m, EnvStack+kv[0])
		}
	}
	for _, name := range UserNames {
		u, ok := s.Users[name]
		p := EnvStack + "_" + strings.ToUpper(name) + "_"
		if !ok {
			m = append(m, p+"USER")
			continue
		}
		if u.Password == "" {
			m = append(m, p+"PASSWORD")
		}
		if u.Maildir == "" {
			m = append(m, p+"MAILDIR")
		}
	}
	return m
}

// Require returns the stack or skips the test with a message saying how to
// start it. When MAILSCRIPT_REQUIRE_STACK=1 it fails the test instead of
// skipping (in CI a skip is a failure). An incomplete environment always fails.
func Require(t testing.TB) Stack {
	t.Helper()
	s, ok := Load()
	if !ok {
		msg := "no private mail stack: as root run `.ci/mailstack/start.sh DIR && source DIR/env` " +
			"(stop it with `.ci/mailstack/stop.sh DIR`), or run `bash .ci/run`"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s is unset; %s", EnvRequire, EnvStack, msg)
		} else {
			t.Skip(msg)
		}
		return s // only reached with a fake testing.TB
	}
	if m := s.missing(); len(m) > 0 {
		t.Fatalf("%s=%s but these are unset (source %s/env): %s",
			EnvStack, s.Dir, s.Dir, strings.Join(m, ", "))
	}
	return s
}

// User returns the named user ("alice", "bob", "carol"), failing the test
// when there is none.
func (s Stack) User(t testing.TB, name string) User {
	t.Helper()
	u, ok := s.Users[name]
	if !ok {
		t.Fatalf("stacktest: no user %q in the stack", name)
	}
	return u
}

// message is one file of a Maildir.
type message struct {
	path string
	data []byte
}

// messages reads every message in new/ and cur/, oldest name first. Files
// that vanish while reading (Dovecot moving new/ to cur/) are skipped.
func (u User) messages() ([]message, error) {
	var out []message
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(u.Maildir, sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				if os.IsNotExist(err) {
					continue
				}
				return nil, err
			}
			out = append(out, message{path: p, data: data})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return filepath.Base(out[i].path) < filepath.Base(out[j].path)
	})
	return out, nil
}

// WaitMessage polls the user's Maildir new/ and cur/ for a message whose raw
// bytes contain needle, up to timeout, and returns its bytes. On timeout it
// fails the test, listing the messages that are there.
func (u User) WaitMessage(t testing.TB, needle string, timeout time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var (
		msgs []message
		err  error
	)
	for {
		msgs, err = u.messages()
		if err == nil {
			for _, m := range msgs {
				if bytes.Contains(m.data, []byte(needle)) {
					return m.data
				}
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stacktest: no message containing %q in %s after %v", needle, u.Maildir, timeout)
	if err != nil {
		fmt.Fprintf(&b, " (reading it: %v)", err)
	}
	fmt.Fprintf(&b, "; %d message(s) there:", len(msgs))
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n  %s: %s", filepath.Base(m.path), summary(m.data))
	}
	if dir := filepath.Dir(filepath.Dir(filepath.Dir(u.Maildir))); dir != "." {
		fmt.Fprintf(&b, "\n(see the logs in %s: postfix.log, dovecot.log)", dir)
	}
	t.Fatal(b.String())
	return nil
}

// CountMessages returns how many messages in the user's Maildir (new/ and
// cur/) contain needle, for "nothing delivered" checks. Errors count as 0.
func (u User) CountMessages(needle string) int {
	msgs, _ := u.messages()
	n := 0
	for _, m := range msgs {
		if bytes.Contains(m.data, []byte(needle)) {
			n++
		}
	}
	return n
}

// summary picks the Subject and Message-Id headers of a raw message.
func summary(data []byte) string {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	if bytes.Equal(head, data) {
		head, _, _ = bytes.Cut(data, []byte("\n\n"))
	}
	var parts []string
	for _, line := range strings.Split(string(head), "\n") {
		line = strings.TrimRight(line, "\r")
		l := strings.ToLower(line)
		if strings.HasPrefix(l, "subject:") || strings.HasPrefix(l, "message-id:") {
			parts = append(parts, line)
		}
	}
	parts = append(parts, fmt.Sprintf("%d bytes", len(data)))
	return strings.Join(parts, "; ")
}
