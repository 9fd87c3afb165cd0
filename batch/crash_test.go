package batch_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/internal/capture"
	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
)

// TestCrashHelper is the batch process of TestCrashAndResume; it runs only
// when re-executed with MAILSCRIPT_CRASH_HELPER set.
func TestCrashHelper(t *testing.T) {
	if os.Getenv("MAILSCRIPT_CRASH_HELPER") == "" {
		t.Skip("helper process for TestCrashAndResume")
	}
	dir := os.Getenv("CRASH_DIR")
	tmpl, err := template.ParseFile(filepath.Join(dir, "t.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, "rows.journal")
	j, err := journal.Open(jpath, journal.OpenOptions{})
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

// TestCrashAndResume runs a batch in a subprocess, kills it with SIGKILL at
// random points many times, resumes it until it finishes, and proves with
// the server's Maildir that every row arrived, and that a row arrived twice
// only when the journal had marked it uncertain (with the same Message-ID).
func TestCrashAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	maildir := filepath.Join(dir, "Maildir")
	srv, err := capture.Start(capture.Config{Maildir: maildir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const n = 600
	os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte(testTemplate), 0o644)
	os.WriteFile(filepath.Join(dir, "rows.csv"), []byte(csvRows(n, nil)), 0o644)
	jpath := filepath.Join(dir, "rows.journal")

	uncertain := map[int]bool{}
	noteUncertain := func() {
		j, err := journal.Open(jpath, journal.OpenOptions{ReadOnly: true})
		if err != nil {
			return // not created yet, or killed while creating it
		}
		for row := 1; row <= j.Rows(); row++ {
			if j.State(row) == journal.Uncertain {
				uncertain[row] = true
			}
		}
		j.Close()
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MAILSCRIPT_CRASH_HELPER=1", "CRASH_DIR="+dir, "CRASH_ADDR="+srv.Addr())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for i := 0; i < 20; i++ {
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

	// Count each row's messages in the Maildir.
	files, err := filepath.Glob(filepath.Join(maildir, "new", "*"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]int{}
	ids := map[int]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := rowHeader.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no X-Row", f)
		}
		row, _ := strconv.Atoi(string(m[1]))
		got[row]++
		id := string(regexp.MustCompile(`(?mi)^Message-Id: (\S+)`).FindSubmatch(b)[1])
		if old, ok := ids[row]; ok && old != id {
			t.Errorf("row %d arrived with Message-IDs %s and %s", row, old, id)
		}
		ids[row] = id
	}
	dups := 0
	for row := 1; row <= n; row++ {
		switch c := got[row]; {
		case c == 0:
			t.Errorf("row %d lost", row)
		case c > 1 && !uncertain[row]:
			t.Errorf("row %d arrived %d times but was never marked uncertain", row, c)
		case c > 1:
			dups++
		}
	}
	t.Logf("%d kills, %d messages for %d rows, %d rows marked uncertain, %d duplicated", kills, len(files), n, len(uncertain), dups)
}
