package batch_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
)

// TestGreylistCrashHelper is the batch process of
// TestGreylistCrashAndResume; it runs only when re-executed with
// MAILSCRIPT_GREYLIST_CRASH_HELPER set.
func TestGreylistCrashHelper(t *testing.T) {
	if os.Getenv("MAILSCRIPT_GREYLIST_CRASH_HELPER") == "" {
		t.Skip("helper process for TestGreylistCrashAndResume")
	}
	dir := os.Getenv("CRASH_DIR")
	tmpl, err := template.ParseFile(filepath.Join(dir, "t.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, "rows.journal")
	j, err := journal.Open(jpath, journal.OpenOptions{Positions: true})
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, journal.ErrNoHeader) {
		os.Remove(jpath)
		j, err = journal.Create(jpath, journal.Header{Template: "t.tmpl", Data: "rows.csv"}, journal.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := data.Open(filepath.Join(dir, "rows.csv"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := transport.ParseURL("smtp://" + os.Getenv("CRASH_ADDR"))
	s, err := batch.Run(context.Background(), batch.Config{
		Template:        tmpl,
		Rows:            selection.NewStream(r, "rows.csv", selection.New(selection.Options{})),
		Transport:       transport.Config{Endpoint: ep, TLS: transport.TLSNone},
		Connections:     4,
		GroupSize:       8,
		Journal:         j,
		ResendUncertain: true,
		RetryBase:       20 * time.Millisecond,
		RetryMax:        100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if !s.Delivered() {
		t.Fatalf("not delivered: %+v", s)
	}
}

// TestGreylistCrashAndResume is TestCrashAndResume with a greylisting
// server: every row goes to a To and a Cc, and every Cc is refused (450)
// the first time, so that every row is delivered in two parts. The batch is
// killed (SIGKILL) at random points and resumed until it finishes; then
// every recipient of every row got the message, with one Message-ID per
// row, and a recipient got it twice only for a row the journal marked
// uncertain.
func TestGreylistCrashAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	f := startFault(t, func(f *faultServer) {
		f.rcpt = func(to string, n int) error {
			if strings.HasPrefix(to, "cc") && n == 1 {
				return smtpErr(450, "4.2.0", "greylisted")
			}
			return nil
		}
	})
	const n = 300
	var rows strings.Builder
	rows.WriteString("n,email,cc,name\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&rows, "%d,to%d@example.org,cc%d@example.org,User %d\n", i, i, i, i)
	}
	os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte(ccTemplate), 0o644)
	os.WriteFile(filepath.Join(dir, "rows.csv"), []byte(rows.String()), 0o644)
	jpath := filepath.Join(dir, "rows.journal")

	uncertain := map[int]bool{}
	noteUncertain := func() {
		j, err := journal.Open(jpath, journal.OpenOptions{ReadOnly: true})
		if err != nil {
			return
		}
		for row := 1; row <= j.Rows(); row++ {
			if j.State(row) == journal.Uncertain {
				uncertain[row] = true
			}
		}
		j.Close()
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGreylistCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MAILSCRIPT_GREYLIST_CRASH_HELPER=1", "CRASH_DIR="+dir, "CRASH_ADDR="+f.addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	kills := 0
	for i := 0; i < 15; i++ {
		noteUncertain()
		cmd := start()
		time.Sleep(time.Duration(20+rng.IntN(250)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
	}
	finished := false
	for i := 0; i < 5 && !finished; i++ {
		noteUncertain()
		cmd := start()
		finished = cmd.Wait() == nil
	}
	if !finished {
		t.Fatal("the batch did not finish after the kills")
	}

	// Copies per recipient; the server checks one Message-ID per row.
	got := map[string]int{}
	for _, m := range f.messages() {
		for _, a := range m.to {
			got[a]++
		}
	}
	dups := 0
	for row := 1; row <= n; row++ {
		for _, a := range []string{fmt.Sprintf("to%d@example.org", row), fmt.Sprintf("cc%d@example.org", row)} {
			switch c := got[a]; {
			case c == 0:
				t.Errorf("row %d: %s lost", row, a)
			case c > 1 && !uncertain[row]:
				t.Errorf("row %d: %s got %d copies but the row was never marked uncertain", row, a, c)
			case c > 1:
				dups++
			}
		}
	}
	t.Logf("%d kills, %d messages for %d rows (2 recipients each), %d rows marked uncertain, %d recipients with a duplicate", kills, len(f.messages()), n, len(uncertain), dups)
}
