package batch_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/journal"
)

// TestGreylistCrashHelper is the batch process of
// TestGreylistCrashAndResume; it runs only when re-executed with
// MAILSCRIPT_GREYLIST_CRASH_HELPER set.
func TestGreylistCrashHelper(t *testing.T) {
	if os.Getenv("MAILSCRIPT_GREYLIST_CRASH_HELPER") == "" {
		t.Skip("helper process for TestGreylistCrashAndResume")
	}
	runCrashHelper(t, journal.OpenOptions{Positions: true}, func(c *batch.Config) {
		c.RetryBase, c.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	})
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
	uncertain, kills := killAndResume(t, "TestGreylistCrashHelper", "MAILSCRIPT_GREYLIST_CRASH_HELPER", dir, f.addr, 15, 2)

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
