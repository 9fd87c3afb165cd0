package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/report"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
)

// Defaults of Config's zero fields.
const (
	DefaultConnections = 4
	DefaultGroupSize   = 32
	DefaultMaxAttempts = 5
	DefaultRetryFor    = 10 * time.Minute
	DefaultRetryBase   = time.Second
	DefaultRetryMax    = 5 * time.Minute
	DefaultQuiet       = 30 * time.Second
)

// Config configures Run: the template, the rows, the server and the
// policies of a batch.
type Config struct {
	Template  *template.Template
	Expand    template.Options // Vars, NoShell, ShellTimeout, HideEnv...; Values are defaults the row overrides; MessageID and Boundary are set per row
	Rows      selection.Source // the selected rows, in file order
	KeyColumn string           // --key ("" = the default key columns)
	// RunID is part of every Message-ID and MIME boundary; with a journal
	// it must be the journal's run id (Run sets it so), so that a resumed
	// run gives a row the same Message-ID.
	RunID    string
	Hostname string // the Message-ID's domain ("" = Expand.Hostname, else os.Hostname)

	// Transport is the server and how to reach it; Transcript, when set,
	// logs the first connection only (a transcript of every connection
	// interleaved would be unreadable).
	Transport  transport.Config
	Transcript io.Writer
	// Dial connects; nil means transport.Dial.
	Dial func(ctx context.Context, cfg transport.Config) (*transport.Client, error)

	Connections   int     // parallel connections (DefaultConnections)
	GroupSize     int     // messages per SendMany call, one journal fsync each, overlapping the previous group (DefaultGroupSize)
	RenderWorkers int     // (default GOMAXPROCS)
	Rate          float64 // messages per second for the whole batch; 0 = unlimited
	PerConnection int     // messages before reconnecting; 0 = no limit
	MaxAttempts   int     // delivery attempts per row in this run (DefaultMaxAttempts)
	RetryFor      time.Duration
	RetryBase     time.Duration // the first retry's delay, doubled each time, with jitter
	RetryMax      time.Duration // the longest delay
	Quiet         time.Duration // after a throttle, how long without one before speeding up again

	// Journal, when set, receives every state change; rows it holds as
	// sent, failed or skipped are not sent again, uncertain ones only with
	// ResendUncertain, and re-sent rows keep their Message-ID. A journal
	// opened with OpenOptions.Positions lets a resumed run find the rows
	// left waiting for a retry to some of their recipients only (the
	// message was accepted for the others), and send to those only;
	// without positions such a row goes to all its recipients.
	Journal         *journal.Journal
	ResendUncertain bool
	// Report, when set, gets one entry per row (written under a lock).
	Report *report.Writer
	// OnRow is called once per row outcome, one call at a time (for
	// printing failures as they happen).
	OnRow func(RowResult)
	// Progress, when set, is updated as the batch runs; read it with Load.
	Progress *Progress
	// SpoolDir is where messages larger than 64 KiB are spooled ("" = the
	// system's temporary directory).
	SpoolDir string
	// Spool, when set, holds the messages Validate rendered
	// (RenderConfig.Spool) with this run's id: the rows found in it are
	// sent from it, not rendered again; the others (invalid rows, with
	// --skip-invalid) are rendered and fail as before. Rows still come
	// from Rows, in the same order.
	Spool *Spool
	// Expect is how many rows Rows holds when that is known (Validate's
	// count; 0 = unknown): a run that stops reads no further, and counts
	// the rows it never read as not sent (Summary.Rows, Summary.Unsent).
	Expect int
	// Rand is the jitter source (nil = math/rand/v2's global one).
	Rand func() float64
}

