package batch_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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

// The crash tests run a batch in a subprocess (the test binary re-executed
// with one helper test), kill it with SIGKILL at random points and resume it
// until it finishes. The subprocess reads CRASH_DIR (t.tmpl, rows.csv,
// rows.journal) and CRASH_ADDR (the server).

// runCrashHelper is the subprocess's side: it opens (or creates) the
// journal with opts, runs the batch over CRASH_DIR with 4 connections and
// --resend-uncertain, tuned by tune, and fails unless every row was
// delivered.
func runCrashHelper(t *testing.T, opts journal.OpenOptions, tune func(*batch.Config)) {
	dir := os.Getenv("CRASH_DIR")
	tmpl, err := template.ParseFile(filepath.Join(dir, "t.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, "rows.journal")
	j, err := journal.Open(jpath, opts)
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
	cfg := batch.Config{
		Template:        tmpl,
		Rows:            selection.NewStream(r, "rows.csv", selection.New(selection.Options{})),
		Transport:       transport.Config{Endpoint: ep, TLS: transport.TLSNone},
		Connections:     4,
		GroupSize:       8,
		Journal:         j,
		ResendUncertain: true,
	}
	if tune != nil {
		tune(&cfg)
	}
	s, err := batch.Run(context.Background(), cfg)
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

// killAndResume runs the helper test named helper (enabled by the
// environment variable flag) as a subprocess over dir and addr: it kills it
// with SIGKILL after a random 20–270 ms, kills times, then starts it until
// it finishes (five tries at most). It returns the rows the journal marked
// uncertain at any point (read before each start) and the kills made.
func killAndResume(t *testing.T, helper, flag, dir, addr string, kills int, seed uint64) (uncertain map[int]bool, killed int) {
	jpath := filepath.Join(dir, "rows.journal")
	uncertain = map[int]bool{}
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
		cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), flag+"=1", "CRASH_DIR="+dir, "CRASH_ADDR="+addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), seed))
	for range kills {
		noteUncertain()
		cmd := start()
		time.Sleep(time.Duration(20+rng.IntN(250)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			killed++
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
	return uncertain, killed
}
