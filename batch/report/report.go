// Package report writes the per-row report of a batch (--report FILE): one
// line per row as JSON Lines, or one record per row as CSV, chosen by the file
// name's extension (.csv or .tsv; anything else is JSON Lines).
//
// Each line carries the row's original fields as well as the outcome, so that
// a report — or the part of it for the failed rows — is valid data for a retry
// batch:
//
//   - CSV: the original columns first, then the report's columns prefixed with
//     "ms_": ms_row, ms_recipient, ms_status, ms_code, ms_enhanced, ms_reply,
//     ms_queue_id, ms_attempts, ms_first_attempt, ms_last_attempt,
//     ms_duration_ms, ms_refused. Select failed rows with
//     --filter 'ms_status == "failed"'.
//   - JSON Lines: the original object with one more key, "mailscript", holding
//     the outcome ({"row": 3, "status": "failed", "code": 550, ...}). Select
//     failed rows with --filter 'mailscript.status == "failed"'.
//
// The status is the row's journal state (sent, failed, deferred, uncertain,
// skipped), or "partial" for a message the server accepted for some of its
// recipients and refused for the others: ms_refused (JSON: "refused") lists
// those, joined with ", ", and the reply names each with the server's reply.
// A retry batch whose data is a report sends a partial row to its refused
// recipients only (see Partial); select them with
// --filter 'ms_status in ["failed", "partial"]'.
//
// When the data is itself a report (a retry of a retry), its old outcome —
// the ms_ columns, the "mailscript" key — is replaced, not repeated.
//
// Times are RFC 3339 in UTC with milliseconds; several recipients are joined
// with ", ". A report is written as the batch goes and flushed after every row
// (or every Options.FlushEvery rows), so it can be followed with tail -f and a
// crash loses at most those rows — the journal, not the report, is the record
// to resume from.
package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailscript/mailscript/batch/journal"
)

// Entry is the outcome of one row.
type Entry struct {
	Row          int            // the data row number
	Recipients   []string       // envelope recipients
	Status       journal.State  // sent, failed, deferred, uncertain, skipped...; Sent with Refused is "partial"
	Code         int            // the last SMTP reply code, 0 when none
	Enhanced     string         // its enhanced status code, e.g. "5.1.1"
	Reply        string         // its text (or the error, when not an SMTP reply)
	QueueID      string         // the server's queue id for an accepted message
	Attempts     int            // delivery attempts made
	FirstAttempt time.Time      // zero when never attempted
	LastAttempt  time.Time      // zero when never attempted
	Duration     time.Duration  // from the first attempt to the outcome
	Values       map[string]any // the row's original fields
	// Refused are the recipients the server refused while it accepted the
	// message for the others (Status Sent): the row is "partial".
	Refused []string
}

// Partial is the status of a row sent with some recipients refused.
const Partial = "partial"

// StatusText returns the status written for an entry: its state's name, or
// Partial.
func (e *Entry) StatusText() string {
	if e.Status == journal.Sent && len(e.Refused) > 0 {
		return Partial
	}
	return e.Status.String()
}

// Key is the key of the JSON Lines report's outcome object.
const Key = "mailscript"

// Prefix starts the names of the CSV report's outcome columns.
const Prefix = "ms_"

// columns are the outcome columns, without Prefix.
var columns = []string{"row", "recipient", "status", "code", "enhanced", "reply", "queue_id", "attempts", "first_attempt", "last_attempt", "duration_ms", "refused"}

// Format is the syntax of a report.
type Format int

// Report formats.
const (
	JSONLines Format = iota
	CSV
)

// FormatOf returns the format for a file name: CSV for .csv and .tsv, JSON
// Lines otherwise.
func FormatOf(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".tsv":
		return CSV
	}
	return JSONLines
}

// Options tune a Writer.
type Options struct {
	// Columns are the data's columns in order (data.Reader.Columns). For a
	// CSV report of data without a header (JSON, YAML), nil takes the first
	// row's keys in sorted order; later rows' other keys are then left out,
	// so prefer a JSON Lines report for such data.
	Columns []string
	// Delimiter is the CSV delimiter; 0 means ',' (a tab for .tsv in Create).
	Delimiter rune
	// FlushEvery flushes after this many rows; 0 or 1 flushes after each.
	FlushEvery int
}

// Writer writes a report. It is not safe for concurrent use.
type Writer struct {
	format  Format
	opts    Options
	bw      *bufio.Writer
	cw      *csv.Writer
	header  bool // the CSV header is written
	cols    []string
	pending int
	record  []string
	enc     *json.Encoder

	path string   // for Create: the file, created on first use
	f    *os.File // nil until created
}

// New returns a Writer to w.
func New(w io.Writer, format Format, opts Options) *Writer {
	rw := &Writer{format: format, opts: opts}
	rw.setOutput(w)
	return rw
}

func (w *Writer) setOutput(out io.Writer) {
	w.bw = bufio.NewWriterSize(out, 64<<10)
	if w.format == CSV {
		w.cw = csv.NewWriter(w.bw)
		if w.opts.Delimiter != 0 {
			w.cw.Comma = w.opts.Delimiter
		}
	}
}

// Create returns a Writer to the file at path, in the format of its
// extension. The file is created (truncated) lazily, on the first Write or
// at Close, so that a batch that fails before its first row leaves no report.
func Create(path string, opts Options) *Writer {
	format := FormatOf(path)
	if format == CSV && opts.Delimiter == 0 && strings.EqualFold(filepath.Ext(path), ".tsv") {
		opts.Delimiter = '\t'
	}
	return &Writer{format: format, opts: opts, path: path}
}