// RowResult is the outcome of one row.
type RowResult struct {
	Row        int
	Key        string
	Recipients []string
	Status     journal.State // Sent, Failed, Deferred, Uncertain, Skipped
	Earlier    bool          // the outcome was recorded by an earlier run (--resume)
	Invalid    bool          // failed before sending: a data, template or address error
	Code       int
	Enhanced   string
	Reply      string
	QueueID    string
	Error      string // what went wrong when it is not an SMTP reply; refused recipients of a sent row
	// Refused are the recipients refused while the message went to the
	// others (Status Sent): the row is partly delivered, "partial" in the
	// report. Recipients refused with a 4xx are retried first (to them
	// only); they are here when the retries were used up, with their last
	// replies.
	Refused  []journal.Refusal
	Attempts int
	First    time.Time
	Last     time.Time
}

// Progress holds the live counts of a batch; every field is safe to read
// while it runs.
type Progress struct {
	Rows      atomic.Int64 // rows read (selected)
	Sent      atomic.Int64 // accepted in this run
	Earlier   atomic.Int64 // skipped: done (sent, partly sent, failed or left uncertain) by an earlier run
	Failed    atomic.Int64 // permanent failures (5xx), invalid rows included
	Invalid   atomic.Int64 // data, template or address errors
	Partial   atomic.Int64 // sent, but some recipients refused
	Deferred  atomic.Int64 // temporary failures left after the last attempt
	Uncertain atomic.Int64 // connection lost after the final dot
	Retrying  atomic.Int64 // waiting for a retry now
	Unsent    atomic.Int64 // not sent because the batch stopped
	Throttled atomic.Int64 // throttling replies seen (421, 451 4.7.x)
	Bytes     atomic.Int64
}

// Summary is the end state of a batch.
type Summary struct {
	Rows, Sent, Earlier, Failed, Invalid, Partial, Deferred, Uncertain, Unsent, Throttled int
	// EarlierSent, EarlierFailed and EarlierUncertain split Earlier;
	// EarlierPartial counts the rows of EarlierSent that went to some of
	// their recipients only.
	EarlierSent, EarlierFailed, EarlierUncertain, EarlierPartial int
	Bytes                                                        int64
	Elapsed                                                      time.Duration
	// Stopped is why the batch stopped before its end (nil when it
	// finished): a *transport.Error with AuthFailed(), a server that
	// never answered, a journal that cannot be written, ctx's end.
	Stopped error
}

// Delivered reports whether every row was delivered (in this run or an
// earlier one), to every recipient.
func (s *Summary) Delivered() bool {
	return s.Stopped == nil && s.Failed == 0 && s.Partial == 0 && s.Deferred == 0 && s.Uncertain == 0 &&
		s.Unsent == 0 && s.EarlierFailed == 0 && s.EarlierUncertain == 0 && s.EarlierPartial == 0
}

// item is a row on its way: rendered, sent, maybe retried.
type item struct {
	*rendered
	attempt  int // the journal's attempt number of the latest attempt
	tries    int // attempts in this run that reached the server
	closed   int // times the server closed the connection (421) on it: not counted as tries
	first    time.Time
	last     time.Time
	deadline time.Time

	// A message accepted for some recipients while others were refused
	// with a 4xx is retried to those only (the same spooled bytes): all is
	// then the message's recipients and to the pending ones, pend their
	// last replies (in to's order), final the recipients refused for good
	// (5xx), and acc the reply to the last accepted delivery. all is nil
	// otherwise.
	all   []string
	pend  []journal.Refusal
	final []journal.Refusal
	acc   *journal.Record // Code, Enhanced, Reply, QueueID
	flush bool            // the retry makes the journal durable first
}

// narrowed reports whether it goes to the recipients left from an earlier
// delivery only.
func (it *item) narrowed() bool { return it.all != nil }

// refusals returns every recipient of a narrowed row that has not accepted
// the message yet: those refused for good, then the pending ones.
func (it *item) refusals() []journal.Refusal {
	out := make([]journal.Refusal, 0, len(it.final)+len(it.pend))
	return append(append(out, it.final...), it.pend...)
}

