package batch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/transport"
)

// sender is one connection's worker: it takes groups of rendered rows,
// keeps its connection open across them, and records each outcome.
type sender struct {
	b        *run
	id       int
	c        *transport.Client
	onConn   int       // messages sent on c
	dialFail int       // consecutive dial failures
	failFrom time.Time // the first of them
	out      []transport.Outgoing

	// The next group, prepared while the current one is on the wire: its
	// "sending" records are appended and nextFlushed delivers the result
	// of the fsync that makes them durable.
	next        []*item
	nextFlushed chan error
}

func (s *sender) loop() {
	b := s.b
	defer s.close()
	for {
		if b.ctx.Err() != nil {
			// Stopped: drain what is left as unsent.
			s.giveBack()
			for it := range b.ready {
				b.unsent(it)
			}
			return
		}
		wait, parked := b.gov.admit(s.id)
		if parked {
			s.close() // the server wants fewer connections
		}
		if wait > 0 {
			s.giveBack()
			select {
			case <-time.After(wait):
			case <-b.finished:
				return
			case <-b.ctx.Done():
			}
			continue
		}
		if s.next != nil {
			g, flushed := s.next, s.nextFlushed
			s.next, s.nextFlushed = nil, nil
			s.send(g, flushed)
			continue
		}
		g := s.collect()
		if g == nil {
			return
		}
		s.send(g, nil)
	}
}

// collect waits for one row, then takes what else is ready, up to a
// group (or what the connection may still send).
func (s *sender) collect() []*item {
	b := s.b
	it, ok := <-b.ready
	if !ok {
		return nil
	}
	n := b.cfg.GroupSize
	if pc := b.perConn(); pc > 0 && s.c != nil {
		n = max(1, min(n, pc-s.onConn))
	}
	if r := b.lim.rate(); r > 0 {
		n = max(1, min(n, int(r/10))) // a tenth of a second of messages
	}
	g := make([]*item, 1, n)
	g[0] = it
	for len(g) < n {
		select {
		case it, ok := <-b.ready:
			if !ok {
				return g
			}
			g = append(g, it)
			continue
		default:
		}
		break
	}
	return g
}

func (s *sender) close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
		s.onConn = 0
	}
}

// connect dials when there is no connection. On failure the group is
// handed back (not an attempt) and the sender backs off; an
// authentication failure, or a server that never answered, stops the
// batch.
func (s *sender) connect(g []*item, prepared bool) bool {
	b := s.b
	if s.c != nil {
		return true
	}
	cfg := b.cfg.Transport
	if b.cfg.Transcript != nil && b.first.CompareAndSwap(false, true) {
		cfg.Transcript = b.cfg.Transcript
	} else {
		cfg.Transcript = nil
	}
	c, err := b.cfg.Dial(b.ctx, cfg)
	if err == nil {
		s.c, s.onConn, s.dialFail = c, 0, 0
		b.dialed.Store(true)
		return true
	}
	if prepared {
		s.unprepare(g)
	} else {
		for _, it := range g {
			b.requeue(it)
		}
	}
	var te *transport.Error
	errors.As(err, &te)
	switch {
	case b.ctx.Err() != nil:
	case te != nil && te.AuthFailed():
		b.fail(err)
	case te != nil && te.Reply != nil && te.Temporary():
		// 421 at the greeting, 454 at AUTH: the server is busy.
		if te.Reply.Code == 421 || strings.HasPrefix(te.Reply.Enhanced, "4.7.") {
			b.prog.Throttled.Add(1)
			b.gov.throttle()
		}
		s.dialBackoff(err)
	case !b.dialed.Load():
		b.fail(err) // never reached the server: wrong address, TLS...
	default:
		s.dialBackoff(err)
	}
	return false
}

// dialBackoff waits before the next dial, and gives up after RetryFor.
func (s *sender) dialBackoff(err error) {
	b := s.b
	if s.dialFail == 0 {
		s.failFrom = time.Now()
	}
	s.dialFail++
	if time.Since(s.failFrom) > b.cfg.RetryFor {
		b.fail(fmt.Errorf("no connection for %v: %w", b.cfg.RetryFor.Round(time.Second), err))
		return
	}
	sleep(b.ctx, b.backoff(s.dialFail))
}

