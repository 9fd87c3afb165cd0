package batch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/report"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/template"
)

// memLimit is the largest rendered message kept in memory; a larger one
// is spilled to a temporary file (a variable for the tests).
var memLimit = 64 << 10

// bufPool recycles the buffers of small messages.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// spool holds one rendered message: in memory when it is small, in an
// unlinked-on-close temporary file otherwise. The bytes are fixed once
// rendered, so every attempt sends the same message.
type spool struct {
	buf  *bytes.Buffer
	file *os.File
	sec  *io.SectionReader // the message in a Spool file (Validate rendered it)
	mem  []byte            // the same, read from the file already
	size int64
	hash string // "sha256:..." when asked for
}

// reader returns the message from its start.
func (s *spool) reader() (io.ReadSeeker, error) {
	if s.mem != nil {
		return bytes.NewReader(s.mem), nil
	}
	if s.sec != nil {
		if _, err := s.sec.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return s.sec, nil
	}
	if s.file != nil {
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return s.file, nil
	}
	return bytes.NewReader(s.buf.Bytes()), nil
}

// release frees the buffer or removes the file.
func (s *spool) release() {
	s.sec, s.mem = nil, nil
	if s.buf != nil {
		if s.buf.Cap() <= 4*memLimit {
			s.buf.Reset()
			bufPool.Put(s.buf)
		}
		s.buf = nil
	}
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
}

// spoolWriter fills a spool: memory first, a file past memLimit.
type spoolWriter struct {
	s   *spool
	h   hash.Hash
	dir string
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if w.h != nil {
		w.h.Write(p)
	}
	w.s.size += int64(len(p))
	if w.s.file == nil && w.s.buf.Len()+len(p) <= memLimit {
		return w.s.buf.Write(p)
	}
	if w.s.file == nil {
		f, err := os.CreateTemp(w.dir, "mailscript-batch-*.eml")
		if err != nil {
			return 0, fmt.Errorf("spooling the message: %w", err)
		}
		w.s.file = f
		if _, err := f.Write(w.s.buf.Bytes()); err != nil {
			return 0, fmt.Errorf("spooling the message: %w", err)
		}
		w.s.buf.Reset()
	}
	n, err := w.s.file.Write(p)
	if err != nil {
		err = fmt.Errorf("spooling the message: %w", err)
	}
	return n, err
}

// renderer expands the template for one row.
type renderer struct {
	tmpl     *template.Template
	base     template.Options
	key      string // the --key column
	runID    string
	host     string
	hash     bool   // compute the SHA-256 of each message (for the journal)
	spoolDir string // "" = os.TempDir
	// msgID returns the Message-ID recorded for a row, "" for a new one.
	msgID func(row int) string
}

// rendered is one row's message, ready to send.
type rendered struct {
	row     data.Row
	key     string
	msgID   string
	from    string
	to      []string
	spool   spool
	render  error // a template or data error: the row fails
	invalid bool  // the error is the row's (data, template, address), not the system's

	settings template.Settings // the front matter's server settings
}

// messageID is the Message-ID a row's message gets: derived from the run id
// and the row number, so that a re-send after --resume carries the same one
// even when the journal did not record it.
func (r *renderer) messageID(row int) string {
	if r.msgID != nil {
		if id := r.msgID(row); id != "" {
			return id
		}
	}
	return "<" + r.runID + "." + strconv.Itoa(row) + ".mailscript@" + r.host + ">"
}