// narrowRec completes a record of a narrowed row, other than its final
// "sent", with what --resume needs to go on: rcpt the pending recipients,
// refused every recipient that has not accepted the message (the pending
// ones with their last replies), and, but on "sending", the code, reply
// and queue id of the accepted delivery.
func (it *item) narrowRec(r *journal.Record) {
	if !it.narrowed() || r.State == journal.Sent {
		return
	}
	r.Recipients = it.to
	r.Refused = it.refusals()
	if it.acc != nil && r.State != journal.Sending {
		r.Code, r.Enhanced, r.Reply, r.QueueID = it.acc.Code, it.acc.Enhanced, it.acc.Reply, it.acc.QueueID
	}
}

// narrow makes it go to the recipients of pend only.
func (it *item) narrow(pend []journal.Refusal) {
	if it.all == nil {
		it.all = it.to
	}
	it.pend = pend
	it.to = make([]string, len(pend))
	for i, f := range pend {
		it.to[i] = f.Rcpt
	}
}

// resumeNarrowed restores, at --resume, a row that an earlier run left
// deferred (or uncertain) after its message was accepted for some of its
// recipients: its last journal record lists the recipients still pending
// (narrower than the message's), and the row goes to those only. Without
// the record (the journal opened without positions) it goes to all.
func (b *run) resumeNarrowed(it *item) {
	j := b.cfg.Journal
	if st := j.State(it.row.Num); st != journal.Deferred && st != journal.Uncertain {
		return
	}
	rec, err := j.LastRecord(it.row.Num)
	if err != nil || rec == nil || len(rec.Recipients) == 0 || len(rec.Recipients) >= len(it.to) ||
		(rec.State != journal.Deferred && rec.State != journal.Uncertain) {
		return
	}
	find := func(list []string, a string) int {
		return slices.IndexFunc(list, func(b string) bool { return strings.EqualFold(a, b) })
	}
	var pend []journal.Refusal
	for _, a := range rec.Recipients {
		i := find(it.to, a)
		if i < 0 {
			return // not the message's recipients: the data or the template changed
		}
		f := journal.Refusal{Rcpt: it.to[i]}
		if k := slices.IndexFunc(rec.Refused, func(r journal.Refusal) bool { return strings.EqualFold(r.Rcpt, a) }); k >= 0 {
			f.Code, f.Enhanced, f.Reply = rec.Refused[k].Code, rec.Refused[k].Enhanced, rec.Refused[k].Reply
		}
		pend = append(pend, f)
	}
	for _, f := range rec.Refused {
		if find(rec.Recipients, f.Rcpt) < 0 {
			it.final = append(it.final, f)
		}
	}
	if rec.Code/100 == 2 {
		it.acc = &journal.Record{Code: rec.Code, Enhanced: rec.Enhanced, Reply: rec.Reply, QueueID: rec.QueueID}
	}
	it.narrow(pend)
}

// run is the state of one Run.
type run struct {
	cfg      Config
	ctx      context.Context
	stop     context.CancelCauseFunc
	r        *renderer
	lim      *limiter
	gov      *governor
	prog     *Progress
	ready    chan *item
	finished chan struct{}
	pending  sync.WaitGroup
	slots    *slots       // bounds the rows in flight: flat memory
	fin      sync.Mutex   // serialises journal outcome records, the report and OnRow
	earlier  [4]int       // sent, failed, uncertain, partial (of sent) skipped from the journal
	dialed   atomic.Bool  // a connection succeeded once
	first    atomic.Bool  // the transcript was handed to a connection
	jerr     atomic.Value // the first journal error
	learnt   atomic.Int64 // a per-connection limit learnt from 421 replies (0 = none)
}

// perConn is the number of messages a connection may send: --per-connection,
// or less when the server showed a lower limit.
func (b *run) perConn() int {
	pc := b.cfg.PerConnection
	if l := int(b.learnt.Load()); l > 0 && (pc == 0 || l < pc) {
		pc = l
	}
	return pc
}

