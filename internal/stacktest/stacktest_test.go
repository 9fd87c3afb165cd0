package stacktest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	t.Setenv("MAILSCRIPT_STACK", "/tmp/stack")
	t.Setenv("MAILSCRIPT_STACK_SMTP", "127.0.0.1:10025")
	t.Setenv("MAILSCRIPT_STACK_SUBMISSION", "127.0.0.1:10587")
	t.Setenv("MAILSCRIPT_STACK_SMTPS", "127.0.0.1:10465")
	t.Setenv("MAILSCRIPT_STACK_IMAP", "127.0.0.1:10143")
	t.Setenv("MAILSCRIPT_STACK_CYRUS", "127.0.0.1:10588")
	t.Setenv("MAILSCRIPT_STACK_CA", "/tmp/stack/tls/ca.pem")
	for _, n := range UserNames {
		p := "MAILSCRIPT_STACK_" + strings.ToUpper(n) + "_"
		t.Setenv(p+"USER", n+"@example.test")
		t.Setenv(p+"PASSWORD", n+"-pw")
		t.Setenv(p+"MAILDIR", "/tmp/stack/mail/"+n+"/Maildir")
	}
	s, ok := Load()
	if !ok {
		t.Fatal("Load: ok=false with MAILSCRIPT_STACK set")
	}
	want := Stack{
		Dir: "/tmp/stack", SMTP: "127.0.0.1:10025", Submission: "127.0.0.1:10587",
		SMTPS: "127.0.0.1:10465", Cyrus: "127.0.0.1:10588", IMAP: "127.0.0.1:10143", CAFile: "/tmp/stack/tls/ca.pem",
	}
	got := s
	got.Users = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v, want %+v", got, want)
	}
	if len(s.Users) != 3 {
		t.Fatalf("Users = %v, want 3", s.Users)
	}
	bob := s.Users["bob"]
	if bob != (User{Address: "bob@example.test", Login: "bob@example.test", Password: "bob-pw", Maildir: "/tmp/stack/mail/bob/Maildir"}) {
		t.Errorf("Users[bob] = %+v", bob)
	}
	if m := s.missing(); len(m) != 0 {
		t.Errorf("missing() = %v, want none", m)
	}

	t.Setenv("MAILSCRIPT_STACK_CAROL_PASSWORD", "")
	t.Setenv("MAILSCRIPT_STACK_IMAP", "")
	s, _ = Load()
	if m := strings.Join(s.missing(), " "); m != "MAILSCRIPT_STACK_IMAP MAILSCRIPT_STACK_CAROL_PASSWORD" {
		t.Errorf("missing() = %q", m)
	}
}

func TestLoadUnset(t *testing.T) {
	t.Setenv("MAILSCRIPT_STACK", "")
	if s, ok := Load(); ok {
		t.Fatalf("Load with MAILSCRIPT_STACK unset = %+v, true", s)
	}
}

func TestRequireWithoutStack(t *testing.T) {
	t.Setenv("MAILSCRIPT_STACK", "")
	t.Setenv("MAILSCRIPT_REQUIRE_STACK", "")
	f := &fakeTB{TB: t}
	Require(f)
	if f.failed != "" || !strings.Contains(f.skipped, ".ci/mailstack/start.sh DIR") {
		t.Errorf("without MAILSCRIPT_REQUIRE_STACK: failed=%q skipped=%q, want a skip", f.failed, f.skipped)
	}

	t.Setenv("MAILSCRIPT_REQUIRE_STACK", "1")
	f = &fakeTB{TB: t}
	Require(f)
	if f.skipped != "" || !strings.Contains(f.failed, "MAILSCRIPT_REQUIRE_STACK=1") {
		t.Errorf("with MAILSCRIPT_REQUIRE_STACK=1: failed=%q skipped=%q, want a failure", f.failed, f.skipped)
	}

	// A stack dir without the rest of the environment is a failure too.
	t.Setenv("MAILSCRIPT_REQUIRE_STACK", "")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MAILSCRIPT_STACK_") {
			t.Setenv(k, "")
		}
	}
	t.Setenv("MAILSCRIPT_STACK", "/nonexistent")
	f = &fakeTB{TB: t}
	Require(f)
	if !strings.Contains(f.failed, "MAILSCRIPT_STACK_SMTP") {
		t.Errorf("incomplete environment: failed=%q skipped=%q, want a failure naming MAILSCRIPT_STACK_SMTP", f.failed, f.skipped)
	}
}

