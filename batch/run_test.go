package batch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/report"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/internal/capture"
	"github.com/mailscript/mailscript/transport"

	"github.com/emersion/go-smtp"
)

func baseConfig(t testing.TB, n int, email func(int) string, f *faultServer) batch.Config {
	cfg := batch.Config{
		Template:  parseTemplate(t, testTemplate),
		Rows:      source(t, csvRows(n, email), selection.Options{}),
		Transport: f.config(),
	}
	fast(&cfg)
	return cfg
}

// every checks that rows 1..n were each stored exactly once.
func every(t *testing.T, f *faultServer, n int) {
	t.Helper()
	got, total := f.counts()
	for i := 1; i <= n; i++ {
		if got[i] != 1 {
			t.Errorf("row %d stored %d times", i, got[i])
		}
	}
	if total != n {
		t.Errorf("server stored %d messages, want %d", total, n)
	}
}

func TestRunCaptureWithJournalAndReport(t *testing.T) {
	dir := t.TempDir()
	srv, err := capture.Start(capture.Config{Maildir: filepath.Join(dir, "Maildir")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ep, _ := transport.ParseURL("smtp://" + srv.Addr())
	j, err := journal.Create(filepath.Join(dir, "rows.journal"), journal.Header{Template: "t.tmpl", Data: "rows.csv"}, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := report.Create(filepath.Join(dir, "report.csv"), report.Options{Columns: []string{"n", "email", "name"}})
	const n = 300
	cfg := batch.Config{
		Template:  parseTemplate(t, testTemplate),
		Rows:      source(t, csvRows(n, nil), selection.Options{}),
		Transport: transport.Config{Endpoint: ep, TLS: transport.TLSStartTLS, RootCAs: srv.RootCAs()},
		Journal:   j,
		Report:    rep,
	}
	s, res := runBatch(t, cfg)
	if s.Stopped != nil || s.Sent != n || !s.Delivered() {
		t.Fatalf("summary %+v", s)
	}
	if len(res) != n {
		t.Errorf("%d row results", len(res))
	}
	for row, r := range res {
		if r.Status != journal.Sent || r.QueueID == "" || r.Attempts != 1 {
			t.Errorf("row %d: %+v", row, r)
		}
	}
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(filepath.Join(dir, "Maildir", "new"))
	if len(files) != n {
		t.Errorf("Maildir holds %d messages", len(files))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.csv"))
	if got := strings.Count(string(b), ",sent,"); got != n {
		t.Errorf("report has %d sent rows", got)
	}

	// Resuming a finished batch sends nothing.
	j, err = journal.Open(filepath.Join(dir, "rows.journal"), journal.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if c := j.Counts(); c[journal.Sent] != n {
		t.Fatalf("journal counts %v", c)
	}
	cfg.Rows, cfg.Journal, cfg.Report = source(t, csvRows(n, nil), selection.Options{}), j, nil
	s, _ = runBatch(t, cfg)
	if s.Sent != 0 || s.Earlier != n || s.EarlierSent != n || !s.Delivered() {
		t.Fatalf("resume summary %+v", s)
	}
}

func TestRunTemporaryFailuresAreRetried(t *testing.T) {
	f := startFault(t, func(f *faultServer) {
		f.rcpt = func(to string, n int) error {
			if strings.HasPrefix(to, "user3") && n <= 2 {
				return smtpErr(450, "4.2.0", "mailbox busy")
			}
			return nil
		}
		f.data = func(row, try, _ int) (error, bool) {
			if row%5 == 0 && try == 1 {
				return smtpErr(451, "4.3.0", "try later"), false
			}
			return nil, false
		}
	})
	const n = 60
	s, res := runBatch(t, baseConfig(t, n, nil, f))
	if !s.Delivered() || s.Sent != n {
		t.Fatalf("summary %+v", s)
	}
	every(t, f, n)
	if r := res[3]; r.Attempts != 3 {
		t.Errorf("row 3: %d attempts, want 3", r.Attempts)
	}
	if r := res[10]; r.Attempts != 2 {
		t.Errorf("row 10: %d attempts, want 2", r.Attempts)
	}
}

func TestRunPermanentFailureFailsTheRowOnly(t *testing.T) {
	f := startFault(t, func(f *faultServer) {
		f.rcpt = func(to string, _ int) error {
			if to == "user7@example.org" || to == "user9@example.org" {
				return smtpErr(550, "5.1.1", "no such user")
			}
			return nil
		}
	})
	const n = 20
	s, res := runBatch(t, baseConfig(t, n, nil, f))
	if s.Failed != 2 || s.Sent != n-2 || s.Delivered() || s.Stopped != nil {
		t.Fatalf("summary %+v", s)
	}
	r := res[7]
	if r.Status != journal.Failed || r.Code != 550 || r.Enhanced != "5.1.1" || r.Attempts != 1 {
		t.Errorf("row 7: %+v", r)
	}
}

func TestRunGivesUpAfterMaxAttempts(t *testing.T) {
	f := startFault(t, func(f *faultServer) {
		f.data = func(row, try, _ int) (error, bool) {
			if row == 2 {
				return smtpErr(452, "4.3.1", "insufficient storage"), false
			}
			return nil, false
		}
	})
	cfg := baseConfig(t, 5, nil, f)
	cfg.MaxAttempts = 3
	s, res := runBatch(t, cfg)
	if s.Deferred != 1 || s.Sent != 4 || s.Delivered() {
		t.Fatalf("summary %+v", s)
	}
	if r := res[2]; r.Status != journal.Deferred || r.Attempts != 3 || r.Code != 452 {
		t.Errorf("row 2: %+v", r)
	}
}

func TestRun421SlowsDownAndReconnects(t *testing.T) {
	f := startFault(t, func(f *faultServer) {
		f.data = func(row, try, onConn int) (error, bool) {
			if onConn >= 10 {
				return smtpErr(421, "4.7.0", "too many messages, slow down"), false
			}
			return nil, false
		}
	})
	const n = 200
	s, _ := runBatch(t, baseConfig(t, n, nil, f))
	if !s.Delivered() || s.Sent != n {
		t.Fatalf("summary %+v", s)
	}
	if s.Throttled == 0 {
		t.Error("no throttling counted")
	}
	every(t, f, n)
	if f.conns < n/10 {
		t.Errorf("%d connections for %d messages at 10 per connection", f.conns, n)
	}
}

func TestRunDropAfterDotIsUncertain(t *testing.T) {
	drop := func(f *faultServer) {
		f.data = func(row, try, _ int) (error, bool) {
			return nil, row == 7 && try == 1
		}
	}
	const n = 15
	f := startFault(t, drop)
	s, res := runBatch(t, baseConfig(t, n, nil, f))
	if s.Uncertain != 1 || s.Sent != n-1 || s.Delivered() {
		t.Fatalf("summary %+v", s)
	}
	if r := res[7]; r.Status != journal.Uncertain {
		t.Errorf("row 7: %+v", r)
	}
	every(t, f, n) // the server did store row 7

	// With ResendUncertain row 7 goes again, with the same Message-ID
	// (faultServer.store checks it): a duplicate the receiver can spot.
	f = startFault(t, drop)
	cfg := baseConfig(t, n, nil, f)
	cfg.ResendUncertain = true
	s, _ = runBatch(t, cfg)
	if !s.Delivered() || s.Sent != n {
		t.Fatalf("summary %+v", s)
	}
	if got, _ := f.counts(); got[7] != 2 {
		t.Errorf("row 7 stored %d times, want 2", got[7])
	}
}

func TestRunConnectionsAndSlowServer(t *testing.T) {
	f := startFault(t, func(f *faultServer) { f.slow = 5 * time.Millisecond })
	const n = 200
	cfg := baseConfig(t, n, nil, f)
	cfg.Connections = 4
	s, _ := runBatch(t, cfg)
	if !s.Delivered() {
		t.Fatalf("summary %+v", s)
	}
	every(t, f, n)
	if f.conns != 4 || f.maxConns != 4 {
		t.Errorf("%d connections, %d at once; want 4 reused", f.conns, f.maxConns)
	}
}

func TestRunPerConnection(t *testing.T) {
	f := startFault(t, nil)
	const n = 50
	cfg := baseConfig(t, n, nil, f)
	cfg.Connections = 1
	cfg.PerConnection = 10
	s, _ := runBatch(t, cfg)
	if !s.Delivered() {
		t.Fatalf("summary %+v", s)
	}
	every(t, f, n)
	if f.conns != 5 {
		t.Errorf("%d connections, want 5", f.conns)
	}
}

func TestRunRate(t *testing.T) {
	f := startFault(t, nil)
	const n = 30
	cfg := baseConfig(t, n, nil, f)
	cfg.Rate = 100
	start := time.Now()
	s, _ := runBatch(t, cfg)
	el := time.Since(start)
	if !s.Delivered() {
		t.Fatalf("summary %+v", s)
	}
	// 30 messages at 100/s, in groups of 10 (a tenth of a second each):
	// the last group goes 200 ms after the first.
	if el < 190*time.Millisecond {
		t.Errorf("30 messages at 100/s took %v", el)
	}
}

func TestRunAuthFailureStopsTheBatch(t *testing.T) {
	f := startFault(t, func(f *faultServer) {
		f.auth = func(user, pass string) error { return smtp.ErrAuthFailed }
	})
	cfg := baseConfig(t, 50, nil, f)
	cfg.Transport.Password = secretOf("wrong")
	s, _ := runBatch(t, cfg)
	var te *transport.Error
	if !errors.As(s.Stopped, &te) || !te.AuthFailed() {
		t.Fatalf("stopped by %v", s.Stopped)
	}
	if _, total := f.counts(); total != 0 || s.Sent != 0 {
		t.Errorf("sent %d", total)
	}
	if s.Unsent == 0 || s.Delivered() {
		t.Errorf("summary %+v", s)
	}
}

func TestRunInvalidRowFailsAlone(t *testing.T) {
	f := startFault(t, nil)
	const n = 10
	cfg := baseConfig(t, n, func(i int) string {
		if i == 4 {
			return "not-an-address"
		}
		return fmt.Sprintf("user%d@example.org", i)
	}, f)
	s, res := runBatch(t, cfg)
	if s.Invalid != 1 || s.Failed != 1 || s.Sent != n-1 {
		t.Fatalf("summary %+v", s)
	}
	if r := res[4]; !r.Invalid || r.Error == "" {
		t.Errorf("row 4: %+v", r)
	}
}

func TestRunUnreachableServerStops(t *testing.T) {
	ep, _ := transport.ParseURL("smtp://127.0.0.1:1")
	cfg := batch.Config{
		Template:  parseTemplate(t, testTemplate),
		Rows:      source(t, csvRows(10, nil), selection.Options{}),
		Transport: transport.Config{Endpoint: ep, TLS: transport.TLSNone, Timeout: time.Second},
	}
	fast(&cfg)
	s, _ := runBatch(t, cfg)
	// The batch stops at the first failed dial: the rows read by then (at
	// least the one the sender took, at most all ten) are not sent, and
	// nothing is reported sent or failed. The rows never read are not in
	// the Summary (the CLI adds them from its check pass).
	if s.Stopped == nil || s.Sent != 0 || s.Failed != 0 || s.Rows < 1 || s.Rows > 10 || s.Unsent != s.Rows {
		t.Fatalf("summary %+v", s)
	}
}

func TestValidateDryRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "outbox")
	var bad []batch.RowError
	res, err := batch.Validate(context.Background(), batch.RenderConfig{
		Template: parseTemplate(t, testTemplate),
		Rows: source(t, csvRows(100, func(i int) string {
			if i%40 == 0 {
				return ""
			}
			return fmt.Sprintf("user%d@example.org", i)
		}), selection.Options{}),
		Outbox:    out,
		Keep:      1,
		OnInvalid: func(e batch.RowError) { bad = append(bad, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid != 98 || res.Invalid != 2 || len(bad) != 2 {
		t.Fatalf("result %+v", res)
	}
	if len(res.First) != 1 || res.First[0].Row != 1 || !strings.Contains(string(res.First[0].Message), "X-Row: 1\r\n") {
		t.Errorf("first %+v", res.First)
	}
	files, _ := os.ReadDir(out)
	if len(files) != 98 || files[0].Name() != "000001.eml" {
		t.Errorf("outbox holds %d files", len(files))
	}
}
