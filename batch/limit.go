package batch

import (
	"context"
	"sync"
	"time"
)

// limiter spaces messages to a rate (--rate): a token bucket without
// burst, shared by every connection. Its rate can be lowered and raised
// while the batch runs (the slow-down on throttling replies).
type limiter struct {
	mu       sync.Mutex
	interval time.Duration // between two messages; 0 = unlimited
	next     time.Time     // when the next message may go
}

// setRate sets the rate in messages per second; 0 means unlimited.
func (l *limiter) setRate(perSec float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if perSec <= 0 {
		l.interval = 0
		return
	}
	l.interval = time.Duration(float64(time.Second) / perSec)
}

// rate returns the current rate (0 = unlimited).
func (l *limiter) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.interval == 0 {
		return 0
	}
	return float64(time.Second) / float64(l.interval)
}

// wait blocks until n messages may go.
func (l *limiter) wait(ctx context.Context, n int) error {
	l.mu.Lock()
	if l.interval == 0 {
		l.mu.Unlock()
		return nil
	}
	now := time.Now()
	t := l.next
	if t.Before(now) {
		t = now
	}
	l.next = t.Add(time.Duration(n) * l.interval)
	l.mu.Unlock()
	return sleep(ctx, time.Until(t))
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// governor slows the batch down when the server throttles it (421, or
// 451 with an enhanced code 4.7.x): fewer connections, a pause for every
// connection, a lower rate; and speeds it up again after a quiet spell.
type governor struct {
	mu        sync.Mutex
	max       int // --connections
	allowed   int // connections allowed now
	pause     time.Time
	backoff   time.Duration // the next pause
	minPause  time.Duration
	maxPause  time.Duration
	last      time.Time     // the last throttle or recovery step
	quiet     time.Duration // how long without throttling before a step back up
	baseRate  float64       // --rate (0 = unlimited)
	lim       *limiter
	throttled int // how many times
	sentSince int // messages sent since the last throttle (for the rate estimate)
	since     time.Time
}

func newGovernor(conns int, rate float64, lim *limiter, quiet, pause, maxPause time.Duration) *governor {
	return &governor{max: conns, allowed: conns, baseRate: rate, lim: lim, quiet: quiet,
		backoff: pause, minPause: pause, maxPause: maxPause, since: time.Now()}
}

// throttle records a throttling reply: halve the connections and the
// rate, and pause every connection.
func (g *governor) throttle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.throttled++
	if now.Before(g.pause) {
		return // the same episode: several connections heard it
	}
	g.allowed = max(1, g.allowed/2)
	// Halve the rate: the configured one, or the one observed since the
	// last throttle when there is none.
	r := g.lim.rate()
	if r == 0 {
		if el := now.Sub(g.since).Seconds(); el > 0 && g.sentSince > 0 {
			r = float64(g.sentSince) / el
		}
	}
	if r > 0 {
		g.lim.setRate(max(r/2, 1.0/60))
	}
	g.pause = now.Add(g.backoff)
	g.backoff = min(2*g.backoff, g.maxPause)
	g.last, g.since, g.sentSince = now, now, 0
}

// sent records messages accepted, and steps back up after a quiet spell.
func (g *governor) sent(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sentSince += n
	if g.throttled == 0 || time.Since(g.last) < g.quiet {
		return
	}
	g.last = time.Now()
	g.backoff = g.minPause
	if g.allowed < g.max {
		g.allowed++
	}
	if r := g.lim.rate(); r > 0 {
		switch {
		case g.baseRate == 0 && r*2 > 1e6:
			g.lim.setRate(0)
		case g.baseRate == 0:
			g.lim.setRate(r * 2)
		default:
			g.lim.setRate(min(r*2, g.baseRate))
		}
	}
}

// admit reports how long connection id must wait before sending: while
// it is beyond the allowed connections, or during a pause.
func (g *governor) admit(id int) (wait time.Duration, parked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if id >= g.allowed {
		return 50 * time.Millisecond, true
	}
	return time.Until(g.pause), false
}
