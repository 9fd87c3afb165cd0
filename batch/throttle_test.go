package batch_test

import (
	"sync"
	"testing"
	"time"
)

// TestThrottleReplies checks the rule of limit.go and sender.go: a 451
// with an enhanced code 4.7.x (at RCPT or after DATA) is throttling — it is
// counted, and the whole batch pauses (every connection, for --retry-wait
// at first) before the next message; any other 4xx (451 4.3.0, 450 4.2.0)
// is an ordinary temporary failure: the row is retried after its backoff
// while the others go on at once. Either way the row arrives exactly once,
// on its second attempt.
func TestThrottleReplies(t *testing.T) {
	const (
		n     = 8
		row   = 3
		pause = 400 * time.Millisecond // RetryBase: the first pause and the first retry delay
	)
	tests := []struct {
		name      string
		stage     string // "rcpt" or "data"
		code      int
		enhanced  string
		throttled int
	}{
		{"451 4.7.1 after DATA", "data", 451, "4.7.1", 1},
		{"451 4.7.0 at RCPT", "rcpt", 451, "4.7.0", 1},
		{"451 4.3.0 after DATA", "data", 451, "4.3.0", 0},
		{"450 4.2.0 at RCPT", "rcpt", 450, "4.2.0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var faultAt time.Time
			fault := func() error {
				mu.Lock()
				faultAt = time.Now()
				mu.Unlock()
				return smtpErr(tt.code, tt.enhanced, "slow down")
			}
			f := startFault(t, func(f *faultServer) {
				if tt.stage == "rcpt" {
					f.rcpt = func(to string, k int) error {
						if to == "user3@example.org" && k == 1 {
							return fault()
						}
						return nil
					}
					return
				}
				f.data = func(r, try, _ int) (error, bool) {
					if r == row && try == 1 {
						return fault(), false
					}
					return nil, false
				}
			})
			cfg := baseConfig(t, n, nil, f)
			// One render worker, one connection, one message per group:
			// the rows reach the server in order.
			cfg.RenderWorkers, cfg.Connections, cfg.GroupSize = 1, 1, 1
			cfg.RetryBase, cfg.RetryMax = pause, 2*pause
			cfg.Rand = func() float64 { return 0.5 } // no jitter: delays are exact
			s, res := runBatch(t, cfg)
			if !s.Delivered() || s.Sent != n {
				t.Fatalf("summary %+v", s)
			}
			every(t, f, n)
			if s.Throttled != tt.throttled {
				t.Errorf("Throttled = %d, want %d", s.Throttled, tt.throttled)
			}
			if r := res[row]; r.Attempts != 2 {
				t.Errorf("row %d: %d attempts, want 2", row, r.Attempts)
			}

			// What the server stored after the fault, in order.
			mu.Lock()
			at := faultAt
			mu.Unlock()
			var after []int
			var next time.Time
			for _, m := range f.messages() {
				if m.at.After(at) {
					if after == nil {
						next = m.at
					}
					after = append(after, m.row)
				}
			}
			if len(after) != n-row+1 {
				t.Fatalf("stored after the fault: %v", after)
			}
			gap := next.Sub(at)
			if tt.throttled > 0 {
				// The batch paused: nothing for the pause, whichever row
				// comes first then.
				if gap < pause*9/10 {
					t.Errorf("the next message came %v after a throttling reply, want a pause of %v", gap, pause)
				}
				return
			}
			// Not throttling: the next rows went at once; row 3 came back
			// after its backoff, once the others were through.
			if after[0] != row+1 || after[len(after)-1] != row {
				t.Errorf("order after the fault: %v, want rows %d.. first and row %d last", after, row+1, row)
			}
			if gap >= pause/2 {
				t.Errorf("the next message came %v after an ordinary 4xx: the batch paused", gap)
			}
		})
	}
}
