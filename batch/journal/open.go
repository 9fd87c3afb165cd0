package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrLocked is returned by Create and Open when another process has the
// journal open.
var ErrLocked = errors.New("journal: in use by another process")

// ErrNoHeader is returned by Open for a journal without a complete header
// line: a run that crashed while creating it. Nothing was sent under it; it
// can be removed and created anew.
var ErrNoHeader = errors.New("journal: no header (the run that created it stopped before its first record)")

// MismatchError reports that the template or the data file is not the one the
// journal was started with.
type MismatchError struct {
	What    string // "template" or "data"
	Journal string // the path and digest recorded in the journal
	Current string // the digest given to Open
}

// Error describes the mismatch.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("journal: the %s changed since the journal was started (journal: %s, now: sha256 %s)", e.What, e.Journal, e.Current)
}

// CorruptError reports a line of a journal that cannot be read and is not the
// last one (a torn last line is only a warning).
type CorruptError struct {
	Path string
	Line int
	Err  error
}

// Error formats the error as "journal: path:line: message".
func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: %s:%d: %v", e.Path, e.Line, e.Err)
}

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }

// OpenOptions tune Open.
type OpenOptions struct {
	// TemplateSHA256 and DataSHA256 are the hex digests of the files as they
	// are now (see HashFile); an empty one is not checked.
	TemplateSHA256, DataSHA256 string
	// Force opens the journal even when a digest differs (a warning is kept).
	Force bool
	// ReadOnly replays without locking or modifying the file; Append fails.
	ReadOnly bool
	// Positions keeps where each row's last record lies in the file (4 bytes
	// per row: 4 MiB for a million rows), so that LastRecord can read it
	// back: the reply, codes and queue id of the rows an earlier run
	// finished, for a report.
	Positions bool
	// Now and NoSync are as in Options.
	Now    func() time.Time
	NoSync bool
}

// FoundAtResume is the Error of the "uncertain" record Open appends for a row
// left "sending".
const FoundAtResume = "connection lost after the final dot (RFC 1047): found at resume, the run that sent it stopped before the server's reply was recorded; the server may have the message"