// send sends a group on the connection. The journal gets "sending" for
// every message of the group, durable (one fsync) before the group's first
// final dot: SendHooks.BeforeDot waits for it, so the commands and the
// content of the first message are on their way meanwhile. flushed is nil
// for a group not yet prepared; otherwise its records were appended and
// flushed delivers the fsync's result.
//
// While the group is on the wire the next group is prepared (see prefetch),
// so that its fsync overlaps this group's sending.
func (s *sender) send(g []*item, flushed chan error) {
	b := s.b
	if flushed == nil {
		if err := b.lim.wait(b.ctx, len(g)); err != nil {
			for _, it := range g {
				b.unsent(it)
			}
			return
		}
	}
	if !s.connect(g, flushed != nil) {
		return
	}
	if flushed == nil {
		flushed = s.prepare(g)
	}
	s.out = s.out[:0]
	for _, it := range g {
		body, err := it.spool.reader()
		if err != nil {
			body = nil // SendMany fails it: no message body
		}
		s.out = append(s.out, transport.Outgoing{From: it.from, To: it.to, Body: body, Size: it.spool.size})
	}
	broken := false
	sent := 0
	hooks := &transport.SendHooks{Done: func(i int, o transport.Outcome) {
		if s.outcome(g[i], o, s.onConn+i) {
			broken = true
		}
		if o.Err == nil {
			sent++
		}
	}}
	if flushed != nil {
		waited := false
		var ferr error
		hooks.BeforeDot = func(int) error {
			if !waited {
				waited = true
				if ferr = <-flushed; ferr == nil {
					s.prefetch(len(g))
				}
			}
			return ferr
		}
	}
	s.c.SendMany(b.ctx, s.out, hooks)
	s.onConn += len(g)
	b.gov.sent(sent)
	if pc := b.perConn(); broken || (pc > 0 && s.onConn >= pc) {
		s.close()
	}
	for i := range s.out {
		s.out[i] = transport.Outgoing{}
	}
}

// prepare starts an attempt of every message of g: the journal gets a
// "sending" record for each, and a flush (one fsync, shared with the other
// connections) starts in the background. It returns the channel that
// delivers the flush's result, or nil without a journal.
func (s *sender) prepare(g []*item) chan error {
	b := s.b
	now := time.Now()
	for _, it := range g {
		it.attempt++
		if it.first.IsZero() {
			it.first = now
			it.deadline = now.Add(b.cfg.RetryFor)
		}
		it.last = now
	}
	j := b.cfg.Journal
	if j == nil {
		return nil
	}
	for _, it := range g {
		rec := journal.Record{Row: it.row.Num, Key: it.key, Recipients: it.to, State: journal.Sending,
			Hash: it.spool.hash, MessageID: it.msgID, Attempt: it.attempt}
		it.narrowRec(&rec)
		b.journal(rec)
	}
	flushed := make(chan error, 1)
	go func() {
		err := j.Flush()
		if err != nil {
			b.journalFailed(err)
		}
		flushed <- err
	}()
	return flushed
}

// prefetch takes the next group from what is ready (without waiting) and
// prepares it, while the current group of cur messages is being sent. Only
// with a journal (without one there is nothing to overlap) and no --rate
// (the limiter decides when a group may go).
func (s *sender) prefetch(cur int) {
	b := s.b
	if b.cfg.Journal == nil || s.next != nil || b.lim.rate() > 0 || b.ctx.Err() != nil {
		return
	}
	n := b.cfg.GroupSize
	if pc := b.perConn(); pc > 0 {
		if left := pc - s.onConn - cur; left > 0 {
			n = min(n, left)
		} else {
			n = min(n, pc) // for the next connection
		}
	}
	var g []*item
	for len(g) < n {
		select {
		case it, ok := <-b.ready:
			if !ok {
				break
			}
			g = append(g, it)
			continue
		default:
		}
		break
	}
	if len(g) == 0 {
		return
	}
	s.next = g
	s.nextFlushed = s.prepare(g)
}