// learnPerConn records that the server closed a connection with 421
// after n messages. It reports whether a per-connection limit explains
// it: the first time (the limit is learnt), or when the connection had
// reached the limit already. A lower n later is learnt too but reported
// as throttling: the server may be closing connections at random.
func (b *run) learnPerConn(n int) bool {
	for {
		old := b.learnt.Load()
		if old != 0 && int64(n) >= old {
			return true
		}
		if b.learnt.CompareAndSwap(old, int64(n)) {
			return old == 0
		}
	}
}

// Run sends a batch: rows are rendered by parallel workers into spools
// (or read from Config.Spool, rendered by Validate), which Connections
// senders take in groups and send with transport.Client.SendMany on
// connections they keep open. The journal gets "sending" for a whole group
// and one fsync, which must end before the group's first final dot
// (SendHooks.BeforeDot waits for it), then each message's outcome; a
// sender prepares its next group, records and fsync, while the current one
// is on the wire. Temporary failures are retried
// with exponential backoff and jitter; throttling replies slow the batch
// down; an authentication failure (535) stops it.
//
// The error is for the batch as a whole and is also in Summary.Stopped
// when rows were left; rows that failed are counted in the Summary.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	start := time.Now()
	cfg.defaults()

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	b := &run{
		cfg:      cfg,
		ctx:      ctx,
		stop:     stop,
		lim:      &limiter{},
		prog:     cfg.Progress,
		finished: make(chan struct{}),
	}
	if b.prog == nil {
		b.prog = &Progress{}
	}
	b.lim.setRate(cfg.Rate)
	b.gov = newGovernor(cfg.Connections, cfg.Rate, b.lim, cfg.Quiet, cfg.RetryBase, min(cfg.RetryMax, time.Minute))
	inflight := max(256, 4*cfg.Connections*cfg.GroupSize)
	b.slots = newSlots(inflight)
	b.ready = make(chan *item, inflight)
	b.r = &renderer{tmpl: cfg.Template, base: cfg.Expand, key: cfg.KeyColumn, runID: cfg.RunID,
		host: cfg.Hostname, hash: cfg.Journal != nil, spoolDir: cfg.SpoolDir}
	if cfg.Journal != nil {
		b.r.runID = cfg.Journal.Header().RunID
		b.r.msgID = cfg.Journal.MessageID
	}
	b.r.defaults()
	if sp := cfg.Spool; sp != nil && (!sp.done || sp.runID != b.r.runID) {
		err := fmt.Errorf("batch: the spool was rendered for run %q, not %q", sp.runID, b.r.runID)
		return &Summary{Stopped: err, Elapsed: time.Since(start)}, err
	}

	// Reader → render workers → ready → senders; rows in the spool go
	// from the reader to the senders.
	rows := make(chan data.Row, cfg.RenderWorkers*4)
	var rowErrs sync.Map // row number → its source error
	var renderers sync.WaitGroup
	for range cfg.RenderWorkers {
		renderers.Add(1)
		go func() {
			defer renderers.Done()
			for row := range rows {
				var it *rendered
				if err, ok := rowErrs.LoadAndDelete(row.Num); ok {
					it = &rendered{row: row, render: err.(error), invalid: true}
				} else {
					it = b.r.render(row)
				}
				b.dispatch(it)
			}
		}()
	}
	var readErr error
	go func() {
		readErr = feed(ctx, cfg.Rows, func(row data.Row, rowErr error) bool {
			b.prog.Rows.Add(1)
			if b.skip(row) {
				return true
			}
			if !b.slots.acquire(ctx) {
				b.prog.Unsent.Add(1) // read, but the batch stopped
				return false
			}
			if rowErr != nil {
				rowErrs.Store(row.Num, rowErr)
			} else if cfg.Spool != nil {
				it, err := cfg.Spool.lookup(row.Num)
				if err != nil {
					b.slots.release()
					b.prog.Unsent.Add(1)
					b.fail(err)
					return false
				}
				if it != nil {
					it.row = row
					if key, _ := selection.Key(row, cfg.KeyColumn); key == it.key {
						b.pending.Add(1)
						b.dispatch(it)
						return true
					}
					// The data changed since Validate: render the row anew.
				}
			}
			b.pending.Add(1)
			select {
			case rows <- row:
				return true
			case <-ctx.Done():
				b.pending.Done()
				b.slots.release()
				b.prog.Unsent.Add(1)
				return false
			}
		})
		close(rows)
		renderers.Wait()
		b.pending.Wait()
		close(b.ready)
		close(b.finished)
	}()

	var senders sync.WaitGroup
	for id := range cfg.Connections {
		senders.Add(1)
		go func() {
			defer senders.Done()
			(&sender{b: b, id: id}).loop()
		}()
	}
	senders.Wait()
	<-b.finished

	if cfg.Journal != nil {
		if err := cfg.Journal.Flush(); err != nil {
			b.fail(fmt.Errorf("journal: %w", err))
		}
	}
	if cfg.Report != nil {
		if err := cfg.Report.Flush(); err != nil {
			b.fail(fmt.Errorf("report: %w", err))
		}
	}
	p := b.prog
	s := &Summary{
		Rows: int(p.Rows.Load()), Sent: int(p.Sent.Load()), Earlier: int(p.Earlier.Load()), Failed: int(p.Failed.Load()),
		Invalid: int(p.Invalid.Load()), Partial: int(p.Partial.Load()), Deferred: int(p.Deferred.Load()),
		Uncertain: int(p.Uncertain.Load()), Unsent: int(p.Unsent.Load()), Throttled: int(p.Throttled.Load()),
		EarlierSent: b.earlier[0], EarlierFailed: b.earlier[1], EarlierUncertain: b.earlier[2], EarlierPartial: b.earlier[3],
		Bytes: p.Bytes.Load(), Elapsed: time.Since(start),
	}
	err := readErr
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errDone) {
		err = cause
	}
	s.Stopped = err
	if err != nil && cfg.Expect > s.Rows {
		s.Unsent += cfg.Expect - s.Rows
		s.Rows = cfg.Expect
	}
	return s, err
}

