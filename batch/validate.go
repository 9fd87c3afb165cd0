package batch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/template"
)

// RenderConfig configures Validate: the rendering half of a batch.
type RenderConfig struct {
	Template  *template.Template
	Expand    template.Options     // Vars, NoShell, ShellTimeout, HideEnv...; Values are defaults the row overrides; MessageID and Boundary are set per row
	Rows      selection.Source     // the selected rows, in file order
	KeyColumn string               // --key ("" = the default key columns)
	RunID     string               // part of each Message-ID (default: a random one)
	Hostname  string               // the Message-ID's domain (default: os.Hostname)
	Workers   int                  // render workers (default GOMAXPROCS)
	MessageID func(row int) string // Message-IDs recorded earlier (nil = none)

	// Outbox, when not "", is a directory that receives each valid row's
	// message as ROW.eml (ROW zero-padded to six digits): the dry run.
	Outbox string
	// Keep is how many of the first valid messages (by row number) to
	// return in ValidateResult.First.
	Keep int
	// OnInvalid is called, one call at a time, for each row that fails.
	OnInvalid func(RowError)
	// Spool, when set, receives every valid row's message and envelope,
	// for Run (Config.Spool) to send without rendering the rows again.
	// RunID and MessageID must then be the ones Run will use: the
	// journal's.
	Spool *Spool
	// Journal, when set (the check pass before sending), gets a
	// "rendered" record for every valid row (key, recipients, SHA-256,
	// Message-ID) once it is spooled, without an fsync of its own: it
	// becomes durable with the first group's or at Close. A row the
	// journal already holds in a later state (resumed: sent, deferred,
	// uncertain...) keeps it and gets no record.
	Journal *journal.Journal
}

// validateBatch is the number of rows handed to a render worker at once.
const validateBatch = 32

// RowError is a row that cannot be sent: a data, template or address error.
type RowError struct {
	Row int
	Err error
}

func (e RowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }

// Unwrap returns the cause.
func (e RowError) Unwrap() error { return e.Err }

// ValidateResult is what Validate found.
type ValidateResult struct {
	Rows     int   // rows rendered (valid or not)
	Valid    int   // rows whose message rendered and whose envelope is sound
	Invalid  int   // rows that failed
	Bytes    int64 // the valid messages' total size
	Elapsed  time.Duration
	First    []Rendered        // the first valid messages by row number (up to RenderConfig.Keep)
	Settings template.Settings // the server settings of the first valid message's front matter
}

// Rendered is a rendered message kept by Validate.
type Rendered struct {
	Row        int
	From       string
	Recipients []string
	Message    []byte
}