// giveBack hands back a prepared group that will not be sent on this
// connection (the batch stops, the connection is parked or lost): its
// "sending" records are followed by "deferred" ones (nothing was written to
// the server, not an attempt), and the rows go back to the queue.
func (s *sender) giveBack() {
	g := s.next
	if g == nil {
		return
	}
	if s.nextFlushed != nil {
		<-s.nextFlushed
	}
	s.next, s.nextFlushed = nil, nil
	s.unprepare(g)
}

// unprepare undoes prepare for a group nothing of which was sent.
func (s *sender) unprepare(g []*item) {
	b := s.b
	for _, it := range g {
		it.attempt--
		if b.cfg.Journal != nil {
			b.fin.Lock()
			rec := journal.Record{Row: it.row.Num, Key: it.key, State: journal.Deferred, Attempt: it.attempt,
				Error: "not sent (the connection was not used for it)"}
			it.narrowRec(&rec)
			b.journal(rec)
			b.fin.Unlock()
		}
		if b.ctx.Err() != nil {
			b.unsent(it)
		} else {
			b.requeue(it)
		}
	}
}

// outcome records one message's outcome and decides what comes next for
// it. It reports whether the connection is unusable.
// before is the number of messages sent on the connection before this one.
func (s *sender) outcome(it *item, o transport.Outcome, before int) (broken bool) {
	b := s.b
	res := RowResult{Row: it.row.Num, Attempts: it.tries + 1, First: it.first, Last: time.Now()}
	rec := journal.Record{Row: it.row.Num, Key: it.key, Attempt: it.attempt}
	if r := o.Result; r != nil {
		if r.Reply != nil {
			res.Code, res.Enhanced, res.Reply = r.Reply.Code, r.Reply.Enhanced, r.Reply.Text
		}
		res.QueueID = r.QueueID
	}
	if o.Err == nil {
		it.tries++
		return s.accepted(it, o.Result, res, rec)
	}
	var te *transport.Error
	if !errors.As(o.Err, &te) {
		te = &transport.Error{Stage: transport.StageMail, Err: o.Err}
	}
	if te.Reply == nil && b.ctx.Err() != nil {
		// The batch itself stopped (interrupted, or stopped by an
		// authentication or journal failure) while this message was on
		// the wire: never a permanent failure of the row.
		return s.stopped(it, o, te, res, rec)
	}
	if te.Reply != nil {
		res.Code, res.Enhanced, res.Reply = te.Reply.Code, te.Reply.Enhanced, te.Reply.Text
		switch {
		case errors.Is(te, transport.ErrBroken):
			// A later message of a group whose connection a 421 closed:
			// counted once, for the message it answered.
		case te.Reply.Code == 421 && before > 0 && b.learnPerConn(before):
			// The server closed the connection after this many messages:
			// a per-connection limit, learnt and kept from now on.
			b.prog.Throttled.Add(1)
		case te.Reply.Code == 421 || (te.Reply.Code == 451 && strings.HasPrefix(te.Reply.Enhanced, "4.7.")):
			b.prog.Throttled.Add(1)
			b.gov.throttle()
		}
	}
	res.Error = te.Error()
	rec.Code, rec.Enhanced, rec.Reply, rec.Error = res.Code, res.Enhanced, res.Reply, res.Error
	broken = te.Reply != nil && te.Reply.Code == 421
	if it.narrowed() && !(errors.Is(te, transport.ErrBroken) && !o.DotWritten) && !te.Ambiguous() {
		return s.narrowedFailed(it, te, res, rec, broken)
	}
	switch {
	case errors.Is(te, transport.ErrBroken) && !o.DotWritten:
		// The connection was gone before the server said anything about
		// this message: send it again on a new one, not an attempt. The
		// journal must not leave it "sending".
		it.attempt--
		rec.State, rec.Attempt = journal.Deferred, it.attempt
		rec.Error = "not sent (connection lost before it): " + rec.Error
		it.narrowRec(&rec)
		b.fin.Lock()
		b.journal(rec)
		b.fin.Unlock()
		if b.ctx.Err() != nil {
			b.unsent(it)
		} else {
			b.requeue(it)
		}
		return true
	case te.Ambiguous():
		it.tries++
		res.Status, rec.State = journal.Uncertain, journal.Uncertain
		if b.cfg.ResendUncertain && b.again(it) {
			b.retryLater(it, rec, b.backoff(it.tries))
			return true
		}
		res.Attempts = it.tries
		b.finish(it, res, &rec)
		return true
	case te.Temporary():
		if broken {
			// 421: the server closes the connection (too many messages,
			// shutting down); the governor slows down. Not held against
			// the message, within its deadline.
			it.closed++
		} else {
			it.tries++
		}
		if te.Reply == nil {
			broken = true // a network failure before the dot
		}
		res.Status, rec.State = journal.Deferred, journal.Deferred
		res.Attempts = it.tries + it.closed
		if b.again(it) {
			b.retryLater(it, rec, b.retryDelay(it))
			return broken
		}
		b.finish(it, res, &rec)
		return broken
	default:
		it.tries++
		res.Attempts = it.tries
		res.Status, rec.State = journal.Failed, journal.Failed
		b.finish(it, res, &rec)
		return broken
	}
}