// errDone cancels the run's context at its normal end.
var errDone = errors.New("batch done")

func (c *Config) defaults() {
	if c.Connections <= 0 {
		c.Connections = DefaultConnections
	}
	if c.GroupSize <= 0 {
		c.GroupSize = DefaultGroupSize
	}
	if c.Rate > 0 {
		// About a tenth of a second of messages per group, so that a
		// slow rate sends them one by one rather than in bursts.
		c.GroupSize = max(1, min(c.GroupSize, int(c.Rate/10)))
	}
	if c.PerConnection > 0 {
		c.GroupSize = min(c.GroupSize, c.PerConnection)
	}
	if c.RenderWorkers <= 0 {
		c.RenderWorkers = runtime.GOMAXPROCS(0)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultRetryFor
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.Quiet <= 0 {
		c.Quiet = DefaultQuiet
	}
	if c.Dial == nil {
		c.Dial = transport.Dial
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
}

// fail stops the batch with err (the first one wins).
func (b *run) fail(err error) {
	b.stop(err)
}

// skip reports whether the journal says a row needs nothing more, and
// records it so. With a report, the row's outcome is read back from the
// journal (its last record: reply, codes, queue id, refused recipients) and
// its recipients from the spool.
func (b *run) skip(row data.Row) bool {
	j := b.cfg.Journal
	if j == nil {
		return false
	}
	st := j.State(row.Num)
	switch {
	case st == journal.Sent, st == journal.Failed, st == journal.Skipped:
	case st == journal.Uncertain && !b.cfg.ResendUncertain:
	default:
		return false
	}
	b.prog.Earlier.Add(1)
	key, _ := selection.Key(row, b.cfg.KeyColumn)
	res := RowResult{Row: row.Num, Key: key, Status: st, Earlier: true, Attempts: j.Attempts(row.Num),
		Reply: "recorded by an earlier run (journal " + j.Path() + ")"}
	if b.cfg.Report != nil {
		b.earlierDetails(&res, row.Num)
	}
	b.fin.Lock()
	defer b.fin.Unlock()
	switch st {
	case journal.Sent, journal.Skipped:
		b.earlier[0]++
		if st == journal.Sent && j.Partial(row.Num) {
			b.earlier[3]++
		}
	case journal.Failed:
		b.earlier[1]++
	case journal.Uncertain:
		b.earlier[2]++
	}
	b.outcome(res, row.Values)
	return true
}

// earlierDetails fills in the outcome of a row an earlier run finished from
// its last record in the journal (Journal.LastRecord: nothing kept in
// memory but the record's position), and its recipients from the spool.
// A record that cannot be read leaves the generic reply.
func (b *run) earlierDetails(res *RowResult, num int) {
	if sp := b.cfg.Spool; sp != nil {
		if it, err := sp.lookup(num); err == nil && it != nil && it.key == res.Key {
			res.Recipients = it.to
		}
	}
	rec, err := b.cfg.Journal.LastRecord(num)
	if err != nil {
		res.Error = err.Error()
		return
	}
	if rec == nil {
		return
	}
	note := res.Reply
	res.Code, res.Enhanced, res.Reply, res.QueueID, res.Refused = rec.Code, rec.Enhanced, rec.Reply, rec.QueueID, rec.Refused
	res.Last = rec.Time
	if res.Recipients == nil {
		res.Recipients = rec.Recipients
	}
	var errs []string
	for _, e := range []string{rec.Error, refusedText(rec.Refused), note} {
		if e != "" {
			errs = append(errs, e)
		}
	}
	res.Error = strings.Join(errs, "; ")
}

// dispatch hands a rendered row to the senders, or fails it.
func (b *run) dispatch(r *rendered) {
	it := &item{rendered: r}
	if j := b.cfg.Journal; j != nil {
		it.attempt = j.Attempts(r.row.Num)
		if r.render == nil {
			b.resumeNarrowed(it)
		}
	}
	if r.render != nil {
		res := RowResult{Row: r.row.Num, Key: r.key, Status: journal.Failed, Invalid: r.invalid, Error: r.render.Error()}
		b.finish(it, res, nil)
		if !r.invalid {
			b.fail(r.render) // a system error: a full disk
		}
		return
	}
	b.ready <- it
}

// finish records a row's final outcome and releases its slot.
func (b *run) finish(it *item, res RowResult, rec *journal.Record) {
	p := b.prog
	switch res.Status {
	case journal.Sent:
		p.Sent.Add(1)
		p.Bytes.Add(it.spool.size)
		if len(res.Refused) > 0 {
			p.Partial.Add(1)
		}
	case journal.Failed:
		p.Failed.Add(1)
		if res.Invalid {
			p.Invalid.Add(1)
		}
	case journal.Deferred:
		if res.Attempts == 0 && rec == nil {
			p.Unsent.Add(1)
		} else {
			p.Deferred.Add(1)
		}
	case journal.Uncertain:
		p.Uncertain.Add(1)
	}
	if res.Recipients == nil {
		res.Recipients = it.to
	}
	res.Key = it.key
	b.fin.Lock()
	if rec == nil && res.Status == journal.Failed && b.cfg.Journal != nil {
		rec = &journal.Record{Row: it.row.Num, Key: it.key, State: journal.Failed, Error: res.Error}
	}
	if rec != nil {
		it.narrowRec(rec)
		b.journal(*rec)
	}
	b.outcome(res, it.row.Values)
	b.fin.Unlock()
	it.spool.release()
	b.slots.release()
	b.pending.Done()
}

// outcome reports a row (with b.fin held).
func (b *run) outcome(res RowResult, values map[string]any) {
	if b.cfg.Report != nil {
		e := report.Entry{Row: res.Row, Recipients: res.Recipients, Status: res.Status, Code: res.Code,
			Enhanced: res.Enhanced, Reply: res.Reply, QueueID: res.QueueID, Attempts: res.Attempts,
			FirstAttempt: res.First, LastAttempt: res.Last, Values: values}
		for _, f := range res.Refused {
			e.Refused = append(e.Refused, f.Rcpt)
		}
		if e.Reply == "" {
			e.Reply = res.Error
		} else if res.Error != "" {
			e.Reply += "; " + res.Error
		}
		if !res.First.IsZero() {
			e.Duration = res.Last.Sub(res.First)
		}
		if err := b.cfg.Report.Write(e); err != nil {
			b.fail(fmt.Errorf("report: %w", err))
		}
	}
	if b.cfg.OnRow != nil {
		b.cfg.OnRow(res)
	}
}

// journal appends a record; a failure stops the batch.
func (b *run) journal(r journal.Record) {
	if b.cfg.Journal == nil {
		return
	}
	if err := b.cfg.Journal.Append(r); err != nil {
		b.journalFailed(err)
	}
}

func (b *run) journalFailed(err error) {
	b.jerr.CompareAndSwap(nil, err)
	b.fail(fmt.Errorf("journal: %w", err))
}

// retry schedules it again after d, or hands it back as unsent when the
// batch stops meanwhile.
func (b *run) retry(it *item, d time.Duration) {
	b.prog.Retrying.Add(1)
	flush := it.flush && b.cfg.Journal != nil
	it.flush = false
	go func() {
		defer b.prog.Retrying.Add(-1)
		if flush {
			// The row's "deferred" record is durable before the wait, not
			// only with the next group: killed meanwhile, --resume goes on
			// with the recipients left.
			if err := b.cfg.Journal.Flush(); err != nil {
				b.journalFailed(err)
			}
		}
		if sleep(b.ctx, d) == nil {
			select {
			case b.ready <- it:
				return
			case <-b.ctx.Done():
			}
		}
		b.unsent(it)
	}()
}

// requeue hands it back at once (its connection was lost before it was
// sent: not an attempt).
func (b *run) requeue(it *item) {
	select {
	case b.ready <- it:
	default:
		b.retry(it, 0)
	}
}

// unsent finishes a row the batch stopped before sending (again).
func (b *run) unsent(it *item) {
	res := RowResult{Row: it.row.Num, Status: journal.Deferred, Attempts: it.tries, First: it.first, Last: it.last,
		Error: "not sent: the batch stopped"}
	if it.tries > 0 {
		// Deferred after real attempts: counted as deferred.
		b.finish(it, res, &journal.Record{Row: it.row.Num, Key: it.key, State: journal.Deferred, Attempt: it.attempt, Error: res.Error})
		return
	}
	b.finish(it, res, nil)
}

// backoff is the delay before retry number n (1-based): RetryBase doubled
// each time, capped at RetryMax, times a jitter factor in [0.5, 1.5).
func (b *run) backoff(n int) time.Duration {
	d := b.cfg.RetryBase
	for i := 1; i < n && d < b.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, b.cfg.RetryMax)
	return time.Duration(float64(d) * (0.5 + b.cfg.Rand()))
}

// slots counts the rows in flight for the one goroutine that reads them:
// acquire blocks while the limit is reached, and a blocked reader is woken
// only once a quarter of the slots are free again, so that it reads rows
// in bursts instead of being woken for every row sent.
type slots struct {
	mu      sync.Mutex
	n, max  int
	low     int
	waiting bool
	wake    chan struct{}
}

func newSlots(n int) *slots {
	return &slots{max: n, low: n - max(1, n/4), wake: make(chan struct{}, 1)}
}

// acquire takes a slot, or returns false when ctx ends first.
func (s *slots) acquire(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if s.n < s.max {
			s.n++
			s.mu.Unlock()
			return true
		}
		s.waiting = true
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return false
		}
	}
}

// release frees a slot.
func (s *slots) release() {
	s.mu.Lock()
	s.n--
	wake := s.waiting && s.n <= s.low
	if wake {
		s.waiting = false
	}
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}