// Open replays the journal at path to resume a batch. A torn last line is
// ignored with a warning and, unless ReadOnly, cut off. Rows left Sending
// (the run stopped between the final dot and the reply) are Uncertain:
// unless ReadOnly, Open appends an "uncertain" record for each, with the
// error FoundAtResume and the Message-ID kept, and makes them durable;
// FoundUncertain lists them. Errors: *os.PathError, ErrLocked, ErrNoHeader,
// *CorruptError, *MismatchError.
func Open(path string, opts OpenOptions) (*Journal, error) {
	flag := os.O_RDWR | os.O_APPEND
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	var unlock func()
	if !opts.ReadOnly {
		if unlock, err = lock(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	fail := func(err error) (*Journal, error) {
		if unlock != nil {
			unlock()
		}
		f.Close()
		return nil, err
	}
	rep, err := replay(f, path, opts.Positions)
	if err != nil {
		return fail(err)
	}
	warn := rep.Warnings
	h := rep.Header
	if err := check("template", h.Template, h.TemplateSHA256, opts.TemplateSHA256); err != nil {
		if !opts.Force {
			return fail(err)
		}
		warn = append(warn, err.Error()+"; forced")
	}
	if err := check("data", h.Data, h.DataSHA256, opts.DataSHA256); err != nil {
		if !opts.Force {
			return fail(err)
		}
		warn = append(warn, err.Error()+"; forced")
	}
	if rep.Torn && !opts.ReadOnly {
		err := f.Truncate(rep.ValidSize)
		if err == nil && !opts.NoSync {
			err = f.Sync()
		}
		if err != nil {
			return fail(fmt.Errorf("journal: %s: cutting off the torn last line: %w", path, err))
		}
	}
	j := newJournal(path, f, unlock, h, rep.Table, Options{Now: opts.Now, NoSync: opts.NoSync})
	j.warn = warn
	j.ro = opts.ReadOnly
	j.found = rep.Settled
	j.pos = rep.positions
	if !opts.ReadOnly && len(rep.Settled) > 0 {
		if err := j.settle(rep.ValidSize); err != nil {
			return fail(fmt.Errorf("journal: %s: recording the rows left sending as uncertain: %w", path, err))
		}
	}
	return j, nil
}

// settle appends, and makes durable, an "uncertain" record for every row
// that the replay found left "sending"; the file is size bytes long. With
// positions, a row whose "sending" record was a retry to some recipients
// only (rcpt and refused: the message was accepted for the others) keeps
// them in its "uncertain" record.
func (j *Journal) settle(size int64) error {
	var buf []byte
	now := j.now().UTC()
	for _, row := range j.found {
		r := Record{Time: now, Row: row, State: Uncertain, MessageID: j.table.MessageID(row),
			Attempt: j.table.Attempts(row), Error: FoundAtResume}
		if j.pos != nil {
			// A retry to some recipients only (the message was accepted
			// for the others): the "uncertain" record keeps them.
			if last, err := j.LastRecord(row); err == nil && last != nil && last.State == Sending && len(last.Refused) > 0 {
				r.Recipients, r.Refused = last.Recipients, last.Refused
			}
			j.pos.set(row, size+int64(len(buf)))
		}
		buf = appendRecord(buf, &r)
		j.table.Apply(&r)
	}
	if _, err := j.f.Write(buf); err != nil {
		return err
	}
	if j.noSync {
		return nil
	}
	return j.f.Sync()
}

func check(what, path, recorded, current string) error {
	if current == "" || recorded == current {
		return nil
	}
	return &MismatchError{What: what, Journal: fmt.Sprintf("%s sha256 %s", path, recorded), Current: current}
}

// Replayed is the result of Replay.
type Replayed struct {
	Header    Header
	Table     *Table   // rows left Sending are Uncertain
	Settled   []int    // the rows left Sending, in order
	Records   int      // records read, the header not included
	Torn      bool     // the last line was torn and ignored
	ValidSize int64    // the size of the journal without the torn line
	Warnings  []string // e.g. the torn line

	positions *positions // each row's last record (OpenOptions.Positions)
}

// Replay reads a journal from r (name is for errors) into a Table. It reads
// line by line, holding one line at a time.
func Replay(r io.Reader, name string) (*Replayed, error) {
	return replay(r, name, false)
}

func replay(r io.Reader, name string, keepPositions bool) (*Replayed, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	rep := &Replayed{Table: NewTable()}
	if keepPositions {
		rep.positions = &positions{}
	}
	var long []byte
	lineNo := 0
	var off int64
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("journal: %s: %w", name, err)
		}
		if len(line) == 0 {
			break
		}
		lineNo++
		complete := line[len(line)-1] == '\n'
		r, perr := rep.parse(bytes.TrimSpace(line), lineNo)
		if perr == nil && complete {
			if r != nil {
				rep.Table.Apply(r)
				rep.Records++
				if rep.positions != nil {
					rep.positions.set(r.Row, off)
				}
			}
			off += int64(len(line))
			continue
		}
		// A bad line: torn when nothing follows it.
		if _, err := br.Peek(1); err == io.EOF || !complete {
			if lineNo == 1 {
				if complete {
					return nil, &CorruptError{Path: name, Line: lineNo, Err: perr}
				}
				return nil, ErrNoHeader
			}
			rep.Torn = true
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s:%d: ignored the torn last line (%d bytes) left by an interrupted run", name, lineNo, len(line)))
			break
		}
		return nil, &CorruptError{Path: name, Line: lineNo, Err: perr}
	}
	if lineNo == 0 {
		return nil, ErrNoHeader
	}
	rep.ValidSize = off
	rep.Settled = rep.Table.settle()
	return rep, nil
}

// errBlank is a blank line in a journal.
var errBlank = errors.New("blank line")

// parse reads the header (line 1, into rep.Header; the record is nil) or a
// record.
func (rep *Replayed) parse(line []byte, lineNo int) (*Record, error) {
	if len(line) == 0 {
		return nil, errBlank
	}
	if lineNo == 1 {
		var h Header
		if err := json.Unmarshal(line, &h); err != nil {
			return nil, err
		}
		if h.Version == 0 {
			return nil, errors.New("not a mailscript journal (no mailscript_journal version in the first line)")
		}
		if h.Version > Version {
			return nil, fmt.Errorf("journal version %d is newer than this mailscript understands (%d)", h.Version, Version)
		}
		rep.Header = h
		return nil, nil
	}
	// Only the fields the table keeps are decoded: the rest are skipped
	// without allocating.
	var lean struct {
		Row       int       `json:"row"`
		State     State     `json:"state"`
		MessageID string    `json:"message_id"`
		Attempt   int       `json:"attempt"`
		Refused   []Refusal `json:"refused"` // rare: partly delivered rows
	}
	if err := json.Unmarshal(line, &lean); err != nil {
		return nil, err
	}
	r := &Record{Row: lean.Row, State: lean.State, MessageID: lean.MessageID, Attempt: lean.Attempt, Refused: lean.Refused}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// HashFile returns the hex SHA-256 of a file, read as a stream.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