// accepted records a message the server accepted (for every recipient, or
// some). Recipients refused with a 4xx get the message on a retry (the same
// bytes, RCPT limited to them, the usual backoff and limits), which the
// journal records as "deferred" with them in rcpt; those refused with a 5xx
// are final. The row is "sent" once no recipient is pending, partly (with
// Refused) when some never accepted it.
func (s *sender) accepted(it *item, r *transport.SendResult, res RowResult, rec journal.Record) bool {
	b := s.b
	acc := &journal.Record{Code: res.Code, Enhanced: res.Enhanced, Reply: res.Reply, QueueID: res.QueueID}
	final := it.final
	var temp []journal.Refusal
	throttled := false
	for _, rr := range r.Refused() {
		f := refusal(rr.Addr, rr.Reply)
		if f.Code/100 != 4 {
			final = append(final, f)
			continue
		}
		temp = append(temp, f)
		if f.Code == 421 || (f.Code == 451 && strings.HasPrefix(f.Enhanced, "4.7.")) {
			throttled = true
		}
	}
	if throttled {
		b.prog.Throttled.Add(1)
		b.gov.throttle()
	}
	if len(temp) > 0 && b.again(it) {
		it.final, it.acc = final, acc
		it.narrow(temp)
		rec.State = journal.Deferred
		rec.Error = "accepted for the other recipients; to be retried: " + refusedText(temp)
		it.flush = true
		b.retryLater(it, rec, b.retryDelay(it))
		return false
	}
	res.Status = journal.Sent
	res.Refused = append(final, temp...)
	res.Error = refusedText(res.Refused)
	if it.narrowed() {
		res.Recipients = it.all
	}
	rec.State, rec.Code, rec.Enhanced, rec.Reply, rec.QueueID, rec.Refused = journal.Sent, res.Code, res.Enhanced, res.Reply, res.QueueID, res.Refused
	b.finish(it, res, &rec)
	return false
}

