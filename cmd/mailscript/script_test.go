package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mailscript/mailscript/internal/capture"
	"github.com/mailscript/mailscript/internal/stacktest"
)

var update = flag.Bool("update", false, "update testscript golden files (cmp) in testdata")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mailscript": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI sessions in testdata/script against the
// in-process capture server.
func TestScripts(t *testing.T) {
	testscript.Run(t, params("testdata/script", nil))
}

// TestIntegration runs the sessions in testdata/integration against the
// real Postfix + Dovecot stack started by .ci/mailstack/start.sh.
func TestIntegration(t *testing.T) {
	st := stacktest.Require(t)
	testscript.Run(t, params("testdata/integration", func(e *testscript.Env) error {
		e.Setenv("STACK_SUBMISSION", st.Submission)
		e.Setenv("STACK_SMTPS", st.SMTPS)
		e.Setenv("STACK_SMTP", st.SMTP)
		e.Setenv("STACK_CYRUS", st.Cyrus)
		e.Setenv("STACK_CA", st.CAFile)
		e.Setenv("STACK_LMTP", filepath.Join(st.Dir, "dovecot", "run", "lmtp"))
		for name, u := range st.Users {
			up := strings.ToUpper(name)
			e.Setenv(up+"_ADDR", u.Address)
			e.Setenv(up+"_LOGIN", u.Login)
			e.Setenv(up+"_PASSWORD", u.Password)
			e.Setenv(up+"_MAILDIR", u.Maildir)
		}
		return nil
	}))
}

func params(dir string, setup func(*testscript.Env) error) testscript.Params {
	samples, _ := filepath.Abs("../../samples")
	return testscript.Params{
		Dir:           dir,
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("SAMPLES", samples)
			e.Setenv("TZ", "UTC")
			if setup != nil {
				return setup(e)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"capture":         cmdCapture,
			"maildir":         cmdMaildir,
			"nosecret":        cmdNoSecret,
			"mailfile":        cmdMailfile,
			"token":           cmdToken,
			"delivered":       cmdDelivered,
			"exits":           cmdExits,
			"envsubst":        cmdEnvsubst,
			"faultsmtp":       cmdFaultSMTP,
			"delivered-count": cmdDeliveredCount,
		},
	}
}

// cmdCapture starts an in-process capture server for the rest of the script:
//
//	capture [-implicit] [-user NAME PASSWORD] [-require-auth] DIR
//
// It sets $CAPTURE_ADDR (host:port) and writes the server's certificate to
// $WORK/capture-ca.pem.
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! capture")
	}
	cfg := capture.Config{Addr: "127.0.0.1:0"}
	for len(args) > 1 {
		switch args[0] {
		case "-implicit":
			cfg.ImplicitTLS = true
			args = args[1:]
		case "-require-auth":
			cfg.RequireAuth = true
			args = args[1:]
		case "-user":
			if len(args) < 4 {
				ts.Fatalf("usage: capture -user NAME PASSWORD DIR")
			}
			cfg.Users = map[string]string{args[1]: args[2]}
			args = args[3:]
		default:
			ts.Fatalf("capture: unknown flag %s", args[0])
		}
	}
	if len(args) != 1 {
		ts.Fatalf("usage: capture [-implicit] [-require-auth] [-user NAME PASSWORD] DIR")
	}
	cfg.Maildir = ts.MkAbs(args[0])
	srv, err := capture.Start(cfg)
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("CAPTURE_ADDR", srv.Addr())
	ts.Check(os.WriteFile(ts.MkAbs("capture-ca.pem"), srv.CertPEM(), 0o644))
}

