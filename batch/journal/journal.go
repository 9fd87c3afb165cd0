package journal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// writeAhead is how much Append buffers before it writes (without fsync) to
// bound its memory when nobody calls Flush for a while.
const writeAhead = 256 << 10

// Options tune a Journal created by Create.
type Options struct {
	// Now is the clock for records without a time; nil means time.Now.
	Now func() time.Time
	// NoSync skips fsync: for dry runs and tests, never for real sending.
	NoSync bool
}

// Journal is an open journal: the table of row states replayed from the file
// (empty for a new journal) plus the records appended since. Its methods are
// safe for concurrent use.
type Journal struct {
	path   string
	f      *os.File
	unlock func()
	header Header
	now    func() time.Time
	noSync bool
	warn   []string
	ro     bool
	found  []int      // rows Open found left sending
	pos    *positions // each row's last record at Open (OpenOptions.Positions)

	mu       sync.Mutex
	cond     sync.Cond
	table    *Table
	buf      []byte // records appended, not yet written
	spare    []byte
	seq      uint64 // records appended
	durable  uint64 // records written and synced
	flushing bool
	err      error // sticky: after a failed write or fsync nothing more is written
	closed   bool
}

// ErrClosed is returned by a Journal after Close.
var ErrClosed = errors.New("journal: closed")

// NewRunID returns a random run id: 16 hex digits.
func NewRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create starts a new journal at path, which must not exist, and writes h as
// its first line (Version, RunID and Time are filled in when zero) with fsync
// of the file and its directory.
func Create(path string, h Header, opts Options) (*Journal, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if h.Version == 0 {
		h.Version = Version
	}
	if h.RunID == "" {
		h.RunID = NewRunID()
	}
	if h.Time.IsZero() {
		h.Time = opts.Now().UTC()
	}
	line, err := marshal(h)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	unlock, err := lock(f)
	if err == nil {
		_, err = f.Write(line)
	}
	if err == nil && !opts.NoSync {
		if err = f.Sync(); err == nil {
			err = syncDir(filepath.Dir(path))
		}
	}
	if err != nil {
		if unlock != nil {
			unlock()
		}
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("journal: %s: %w", path, err)
	}
	return newJournal(path, f, unlock, h, NewTable(), opts), nil
}

func newJournal(path string, f *os.File, unlock func(), h Header, t *Table, opts Options) *Journal {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	j := &Journal{path: path, f: f, unlock: unlock, header: h, table: t, now: opts.Now, noSync: opts.NoSync}
	j.cond.L = &j.mu
	return j
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// Header returns the journal's header.
func (j *Journal) Header() Header { return j.header }

// Warnings returns what Open noticed and tolerated: a torn last line, a
// forced hash mismatch.
func (j *Journal) Warnings() []string { return j.warn }

// Append validates a record, adds it to the table and buffers its line. It is
// not durable until Flush returns nil. After a failed write or fsync, every
// call returns that error: the file's state is unknown and the batch must stop.
func (j *Journal) Append(r Record) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usable(); err != nil {
		return err
	}
	if r.Time.IsZero() {
		r.Time = j.now().UTC()
	}
	j.buf = appendRecord(j.buf, &r)
	j.table.Apply(&r)
	j.seq++
	if len(j.buf) >= writeAhead && !j.flushing {
		// Write without fsync; durability still waits for Flush.
		if _, err := j.f.Write(j.buf); err != nil {
			j.err = fmt.Errorf("journal: %s: %w", j.path, err)
			return j.err
		}
		j.buf = j.buf[:0]
	}
	return nil
}

func (j *Journal) usable() error {
	switch {
	case j.closed:
		return ErrClosed
	case j.ro:
		return errors.New("journal: opened read-only")
	}
	return j.err
}

// Flush makes every record appended before the call durable: it writes them
// and calls fsync once. Concurrent callers share one fsync (group commit):
// while one call writes, the others wait and are covered by it or by the next.
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	target := j.seq
	for j.durable < target && j.err == nil {
		if j.flushing {
			j.cond.Wait()
			continue
		}
		j.flushing = true
		buf, upto := j.buf, j.seq
		j.buf = j.spare[:0]
		j.mu.Unlock()
		var err error
		if len(buf) > 0 {
			_, err = j.f.Write(buf)
		}
		if err == nil && !j.noSync {
			err = j.f.Sync()
		}
		j.mu.Lock()
		j.spare = buf[:0]
		j.flushing = false
		if err != nil {
			j.err = fmt.Errorf("journal: %s: %w", j.path, err)
		} else {
			j.durable = upto
		}
		j.cond.Broadcast()
	}
	return j.err
}

// Commit appends a record and flushes it.
func (j *Journal) Commit(r Record) error {
	if err := j.Append(r); err != nil {
		return err
	}
	return j.Flush()
}

// Close flushes and closes the journal.
func (j *Journal) Close() error {
	var err error
	if !j.ro {
		err = j.Flush()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	j.closed = true
	if j.unlock != nil {
		j.unlock()
	}
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("journal: %w", cerr)
	}
	return err
}

// State returns a row's current state (None when it has no record). After
// Open, rows that were left Sending are Uncertain.
func (j *Journal) State(row int) State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.table.State(row)
}

// MessageID returns the Message-ID recorded for a row that is sending,
// uncertain or deferred (so that a re-send uses the same one), or "".
func (j *Journal) MessageID(row int) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.table.MessageID(row)
}

// Attempts returns the highest attempt number recorded for a row.
func (j *Journal) Attempts(row int) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.table.Attempts(row)
}

// Partial reports whether a row was sent with some recipients refused (its
// last record is "sent" with Refused).
func (j *Journal) Partial(row int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.table.Partial(row)
}

// Partials returns the number of rows for which Partial is true.
func (j *Journal) Partials() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.table.Partials()
}

// FoundUncertain returns the rows that Open found left "sending" (the run
// stopped between their final dot and the reply) and recorded as uncertain.
func (j *Journal) FoundUncertain() []int { return j.found }

// LastRecord reads back the last record a row had when the journal was
// opened (with OpenOptions.Positions; for a row found left "sending", the
// "uncertain" record Open appended). It returns nil when the row had no
// record or positions were not kept.
func (j *Journal) LastRecord(row int) (*Record, error) {
	if j.pos == nil {
		return nil, nil
	}
	off, ok := j.pos.get(row)
	if !ok {
		return nil, nil
	}
	line, err := readLine(j.f, off)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: reading the record of row %d: %w", j.path, row, err)
	}
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("journal: %s: the record of row %d at offset %d: %w", j.path, row, off, err)
	}
	if r.Row != row {
		return nil, fmt.Errorf("journal: %s: the record at offset %d is of row %d, not %d", j.path, off, r.Row, row)
	}
	return &r, nil
}

// readLine reads the line that starts at off.
func readLine(f io.ReaderAt, off int64) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 1024)
	for {
		n, err := f.ReadAt(chunk, off+int64(len(buf)))
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			return append(buf, chunk[:i]...), nil
		}
		buf = append(buf, chunk[:n]...)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(chunk) < 64<<10 {
			chunk = make([]byte, 2*len(chunk))
		}
	}
}

// Counts returns the number of rows in each state.
func (j *Journal) Counts() Counts {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.table.Counts()
}

// Rows returns the highest row number with a record, or 0.
func (j *Journal) Rows() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.table.Rows()
}

// marshal encodes v as one JSON line, without escaping <, > and & (Message-IDs
// stay readable).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