// narrowedFailed records a failed retry of a narrowed row (the message was
// accepted for its other recipients before): the pending recipients get
// the failure as their last reply (each its own for refusals at RCPT),
// those refused with a 5xx are final, and the rest are retried while the
// limits allow; otherwise the row ends "sent", partly: every recipient that
// never accepted the message is in Refused. It reports whether the
// connection is unusable.
func (s *sender) narrowedFailed(it *item, te *transport.Error, res RowResult, rec journal.Record, broken bool) bool {
	b := s.b
	if broken {
		it.closed++ // 421: not held against the row, as for any other
	} else {
		it.tries++
	}
	if te.Reply == nil && te.Temporary() {
		broken = true // a network failure before the dot
	}
	temporary := te.Temporary()
	var re *transport.RcptError
	if errors.As(te, &re) {
		// Every pending recipient refused at RCPT: each with its reply.
		var pend []journal.Refusal
		for _, p := range it.pend {
			k := slices.IndexFunc(re.Refused, func(r transport.RefusedRecipient) bool { return r.Addr == p.Rcpt })
			if k >= 0 {
				p = refusal(p.Rcpt, re.Refused[k].Reply)
			}
			if p.Code/100 == 4 {
				pend = append(pend, p)
			} else {
				it.final = append(it.final, p)
			}
		}
		it.narrow(pend)
		temporary = len(pend) > 0
	} else {
		pend := it.pend
		if te.Reply != nil {
			pend = make([]journal.Refusal, len(it.pend))
			for i, p := range it.pend {
				pend[i] = refusal(p.Rcpt, te.Reply)
			}
		}
		if !temporary {
			for _, p := range pend {
				if te.Reply == nil {
					p.Reply = te.Error()
				}
				it.final = append(it.final, p)
			}
			pend = nil
		}
		it.narrow(pend)
	}
	if temporary && b.again(it) {
		rec.State = journal.Deferred
		b.retryLater(it, rec, b.retryDelay(it))
		return broken
	}
	res.Status = journal.Sent
	res.Recipients = it.all
	res.Refused = it.refusals()
	res.Error = refusedText(res.Refused)
	if re == nil {
		res.Error += "; the last try: " + te.Error()
	}
	res.Code, res.Enhanced, res.Reply, res.QueueID = 0, "", "", ""
	if a := it.acc; a != nil {
		res.Code, res.Enhanced, res.Reply, res.QueueID = a.Code, a.Enhanced, a.Reply, a.QueueID
	}
	res.Attempts = it.tries
	rec = journal.Record{Row: it.row.Num, Key: it.key, Attempt: it.attempt, State: journal.Sent,
		Code: res.Code, Enhanced: res.Enhanced, Reply: res.Reply, QueueID: res.QueueID, Refused: res.Refused}
	b.finish(it, res, &rec)
	return broken
}

// refusal is a recipient refused with reply r.
func refusal(addr string, r *transport.Reply) journal.Refusal {
	f := journal.Refusal{Rcpt: addr}
	if r != nil {
		f.Code, f.Enhanced, f.Reply = r.Code, r.Enhanced, r.Text
	}
	return f
}

// again reports whether a row may be tried once more.
func (b *run) again(it *item) bool {
	return b.ctx.Err() == nil && it.tries < b.cfg.MaxAttempts && time.Now().Before(it.deadline)
}

// retryDelay is the backoff for it's next try, cut to its deadline.
func (b *run) retryDelay(it *item) time.Duration {
	d := b.backoff(max(it.tries, 1))
	if left := time.Until(it.deadline); d > left {
		d = max(left, 0)
	}
	return d
}

// stopped records a message whose sending the batch's own stop cut short
// (no reply from the server): "uncertain" when its final dot was written
// (the server may have it), otherwise "not sent", handed back as unsent so
// that --resume sends it. The connection is unusable.
func (s *sender) stopped(it *item, o transport.Outcome, te *transport.Error, res RowResult, rec journal.Record) bool {
	b := s.b
	if o.DotWritten {
		it.tries++
		res.Attempts = it.tries
		res.Error = "the batch stopped after the final dot: " + te.Error()
		res.Status = journal.Uncertain
		rec.State, rec.Error = journal.Uncertain, res.Error
		b.finish(it, res, &rec)
		return true
	}
	it.attempt--
	rec.State, rec.Attempt = journal.Deferred, it.attempt
	rec.Error = "not sent (the batch stopped): " + te.Error()
	it.narrowRec(&rec)
	b.fin.Lock()
	b.journal(rec)
	b.fin.Unlock()
	b.unsent(it)
	return true
}

// retryLater journals rec, the row's outcome for this attempt (with the
// recipients still pending when the message was accepted for the others),
// and schedules the row's next attempt after d.
func (b *run) retryLater(it *item, rec journal.Record, d time.Duration) {
	it.narrowRec(&rec)
	b.fin.Lock()
	b.journal(rec)
	b.fin.Unlock()
	b.retry(it, d)
}

// refusedText describes the recipients refused while the message went to
// the others: "refused: b@x: 550 5.1.1 no such user; c@x: ..." ("" for
// none).
func refusedText(refused []journal.Refusal) string {
	if len(refused) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("refused: ")
	for i, f := range refused {
		if i > 0 {
			b.WriteString("; ")
		}
		r := transport.Reply{Code: f.Code, Enhanced: f.Enhanced, Text: f.Reply}
		b.WriteString(f.Rcpt + ": " + r.String())
	}
	return b.String()
}