// fakeTB records Fatal instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	failed, skipped string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatal(args ...any)              { f.failed = fmt.Sprint(args...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestWaitMessageFakeMaildir(t *testing.T) {
	md := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(sub, name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(md, sub, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("new", "1.a", "Subject: one\r\nMessage-Id: <1@x>\r\n\r\nneedle-A\r\n")
	write("cur", "2.b:2,S", "Subject: two\r\n\r\nneedle-A needle-B\r\n")
	write("tmp", "3.c", "needle-A (not delivered yet)\r\n")
	u := User{Address: "a@example.test", Maildir: md}

	if n := u.CountMessages("needle-A"); n != 2 {
		t.Errorf("CountMessages(needle-A) = %d, want 2", n)
	}
	if n := u.CountMessages("nothing"); n != 0 {
		t.Errorf("CountMessages(nothing) = %d, want 0", n)
	}
	if got := string(u.WaitMessage(t, "needle-B", time.Second)); !strings.Contains(got, "Subject: two") {
		t.Errorf("WaitMessage(needle-B) = %q", got)
	}

	// A message arriving while waiting is found.
	go func() {
		time.Sleep(100 * time.Millisecond)
		write("new", "4.d", "Subject: late\r\n\r\nneedle-C\r\n")
	}()
	if got := string(u.WaitMessage(t, "needle-C", 5*time.Second)); !strings.Contains(got, "late") {
		t.Errorf("WaitMessage(needle-C) = %q", got)
	}

	// On timeout the failure lists what is there.
	f := &fakeTB{TB: t}
	if got := u.WaitMessage(f, "absent", 100*time.Millisecond); got != nil {
		t.Errorf("WaitMessage(absent) = %q, want nil", got)
	}
	for _, want := range []string{`"absent"`, "3 message(s)", "Subject: one", "Message-Id: <1@x>", "Subject: late"} {
		if !strings.Contains(f.failed, want) {
			t.Errorf("failure message %q lacks %q", f.failed, want)
		}
	}
}

// TestStackDelivery sends through the real stack's plain port and finds the
// message in the Maildir.
func TestStackDelivery(t *testing.T) {
	s := Require(t)
	alice, bob := s.User(t, "alice"), s.User(t, "bob")
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	needle := "stacktest-" + hex.EncodeToString(b[:])
	msg := "From: " + bob.Address + "\r\n" +
		"To: " + alice.Address + "\r\n" +
		"Subject: " + needle + "\r\n" +
		"Message-Id: <" + needle + "@example.test>\r\n" +
		"\r\n" +
		"body " + needle + "\r\n"
	if err := smtp.SendMail(s.SMTP, nil, bob.Address, []string{alice.Address}, []byte(msg)); err != nil {
		t.Fatalf("SendMail via %s: %v", s.SMTP, err)
	}
	got := alice.WaitMessage(t, needle, 20*time.Second)
	if !strings.Contains(string(got), "Delivered-To: "+alice.Address) {
		t.Errorf("delivered message lacks Delivered-To header:\n%s", got)
	}
	if n := alice.CountMessages(needle); n != 1 {
		t.Errorf("CountMessages = %d, want 1", n)
	}
	if n := bob.CountMessages(needle); n != 0 {
		t.Errorf("bob got %d copies, want 0", n)
	}
}