// maildirFiles lists the messages of a Maildir (new/ and cur/), oldest first.
func maildirFiles(dir string) ([]string, error) {
	var files []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, e := range ents {
			if !e.IsDir() {
				files = append(files, filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	sort.Slice(files, func(i, j int) bool {
		fi, _ := os.Stat(files[i])
		fj, _ := os.Stat(files[j])
		return fi.ModTime().Before(fj.ModTime())
	})
	return files, nil
}

// cmdMaildir checks how many messages a Maildir holds:
//
//	maildir DIR COUNT
func cmdMaildir(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: maildir DIR COUNT")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	files, err := maildirFiles(ts.MkAbs(args[0]))
	ts.Check(err)
	if (len(files) == want) == neg {
		ts.Fatalf("maildir %s holds %d messages, want %s%d", args[0], len(files), map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdMailfile copies the newest message in a Maildir to a file so that
// grep and cmp can look at it:
//
//	mailfile DIR FILE
func cmdMailfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mailfile DIR FILE")
	}
	files, err := maildirFiles(ts.MkAbs(args[0]))
	ts.Check(err)
	if len(files) == 0 {
		ts.Fatalf("maildir %s is empty", args[0])
	}
	b, err := os.ReadFile(files[len(files)-1])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
}

// cmdNoSecret fails if the secret, or any base64 form of it (alone, in a
// PLAIN "\0user\0secret" string, at any alignment), appears in the last
// command's stdout or stderr or in the given files:
//
//	nosecret SECRET [FILE...]
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: nosecret SECRET [FILE...]")
	}
	needles := secretForms(args[0])
	check := func(name, text string) {
		for _, n := range needles {
			if strings.Contains(text, n) {
				ts.Fatalf("%s contains the secret (as %q)", name, n)
			}
		}
	}
	check("stdout", ts.ReadFile("stdout"))
	check("stderr", ts.ReadFile("stderr"))
	for _, f := range args[1:] {
		check(f, ts.ReadFile(f))
	}
}

// secretForms returns the secret and the base64 substrings that betray it
// whatever bytes precede it (three alignments, trimmed of the characters
// that depend on neighbours).
func secretForms(s string) []string {
	forms := []string{s}
	for pad := 0; pad < 3; pad++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", pad) + s))
		// Drop the characters mixed with the padding prefix and the tail
		// that depends on what follows.
		start := (pad*8 + 5) / 6
		end := len(enc) - 4
		if end-start >= 4 {
			forms = append(forms, enc[start:end])
		}
	}
	return forms
}

// cmdExits runs a program like exec and checks its exact exit code (the
// sysexits codes are part of mailscript's interface):
//
//	exits CODE PROG [ARGS...]
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// cmdEnvsubst replaces ${VAR} in a file with the script's environment
// (a config file that needs the capture server's address):
//
//	envsubst FILE
func cmdEnvsubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: envsubst FILE")
	}
	text := os.Expand(ts.ReadFile(args[0]), ts.Getenv)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(text), 0o644))
}

// cmdToken sets an environment variable to a fresh random token, to find
// this run's message in a mailbox that keeps earlier runs' mail:
//
//	token VAR
func cmdToken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: token VAR")
	}
	var b [8]byte
	_, err := rand.Read(b[:])
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprintf("%x", b))
}

// cmdDelivered waits for a message containing NEEDLE in a Maildir (the
// real stack delivers asynchronously) and checks that it ends with the
// rendered message (the server only prepends trace headers such as
// Return-Path and Received). "! delivered" checks that within a few
// seconds no such message arrives.
//
//	delivered MAILDIR NEEDLE [RENDERED]
func cmdDelivered(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: delivered MAILDIR NEEDLE [RENDERED]")
	}
	dir, needle := args[0], args[1]
	wait := 20 * time.Second
	if neg {
		wait = 3 * time.Second
	}
	var found []byte
	for deadline := time.Now().Add(wait); time.Now().Before(deadline) && found == nil; time.Sleep(100 * time.Millisecond) {
		files, err := maildirFiles(dir)
		ts.Check(err)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && bytes.Contains(b, []byte(needle)) {
				found = b
				break
			}
		}
	}
	switch {
	case neg && found != nil:
		ts.Fatalf("a message containing %q was delivered to %s", needle, dir)
	case neg:
		return
	case found == nil:
		ts.Fatalf("no message containing %q in %s after %v", needle, dir, wait)
	}
	ts.Check(os.WriteFile(ts.MkAbs("delivered.eml"), found, 0o644))
	if len(args) == 3 {
		lf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
		want := lf([]byte(ts.ReadFile(args[2])))
		if !bytes.HasSuffix(lf(found), want) {
			ts.Fatalf("delivered message does not end with the rendered one\n--- delivered ---\n%s\n--- rendered ---\n%s", found, want)
		}
	}
}

