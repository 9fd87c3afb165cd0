package batch_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/internal/capture"
)

// TestCrashHelper is the batch process of TestCrashAndResume; it runs only
// when re-executed with MAILSCRIPT_CRASH_HELPER set.
func TestCrashHelper(t *testing.T) {
	if os.Getenv("MAILSCRIPT_CRASH_HELPER") == "" {
		t.Skip("helper process for TestCrashAndResume")
	}
	runCrashHelper(t, journal.OpenOptions{}, nil)
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
	uncertain, kills := killAndResume(t, "TestCrashHelper", "MAILSCRIPT_CRASH_HELPER", dir, srv.Addr(), 20, 1)

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
