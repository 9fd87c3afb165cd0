package batch_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/selection"

	"github.com/emersion/go-smtp"
)

// An interrupted batch (its context cancelled while messages are on the
// wire) must never record a row as failed: a message cut short before its
// final dot is "not sent" (sent by --resume), after it "uncertain". A
// resume then delivers every row, at most the uncertain ones twice.
func TestRunInterruptedIsNeverFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		slow func(f *faultServer, on *atomic.Bool)
	}{
		{"before the dot", func(f *faultServer, on *atomic.Bool) {
			f.rcpt = func(string, int) error {
				if on.Load() {
					time.Sleep(20 * time.Millisecond)
				}
				return nil
			}
		}},
		{"after the dot", func(f *faultServer, on *atomic.Bool) {
			f.data = func(int, int, int) (error, bool) {
				if on.Load() {
					time.Sleep(20 * time.Millisecond)
				}
				return nil, false
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var slow atomic.Bool
			slow.Store(true)
			f := startFault(t, func(f *faultServer) { tc.slow(f, &slow) })
			const n = 200
			jpath := filepath.Join(t.TempDir(), "rows.journal")
			j, err := journal.Create(jpath, journal.Header{Template: "t.tmpl", Data: "rows.csv"}, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cfg := baseConfig(t, n, nil, f)
			cfg.Journal = j
			cfg.Connections = 4
			cfg.GroupSize = 4
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			sent := 0
			var failed []batch.RowResult
			cfg.OnRow = func(r batch.RowResult) {
				mu.Lock()
				defer mu.Unlock()
				if r.Status == journal.Sent {
					if sent++; sent == 10 {
						cancel()
					}
				}
				if r.Status == journal.Failed {
					failed = append(failed, r)
				}
			}
			s, err := batch.Run(ctx, cfg)
			if err == nil || s.Stopped == nil {
				t.Fatalf("not stopped: %v %+v", err, s)
			}
			if s.Failed != 0 || len(failed) != 0 {
				t.Fatalf("%d rows failed after the interruption: %+v", s.Failed, failed)
			}
			if got := s.Sent + s.Failed + s.Deferred + s.Uncertain + s.Unsent + s.Earlier; got != s.Rows {
				t.Errorf("summary adds up to %d rows of %d: %+v", got, s.Rows, s)
			}
			if s.Unsent == 0 {
				t.Fatalf("nothing left unsent: %+v", s)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}

			// Resume: everything left is sent once.
			slow.Store(false)
			j, err = journal.Open(jpath, journal.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			c := j.Counts()
			if c[journal.Failed] != 0 {
				t.Fatalf("journal counts %v", c)
			}
			uncertain := c[journal.Uncertain]
			cfg.Rows, cfg.Journal, cfg.OnRow = source(t, csvRows(n, nil), selection.Options{}), j, nil
			cfg.ResendUncertain = true
			s2, err := batch.Run(context.Background(), cfg)
			if err != nil || !s2.Delivered() {
				t.Fatalf("resume: %v %+v", err, s2)
			}
			got, total := f.counts()
			dups := 0
			for i := 1; i <= n; i++ {
				switch {
				case got[i] == 0:
					t.Errorf("row %d never stored", i)
				case got[i] > 2:
					t.Errorf("row %d stored %d times", i, got[i])
				case got[i] == 2:
					dups++
				}
			}
			if dups > uncertain || total != n+dups {
				t.Errorf("%d duplicates, %d uncertain rows, %d stored", dups, uncertain, total)
			}
		})
	}
}

// A batch stopped by a 535 on a later connection accounts for every row it
// read: sent + failed + deferred + uncertain + not sent + earlier = rows.
func TestRunStoppedSummaryAddsUp(t *testing.T) {
	for range 5 {
		var logins atomic.Int32
		f := startFault(t, func(f *faultServer) {
			f.auth = func(user, pass string) error {
				if logins.Add(1) > 4 {
					return smtp.ErrAuthFailed
				}
				return nil
			}
		})
		cfg := baseConfig(t, 257, nil, f)
		cfg.Transport.Password = secretOf("pw")
		cfg.PerConnection = 5
		cfg.Connections = 2
		s, res := runBatch(t, cfg)
		if s.Stopped == nil {
			t.Fatalf("not stopped: %+v", s)
		}
		if got := s.Sent + s.Failed + s.Deferred + s.Uncertain + s.Unsent + s.Earlier; got != s.Rows {
			t.Fatalf("summary adds up to %d rows of %d: %+v (%d results)", got, s.Rows, s, len(res))
		}
	}
}