// Open creates the file of a Writer made by Create now rather than on the
// first Write, so that a path that cannot be written is found before a
// batch starts.
func (w *Writer) Open() error {
	if w.path == "" {
		return nil
	}
	return w.open()
}

func (w *Writer) open() error {
	if w.bw != nil {
		return nil
	}
	f, err := os.Create(w.path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	w.f = f
	w.setOutput(f)
	return nil
}

// Write writes one row's outcome.
func (w *Writer) Write(e Entry) error {
	if err := w.open(); err != nil {
		return err
	}
	var err error
	if w.format == CSV {
		err = w.writeCSV(&e)
	} else {
		err = w.writeJSON(&e)
	}
	if err != nil {
		return fmt.Errorf("report: row %d: %w", e.Row, err)
	}
	w.pending++
	if w.pending >= max(1, w.opts.FlushEvery) {
		return w.Flush()
	}
	return nil
}

// Flush writes buffered rows to the underlying writer.
func (w *Writer) Flush() error {
	if w.bw == nil {
		return nil
	}
	w.pending = 0
	if w.cw != nil {
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Close flushes the report and, for Create, closes the file (creating it, with
// only the CSV header when columns are known, if no row was written).
func (w *Writer) Close() error {
	if w.path != "" {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.format == CSV && !w.header && w.opts.Columns != nil {
		if err := w.writeHeader(nil); err != nil {
			return err
		}
	}
	err := w.Flush()
	if w.f != nil {
		if cerr := w.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("report: %w", cerr)
		}
		w.f = nil
	}
	return err
}

// outcome returns the report's fields of an entry, in the order of columns.
func outcome(e *Entry) []any {
	return []any{
		e.Row,
		strings.Join(e.Recipients, ", "),
		e.StatusText(),
		e.Code,
		e.Enhanced,
		e.Reply,
		e.QueueID,
		e.Attempts,
		timeText(e.FirstAttempt),
		timeText(e.LastAttempt),
		e.Duration.Milliseconds(),
		strings.Join(e.Refused, ", "),
	}
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func (w *Writer) writeJSON(e *Entry) error {
	out := make(map[string]any, len(e.Values)+1)
	for k, v := range e.Values {
		out[k] = v
	}
	ms := make(map[string]any, len(columns))
	for i, v := range outcome(e) {
		switch v := v.(type) {
		case string:
			if v == "" && columns[i] != "status" {
				continue
			}
		case int:
			if v == 0 && columns[i] != "row" && columns[i] != "attempts" {
				continue
			}
		}
		ms[columns[i]] = v
	}
	out[Key] = ms
	if w.enc == nil {
		w.enc = json.NewEncoder(w.bw)
		w.enc.SetEscapeHTML(false)
	}
	return w.enc.Encode(out) // keys sorted: stable output
}

// isOutcomeColumn reports whether a data column is an outcome column of an
// earlier report.
func isOutcomeColumn(c string) bool {
	return strings.HasPrefix(c, Prefix) && slices.Contains(columns, c[len(Prefix):])
}

func (w *Writer) writeHeader(values map[string]any) error {
	cols := w.opts.Columns
	if cols == nil {
		for k := range values {
			cols = append(cols, k)
		}
		sort.Strings(cols)
	}
	w.cols = w.cols[:0]
	for _, c := range cols {
		if !isOutcomeColumn(c) {
			w.cols = append(w.cols, c)
		}
	}
	hdr := slices.Clone(w.cols)
	for _, c := range columns {
		hdr = append(hdr, Prefix+c)
	}
	w.header = true
	return w.cw.Write(hdr)
}

func (w *Writer) writeCSV(e *Entry) error {
	if !w.header {
		if err := w.writeHeader(e.Values); err != nil {
			return err
		}
	}
	rec := w.record[:0]
	for _, c := range w.cols {
		s, err := cell(e.Values[c])
		if err != nil {
			return fmt.Errorf("column %q: %w", c, err)
		}
		rec = append(rec, s)
	}
	for _, v := range outcome(e) {
		s, _ := cell(v)
		rec = append(rec, s)
	}
	w.record = rec
	return w.cw.Write(rec)
}

// cell formats a value for CSV: text as is, numbers and booleans as written,
// lists and maps as JSON, null and missing values as "".
func cell(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case int:
		if v == 0 {
			return "", nil // an absent code or attempt count
		}
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// PartialRecipients reads a data row that comes from an earlier report: when
// its status is "partial" (ms_status, or "status" in the "mailscript"
// object), it returns the refused recipients the report lists (ms_refused,
// or "refused": a string of addresses separated by commas, or a list) and
// true. A retry batch sends such a row to those recipients only, never again
// to the ones that accepted it. For any other row it returns nil, false.
func PartialRecipients(values map[string]any) ([]string, bool) {
	var status, list any
	if m, ok := values[Key].(map[string]any); ok {
		status, list = m["status"], m["refused"]
	} else {
		status, list = values[Prefix+"status"], values[Prefix+"refused"]
	}
	if s, _ := status.(string); s != Partial {
		return nil, false
	}
	var refused []string
	add := func(s string) {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				refused = append(refused, a)
			}
		}
	}
	switch v := list.(type) {
	case string:
		add(v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				add(s)
			}
		}
	}
	return refused, true
}
