package data

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// delimiters are the CSV delimiters sniffed from the header line, in order of
// preference when they occur equally often.
var delimiters = [...]byte{',', ';', '\t', '|'}

type csvDecoder struct {
	name   string
	r      *csv.Reader
	header []string
	num    int
}

func newCSV(br *bufio.Reader, name string, delim rune) (*csvDecoder, error) {
	if delim == 0 {
		delim = sniffDelimiter(br)
	}
	if delim == '"' || delim == '\r' || delim == '\n' || delim == 0xFFFD {
		return nil, &Error{File: name, Err: fmt.Errorf("invalid CSV delimiter %q", delim)}
	}
	r := csv.NewReader(br)
	r.Comma = delim
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	hdr, err := r.Read()
	if err == io.EOF {
		return nil, &Error{File: name, Line: 1, Err: errors.New("CSV: no header row")}
	}
	if err != nil {
		return nil, csvError(name, 0, err)
	}
	line, _ := r.FieldPos(0)
	header := make([]string, len(hdr))
	seen := make(map[string]int, len(hdr))
	for i, h := range hdr {
		h = strings.TrimSpace(h)
		_, col := r.FieldPos(i)
		if h == "" {
			return nil, &Error{File: name, Line: line, Col: col, Err: fmt.Errorf("CSV header: column %d has no name", i+1)}
		}
		if j, dup := seen[h]; dup {
			return nil, &Error{File: name, Line: line, Col: col, Err: fmt.Errorf("CSV header: column %d repeats the name %q of column %d", i+1, h, j+1)}
		}
		seen[h] = i
		header[i] = h
	}
	return &csvDecoder{name: name, r: r, header: header}, nil
}

// sniffDelimiter counts the candidate delimiters outside quotes on the first
// line and returns the most frequent one (',' when none occurs).
func sniffDelimiter(br *bufio.Reader) rune {
	var line []byte
	for n := 4096; ; n *= 2 {
		b, err := br.Peek(n)
		if i := indexLineEnd(b); i >= 0 {
			line = b[:i]
			break
		}
		if err != nil || n >= br.Size() {
			line = b
			break
		}
	}
	var counts [len(delimiters)]int
	quoted := false
	for _, c := range line {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		for i, d := range delimiters {
			if c == d {
				counts[i]++
			}
		}
	}
	best := 0
	for i := range counts {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return rune(delimiters[best])
}

// indexLineEnd returns the index of the first line end outside quotes, or -1.
func indexLineEnd(b []byte) int {
	quoted := false
	for i, c := range b {
		switch {
		case c == '"':
			quoted = !quoted
		case !quoted && (c == '\n' || c == '\r'):
			return i
		}
	}
	return -1
}

func (d *csvDecoder) next() (Row, error) {
	rec, err := d.r.Read()
	if err == io.EOF {
		return Row{}, io.EOF
	}
	d.num++
	if err != nil {
		return Row{}, csvError(d.name, d.num, err)
	}
	line, _ := d.r.FieldPos(0)
	if len(rec) != len(d.header) {
		return Row{}, &Error{File: d.name, Row: d.num, Line: line, RowOnly: true,
			Err: fmt.Errorf("CSV: %d fields, the header has %d", len(rec), len(d.header))}
	}
	values := make(map[string]any, len(rec))
	for i, v := range rec {
		values[d.header[i]] = v
	}
	return Row{Num: d.num, Line: line, Values: values}, nil
}

// csvError turns an encoding/csv error into an *Error. Quoting errors leave the
// reader positioned after the bad record, but what it read is not to be
// trusted, so they are not RowOnly.
func csvError(name string, row int, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Row: row, Line: pe.Line, Col: pe.Column, Err: fmt.Errorf("CSV: %w", pe.Err)}
	}
	return &Error{File: name, Row: row, Err: fmt.Errorf("CSV: %w", err)}
}