// Validate renders every row as a batch would send it, in parallel, and
// reports the rows that fail. With RenderConfig.Outbox it writes each
// message there (the dry run). The error is for the batch as a whole: the
// data source failed (*data.Error that is not about one row), the outbox
// cannot be written, or ctx ended.
func Validate(ctx context.Context, cfg RenderConfig) (*ValidateResult, error) {
	start := time.Now()
	r := &renderer{tmpl: cfg.Template, base: cfg.Expand, key: cfg.KeyColumn, runID: cfg.RunID, host: cfg.Hostname, msgID: cfg.MessageID}
	r.defaults()
	if cfg.Outbox != "" {
		if err := os.MkdirAll(cfg.Outbox, 0o755); err != nil {
			return nil, err
		}
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if cfg.Spool != nil {
		r.hash = true // for the journal's "sending" records
		r.spoolDir = filepath.Dir(cfg.Spool.f.Name())
	}
	if cfg.Journal != nil {
		r.hash = true
	}

	// Rows go to the workers in batches: one channel hand-off and one
	// lock per validateBatch rows.
	type job struct {
		rows []data.Row
		errs []error // the rows' source errors (nil = none)
	}
	jobs := make(chan job, 2*workers)
	res := &ValidateResult{}
	settingsRow := 0
	var mu sync.Mutex
	keep := func(it *rendered) {
		// Called with mu held, for valid rows only.
		if cfg.Keep <= 0 {
			return
		}
		if len(res.First) == cfg.Keep && it.row.Num > res.First[len(res.First)-1].Row {
			return
		}
		b, _ := io.ReadAll(must(it.spool.reader()))
		res.First = append(res.First, Rendered{Row: it.row.Num, From: it.from, Recipients: it.to, Message: b})
		sort.Slice(res.First, func(i, j int) bool { return res.First[i].Row < res.First[j].Row })
		if len(res.First) > cfg.Keep {
			res.First = res.First[:cfg.Keep]
		}
	}
	var settings template.Settings
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var chunk *spoolChunk
			if cfg.Spool != nil {
				chunk = &spoolChunk{s: cfg.Spool, buf: make([]byte, 0, spoolChunkSize+8<<10)}
			}
			done := make([]*rendered, 0, validateBatch)
			for j := range jobs {
				done = done[:0]
				for i, row := range j.rows {
					var it *rendered
					if j.errs[i] != nil {
						it = &rendered{row: row, render: j.errs[i], invalid: true}
					} else {
						it = r.render(row)
					}
					if it.render == nil && cfg.Outbox != "" {
						if err := writeEML(filepath.Join(cfg.Outbox, fmt.Sprintf("%06d.eml", it.row.Num)), &it.spool); err != nil {
							cancel(err)
						}
					}
					if it.render == nil && chunk != nil {
						if err := chunk.add(it); err != nil {
							cancel(err)
						}
					}
					done = append(done, it)
				}
				mu.Lock()
				for _, it := range done {
					res.Rows++
					switch {
					case it.render == nil:
						res.Valid++
						res.Bytes += it.spool.size
						if settingsRow == 0 || it.row.Num < settingsRow {
							settingsRow = it.row.Num
							settings = it.settings
						}
						keep(it)
					case it.invalid:
						res.Invalid++
						if cfg.OnInvalid != nil {
							cfg.OnInvalid(RowError{Row: it.row.Num, Err: it.render})
						}
					default:
						cancel(it.render)
					}
				}
				mu.Unlock()
				if chunk != nil {
					// One batch of consecutive rows per write: Run reads
					// the spool nearly in order.
					if err := chunk.flush(); err != nil {
						cancel(err)
					}
				}
				if cfg.Journal != nil {
					if err := journalRendered(cfg.Journal, done); err != nil {
						cancel(err)
					}
				}
				for i, it := range done {
					it.spool.release()
					done[i] = nil
				}
			}
			if chunk != nil {
				if err := chunk.flush(); err != nil {
					cancel(err)
				}
			}
		}()
	}
	var batch job
	send := func() bool {
		if len(batch.rows) == 0 {
			return true
		}
		select {
		case jobs <- batch:
			batch = job{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	err := feed(ctx, cfg.Rows, func(row data.Row, rowErr error) bool {
		if batch.rows == nil {
			batch = job{rows: make([]data.Row, 0, validateBatch), errs: make([]error, 0, validateBatch)}
		}
		batch.rows = append(batch.rows, row)
		batch.errs = append(batch.errs, rowErr)
		if len(batch.rows) < validateBatch {
			return true
		}
		return send()
	})
	if err == nil {
		send()
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return res, err
	}
	if cfg.Spool != nil {
		cfg.Spool.finish(r.runID)
	}
	res.Settings = settings
	res.Elapsed = time.Since(start)
	return res, nil
}

// journalRendered appends a "rendered" record for each valid row of done
// that the journal holds in no later state.
func journalRendered(j *journal.Journal, done []*rendered) error {
	for _, it := range done {
		if it.render != nil {
			continue
		}
		if st := j.State(it.row.Num); st != journal.None && st != journal.Rendered {
			continue
		}
		err := j.Append(journal.Record{Row: it.row.Num, Key: it.key, Recipients: it.to, State: journal.Rendered,
			Hash: it.spool.hash, MessageID: it.msgID})
		if err != nil {
			return err // "journal: ..."
		}
	}
	return nil
}

func must(r io.ReadSeeker, err error) io.Reader {
	if err != nil {
		return errReader{err}
	}
	return r
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// writeEML writes a spooled message to a file.
func writeEML(path string, s *spool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rd, err := s.reader()
	if err == nil {
		bw := bufio.NewWriterSize(f, 32<<10)
		if _, err = io.Copy(bw, rd); err == nil {
			err = bw.Flush()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// defaults fills in the run id and host name.
func (r *renderer) defaults() {
	if r.runID == "" {
		r.runID = journal.NewRunID()
	}
	if r.host == "" {
		r.host = r.base.Hostname
	}
	if r.host == "" {
		r.host, _ = os.Hostname()
	}
	if r.host == "" || !validHost(r.host) {
		r.host = "localhost"
	}
}

func validHost(h string) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