// cmdFaultSMTP starts a plain SMTP server (no TLS) that refuses some
// recipients and stores the other messages as DIR/new/N.eml (so that
// "maildir DIR N" counts them), each after an X-Original-To line per
// envelope recipient:
//
//	faultsmtp [-reject SUBSTR] [-defer SUBSTR] [-greylist SUBSTR] DIR
//
// A recipient containing the -reject text gets 550 5.1.1, one containing
// the -defer text 450 4.2.1, one containing the -greylist text 451 4.7.1
// the first time it is given, then it is accepted. It sets $FAULT_ADDR.
func cmdFaultSMTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! faultsmtp")
	}
	var reject, deferred, grey string
	for len(args) > 2 {
		switch args[0] {
		case "-reject":
			reject = args[1]
		case "-defer":
			deferred = args[1]
		case "-greylist":
			grey = args[1]
		default:
			ts.Fatalf("faultsmtp: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: faultsmtp [-reject SUBSTR] [-defer SUBSTR] [-greylist SUBSTR] DIR")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Join(dir, "new"), 0o755))
	var mu sync.Mutex
	n := 0
	seen := map[string]bool{} // greylisted recipients seen once
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &faultSession{rcpt: func(to string) error {
			switch {
			case reject != "" && strings.Contains(to, reject):
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			case deferred != "" && strings.Contains(to, deferred):
				return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}
			case grey != "" && strings.Contains(to, grey):
				mu.Lock()
				defer mu.Unlock()
				if !seen[to] {
					seen[to] = true
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again later"}
				}
			}
			return nil
		}, store: func(to []string, b []byte) error {
			mu.Lock()
			defer mu.Unlock()
			n++
			var env []byte
			for _, a := range to {
				env = append(env, "X-Original-To: <"+a+">\r\n"...)
			}
			return os.WriteFile(filepath.Join(dir, "new", fmt.Sprintf("%d.eml", n)), append(env, b...), 0o644)
		}}, nil
	}))
	srv.Domain = "fault.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	go srv.Serve(l)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("FAULT_ADDR", l.Addr().String())
}

type faultSession struct {
	rcpt  func(string) error
	store func([]string, []byte) error
	to    []string
}

func (s *faultSession) Reset()                               { s.to = nil }
func (s *faultSession) Logout() error                        { return nil }
func (s *faultSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *faultSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.rcpt(to); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *faultSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.store(s.to, b)
}

// cmdDeliveredCount waits until exactly COUNT messages in a Maildir
// contain NEEDLE (the real stack delivers asynchronously), and fails if
// there are more; with UNIQUE_REGEXP, what it matches in each of those
// messages must differ (no row delivered twice):
//
//	delivered-count MAILDIR NEEDLE COUNT [UNIQUE_REGEXP]
func cmdDeliveredCount(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: delivered-count MAILDIR NEEDLE COUNT [UNIQUE_REGEXP]")
	}
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	var unique *regexp.Regexp
	if len(args) == 4 {
		unique, err = regexp.Compile(args[3])
		ts.Check(err)
	}
	count := func() int {
		files, err := maildirFiles(args[0])
		ts.Check(err)
		c := 0
		seen := map[string]string{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !bytes.Contains(b, []byte(args[1])) {
				continue
			}
			c++
			if unique != nil {
				m := unique.Find(b)
				if m == nil {
					ts.Fatalf("%s: no match for %s", f, unique)
				}
				if other, dup := seen[string(m)]; dup {
					ts.Fatalf("%q in two messages: %s and %s", m, other, f)
				}
				seen[string(m)] = f
			}
		}
		return c
	}
	got := 0
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if got = count(); got >= want {
			break
		}
	}
	if got == want {
		time.Sleep(500 * time.Millisecond) // late duplicates
		got = count()
	}
	if got != want {
		ts.Fatalf("%d messages containing %q in %s, want %d", got, args[1], args[0], want)
	}
}
