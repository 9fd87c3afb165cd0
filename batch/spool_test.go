package batch_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/template"
)

// TestRunFromSpool renders the rows once with Validate into a Spool and
// sends them from it: every valid row arrives once with the Message-ID of
// the journal's run, a large message (spilled to its own file while
// rendering) goes through the spool too, the invalid row is rendered again
// by Run and fails alone, and connections closed by 421 every ten messages
// (with the next group already journaled) leave no row "sending".
func TestRunFromSpool(t *testing.T) {
	const n = 150
	big := strings.Repeat("lorem ipsum ", 10000) // about 120 KB
	rows := csvRows(n, func(i int) string {
		if i == 13 {
			return ""
		}
		return fmt.Sprintf("user%d@example.org", i)
	})
	rows = strings.Replace(rows, "\n5,user5@example.org,User 5\n", "\n5,user5@example.org,"+big+"\n", 1)
	f := startFault(t, func(f *faultServer) {
		f.data = func(row, try, onConn int) (error, bool) {
			if onConn >= 10 {
				return smtpErr(421, "4.7.0", "too many messages, slow down"), false
			}
			return nil, false
		}
	})
	dir := t.TempDir()
	jpath := filepath.Join(dir, "rows.journal")
	j, err := journal.Create(jpath, journal.Header{Template: "t.tmpl", Data: "rows.csv"}, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := batch.NewSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	tmpl := parseTemplate(t, testTemplate)
	res, err := batch.Validate(context.Background(), batch.RenderConfig{Template: tmpl,
		Rows: source(t, rows, selection.Options{}), RunID: j.Header().RunID, MessageID: j.MessageID, Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid != n-1 || res.Invalid != 1 || sp.Len() != n-1 || sp.Size() < res.Bytes || res.Bytes < 120_000 {
		t.Fatalf("validate %+v, spool of %d messages, %d bytes", res, sp.Len(), sp.Size())
	}

	cfg := baseConfig(t, n, nil, f)
	cfg.Rows = source(t, rows, selection.Options{})
	cfg.Template, cfg.Journal, cfg.Spool, cfg.GroupSize = tmpl, j, sp, 4
	s, out := runBatch(t, cfg)
	if s.Sent != n-1 || s.Failed != 1 || s.Invalid != 1 || s.Deferred+s.Uncertain+s.Unsent != 0 {
		t.Fatalf("summary %+v", s)
	}
	if r := out[13]; !r.Invalid || r.Status != journal.Failed {
		t.Errorf("row 13: %+v", r)
	}
	got, total := f.counts()
	if total != n-1 {
		t.Errorf("server stored %d messages, want %d", total, n-1)
	}
	for row := 1; row <= n; row++ {
		if row != 13 && got[row] != 1 {
			t.Errorf("row %d stored %d times", row, got[row])
		}
	}
	runID := j.Header().RunID
	for row, id := range f.ids {
		if want := fmt.Sprintf("<%s.%d.mailscript@", runID, row); !strings.HasPrefix(id, want) {
			t.Errorf("row %d: Message-ID %s, want %s...", row, id, want)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = journal.Open(jpath, journal.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if c := j.Counts(); c[journal.Sent] != n-1 || c[journal.Failed] != 1 || c.Total() != n {
		t.Errorf("journal counts %v", c)
	}
}

// TestRunSpoolOfAnotherRun refuses a spool rendered with another run id:
// its Message-IDs would not be the journal's.
func TestRunSpoolOfAnotherRun(t *testing.T) {
	sp, err := batch.NewSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	tmpl := parseTemplate(t, testTemplate)
	if _, err := batch.Validate(context.Background(), batch.RenderConfig{Template: tmpl,
		Rows: source(t, csvRows(3, nil), selection.Options{}), RunID: "aaaa", Spool: sp}); err != nil {
		t.Fatal(err)
	}
	f := startFault(t, nil)
	cfg := baseConfig(t, 3, nil, f)
	cfg.Template, cfg.RunID, cfg.Spool = tmpl, "bbbb", sp
	s, err := batch.Run(context.Background(), cfg)
	if err == nil || s.Sent != 0 {
		t.Fatalf("Run with another run's spool: %v, %+v", err, s)
	}
}

// BenchmarkCheckPass measures the check pass before sending: every row of a
// 5-column CSV rendered with bench/msg.tmpl (about 2 KB) into a spool, with
// and without the journal's "rendered" record per row (ns/op and msgs/s are
// per row).
func BenchmarkCheckPass(b *testing.B) {
	const rows = 20000
	var csv strings.Builder
	csv.WriteString("email,name,team,id,amount\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&csv, "user%d@example.com,User %d,team%d,INV-%07d,%d.%02d\n", i, i, i%7, i, i%1000, i%100)
	}
	tmpl, err := template.ParseFile(filepath.Join("..", "bench", "msg.tmpl"))
	if err != nil {
		b.Fatal(err)
	}
	for _, withJournal := range []bool{false, true} {
		name := "spool"
		if withJournal {
			name = "spool+journal"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(0)
			for i := 0; i < b.N; i += rows {
				sp, err := batch.NewSpool(dir)
				if err != nil {
					b.Fatal(err)
				}
				var j *journal.Journal
				if withJournal {
					jpath := filepath.Join(dir, fmt.Sprintf("%d.journal", i))
					if j, err = journal.Create(jpath, journal.Header{}, journal.Options{}); err != nil {
						b.Fatal(err)
					}
				}
				res, err := batch.Validate(context.Background(), batch.RenderConfig{Template: tmpl,
					Rows: source(b, csv.String(), selection.Options{}), RunID: "bench", Spool: sp, Journal: j})
				if err != nil || res.Valid != rows {
					b.Fatalf("%+v, %v", res, err)
				}
				if j != nil {
					if err := j.Close(); err != nil { // one fsync
						b.Fatal(err)
					}
				}
				sp.Close()
			}
			b.ReportMetric(float64(((b.N+rows-1)/rows)*rows)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
