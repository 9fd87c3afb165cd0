package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
)

// Format is the syntax of a data file.
type Format int

// The formats a Reader understands.
const (
	Auto      Format = iota // from the extension, else sniffed from the content
	CSV                     // comma (or sniffed) separated values with a header row
	JSONLines               // one JSON object per line (.jsonl, .ndjson)
	JSONArray               // one JSON array of objects (.json)
	YAML                    // a YAML list of maps, or YAML documents separated by "---"
)

var formatNames = [...]string{Auto: "auto", CSV: "csv", JSONLines: "jsonl", JSONArray: "json", YAML: "yaml"}

// String returns the format's name as ParseFormat accepts it.
func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses a format name as given to --data-format: auto, csv, tsv
// (CSV with a tab delimiter: the returned rune), jsonl or ndjson, json, yaml or yml.
func ParseFormat(s string) (Format, rune, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, 0, nil
	case "csv":
		return CSV, 0, nil
	case "tsv":
		return CSV, '\t', nil
	case "jsonl", "ndjson":
		return JSONLines, 0, nil
	case "json":
		return JSONArray, 0, nil
	case "yaml", "yml":
		return YAML, 0, nil
	}
	return Auto, 0, fmt.Errorf("unknown data format %q (want csv, tsv, jsonl, json or yaml)", s)
}

// FormatOf returns the format implied by a file name's extension, or Auto.
func FormatOf(name string) (Format, rune) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return CSV, 0
	case ".tsv", ".tab":
		return CSV, '\t'
	case ".jsonl", ".ndjson":
		return JSONLines, 0
	case ".json":
		return JSONArray, 0
	case ".yaml", ".yml":
		return YAML, 0
	}
	return Auto, 0
}

// Options tune a Reader. The zero value reads by extension or content.
type Options struct {
	// Format forces a format; Auto chooses by extension, then by content.
	Format Format
	// Delimiter forces the CSV delimiter; 0 sniffs it from the header line
	// among ',' ';' '\t' and '|' (',' when none occurs).
	Delimiter rune
}

// Stdin is the file name that stands for standard input.
const Stdin = "-"

// maxRecord bounds one JSON line, JSON array element or YAML item.
const maxRecord = 16 << 20

// Reader streams the rows of one data file. It is not safe for concurrent use.
type Reader struct {
	name    string
	format  Format
	dec     decoder
	closer  io.Closer
	columns []string
	fatal   error
}

type decoder interface {
	next() (Row, error)
}

// Open opens a data file for reading; the name "-" reads standard input
// (which Close leaves open). Errors opening the file are *os.PathError; errors
// in the header (CSV) are *Error.
func Open(name string, opts Options) (*Reader, error) {
	if name == Stdin {
		r, err := NewReader(os.Stdin, name, opts)
		return r, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, name, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// OpenAs is Open for the file at path under another name: the name errors
// show and the extension the format is chosen by (a copy of standard input
// is opened as "-").
func OpenAs(path, name string, opts Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		if name != path {
			var pe *os.PathError
			if errors.As(err, &pe) {
				pe.Path = name
			}
		}
		return nil, err
	}
	r, err := NewReader(f, name, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads rows from src; name is used in errors and, unless
// opts.Format is set, to choose the format by extension. Without either, the
// format is sniffed from the first non-space bytes: '[' JSON array, '{' JSON
// Lines, "- " or "---" YAML, else CSV. A UTF-8 byte order mark is skipped.
func NewReader(src io.Reader, name string, opts Options) (*Reader, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		br.Discard(3)
	}
	format, delim := opts.Format, opts.Delimiter
	if format == Auto {
		var d rune
		format, d = FormatOf(name)
		if delim == 0 {
			delim = d
		}
	}
	if format == Auto {
		format = sniff(br)
	}
	r := &Reader{name: name, format: format}
	var err error
	switch format {
	case CSV:
		var c *csvDecoder
		c, err = newCSV(br, name, delim)
		if c != nil {
			r.dec, r.columns = c, c.header
		}
	case JSONLines:
		r.dec = newJSONLines(br, name)
	case JSONArray:
		r.dec = newJSONArray(br, name)
	case YAML:
		r.dec = newYAML(br, name)
	default:
		return nil, fmt.Errorf("data: unknown format %v", format)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// sniff guesses the format from the first non-space bytes: '[' JSON
// array, '{' JSON Lines, "- " (a list item) or "---" (a document marker)
// YAML, else CSV.
func sniff(br *bufio.Reader) Format {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return CSV
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			if n == br.Size() || err != nil {
				return CSV
			}
			continue
		case '[':
			return JSONArray
		case '{':
			return JSONLines
		case '-':
			// "-" then a space, a tab, a line end or the end: a YAML
			// list item; "---": a YAML document marker.
			next, _ := br.Peek(n + 2)
			rest := next[n:]
			if len(rest) == 0 {
				return YAML
			}
			switch rest[0] {
			case ' ', '\t', '\r', '\n':
				return YAML
			case '-':
				if len(rest) == 2 && rest[1] == '-' {
					return YAML
				}
			}
			return CSV
		}
		return CSV
	}
}

// Next returns the next row, or io.EOF after the last one. Other errors are
// *Error; see [Error.RowOnly] for whether reading can go on.
func (r *Reader) Next() (Row, error) {
	if r.fatal != nil {
		return Row{}, r.fatal
	}
	row, err := r.dec.next()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !e.RowOnly {
			r.fatal = err
		}
	}
	return row, err
}

// All returns an iterator over the remaining rows. It stops after io.EOF
// (which it does not yield) or after the first error that is not RowOnly.
func (r *Reader) All() iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for {
			row, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(row, err) || r.fatal != nil {
				return
			}
		}
	}
}

// Columns returns the CSV header's field names in file order, or nil for
// formats without a header. The slice must not be modified.
func (r *Reader) Columns() []string { return r.columns }

// Format returns the format being read.
func (r *Reader) Format() Format { return r.format }

// Name returns the file name as given to Open or NewReader.
func (r *Reader) Name() string { return r.name }

// Close closes the file opened by Open. It does not close standard input
// or a reader passed to NewReader.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return c.Close()
}