// render expands and spools one row. Errors about the row are in
// rendered.render; the returned error is a system error (a full disk).
func (r *renderer) render(row data.Row) *rendered {
	it := &rendered{row: row}
	key, err := selection.Key(row, r.key)
	if err != nil {
		it.render, it.invalid = err, true
		return it
	}
	it.key = key
	it.msgID = r.messageID(row.Num)
	opts := r.base
	opts.Values = row.Values
	if len(r.base.Values) > 0 {
		// --values are defaults that the row's fields override.
		v := make(map[string]any, len(r.base.Values)+len(row.Values))
		for k, x := range r.base.Values {
			v[k] = x
		}
		for k, x := range row.Values {
			v[k] = x
		}
		opts.Values = v
	}
	opts.MessageID = func() string { return it.msgID }
	// Boundaries derived from the run and the row: a re-send of the row
	// (same run) has the same MIME structure. "=_" cannot occur in base64
	// or quoted-printable text.
	n := 0
	opts.Boundary = func() string {
		n++
		return "=_ms" + r.runID + "_" + strconv.Itoa(row.Num) + "_" + strconv.Itoa(n)
	}
	m, err := r.tmpl.Expand(opts)
	if err != nil {
		it.render, it.invalid = err, true
		return it
	}
	defer m.Close()
	if err := checkEnvelope(m.From, m.Recipients); err != nil {
		it.render, it.invalid = err, true
		return it
	}
	it.from, it.to, it.settings = m.From, m.Recipients, m.Settings
	if refused, ok := report.PartialRecipients(row.Values); ok {
		// A row of an earlier report that went to some of its recipients
		// only: this time to the refused ones only (the headers unchanged).
		if it.to, err = retryRecipients(m.Recipients, refused); err != nil {
			it.render, it.invalid = err, true
			return it
		}
	}
	it.spool.buf = bufPool.Get().(*bytes.Buffer)
	w := &spoolWriter{s: &it.spool, dir: r.spoolDir}
	if r.hash {
		w.h = sha256.New()
	}
	if _, err := m.WriteTo(w); err != nil {
		it.spool.release()
		it.render = err
		var te *template.Error
		it.invalid = errors.As(err, &te)
		return it
	}
	if w.h != nil {
		it.spool.hash = "sha256:" + hex.EncodeToString(w.h.Sum(nil))
	}
	return it
}

// retryRecipients returns the envelope recipients of a row that an earlier
// report marks partial: the recipients refused then (as the message names
// them), and none of those that accepted it.
func retryRecipients(to, refused []string) ([]string, error) {
	if len(refused) == 0 {
		return nil, fmt.Errorf("the report marks the row %s but lists no refused recipients (%srefused)", report.Partial, report.Prefix)
	}
	out := make([]string, 0, len(refused))
	for _, a := range refused {
		i := slices.IndexFunc(to, func(b string) bool { return strings.EqualFold(a, b) })
		if i < 0 {
			return nil, fmt.Errorf("the report marks the row %s, refused for %s, but %s is not a recipient of the message (the template or the data changed?)", report.Partial, a, a)
		}
		if !slices.Contains(out, to[i]) {
			out = append(out, to[i])
		}
	}
	return out, nil
}

// checkEnvelope checks what SMTP will need: a sender and at least one
// recipient, each a plain addr-spec without spaces or control characters.
func checkEnvelope(from string, to []string) error {
	if from == "" {
		return errors.New("no sender: set from: in the front matter or a From: header")
	}
	if err := checkAddr(from); err != nil {
		return fmt.Errorf("sender %q: %v", from, err)
	}
	if len(to) == 0 {
		return errors.New("no recipients: to:, cc: and bcc: are empty")
	}
	for _, a := range to {
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("recipient %q: %v", a, err)
		}
	}
	return nil
}

func checkAddr(a string) error {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return errors.New("not an address (want local@domain)")
	}
	for _, c := range a {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return errors.New("has a space, a control character or an angle bracket")
		}
	}
	if strings.ContainsAny(a[at+1:], "@\"\\()[],;:") && !strings.HasPrefix(a[at+1:], "[") {
		return errors.New("bad domain")
	}
	return nil
}

// rowError is a row-level error of the data source (a malformed CSV row, a
// --filter error), or nil.
func rowError(err error) (*data.Error, bool) {
	var de *data.Error
	if errors.As(err, &de) && de.RowOnly && de.Row > 0 {
		return de, true
	}
	return nil, false
}

// feed reads the source and hands rows to fn until the end, a fatal source
// error or ctx's end. Row-level source errors are handed as a row with
// only its number and the error.
func feed(ctx context.Context, src selection.Source, fn func(row data.Row, rowErr error) bool) error {
	for ctx.Err() == nil {
		row, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if de, ok := rowError(err); ok {
				if !fn(data.Row{Num: de.Row, Line: de.Line}, err) {
					return nil
				}
				continue
			}
			return err
		}
		if !fn(row, nil) {
			return nil
		}
	}
	return ctx.Err()
}
