package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonArrayDecoder streams the elements of one top-level JSON array with
// json.Decoder: Token for the brackets, Decode for one element at a time.
type jsonArrayDecoder struct {
	name    string
	lines   *lineCounter
	dec     *json.Decoder
	started bool
	done    bool
	num     int
}

func newJSONArray(r io.Reader, name string) *jsonArrayDecoder {
	lc := &lineCounter{r: r}
	dec := json.NewDecoder(lc)
	dec.UseNumber()
	return &jsonArrayDecoder{name: name, lines: lc, dec: dec}
}

func (d *jsonArrayDecoder) fail(row int, off int64, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// The decoder's offsets inside a failed value are not reliable: find
		// the bad byte by scanning the value again from where it started.
		off = d.lines.locate(d.dec.InputOffset())
	}
	line, col := d.lines.pos(off)
	return &Error{File: d.name, Row: row, Line: line, Col: col, Err: fmt.Errorf("JSON: %w", err)}
}

func (d *jsonArrayDecoder) next() (Row, error) {
	if d.done {
		return Row{}, io.EOF
	}
	if !d.started {
		d.started = true
		tok, err := d.dec.Token()
		if err != nil {
			return Row{}, d.fail(0, d.dec.InputOffset(), err)
		}
		if tok != json.Delim('[') {
			return Row{}, d.fail(0, d.dec.InputOffset()-1, errors.New("expected an array of objects"))
		}
	}
	if !d.dec.More() {
		if _, err := d.dec.Token(); err != nil { // the closing bracket
			return Row{}, d.fail(d.num+1, d.dec.InputOffset(), err)
		}
		if _, err := d.dec.Token(); err != io.EOF {
			return Row{}, d.fail(0, d.dec.InputOffset(), errors.New("unexpected data after the array"))
		}
		d.done = true
		return Row{}, io.EOF
	}
	d.num++
	var raw json.RawMessage
	if err := d.dec.Decode(&raw); err != nil {
		return Row{}, d.fail(d.num, d.dec.InputOffset(), err)
	}
	start := d.dec.InputOffset() - int64(len(raw))
	line, _ := d.lines.pos(start)
	v, err := decodeJSONObject(raw)
	if err != nil {
		return Row{}, &Error{File: d.name, Row: d.num, Line: line, RowOnly: true, Err: fmt.Errorf("JSON: element %w", err)}
	}
	return Row{Num: d.num, Line: line, Values: v}, nil
}

// lineCounter converts byte offsets of a stream into lines and columns. It
// remembers the offsets of the line ends read ahead of the last position
// asked for, so it needs memory for one buffer of the decoder, not the file.
// Positions must be asked for in increasing order.
type lineCounter struct {
	r        io.Reader
	tail     []byte // the bytes from offset tailOff on, kept to locate errors
	tailOff  int64
	read     int64   // bytes read so far
	ends     []int64 // offsets of '\n' not yet passed by pos
	line     int     // line (0-based) at offset base
	lineBase int64   // offset of the start of that line
}

func (lc *lineCounter) Read(p []byte) (int, error) {
	n, err := lc.r.Read(p)
	lc.tail = append(lc.tail, p[:n]...)
	for i, c := range p[:n] {
		if c == '\n' {
			lc.ends = append(lc.ends, lc.read+int64(i))
		}
	}
	lc.read += int64(n)
	return n, err
}

// pos returns the 1-based line and column of offset off.
func (lc *lineCounter) pos(off int64) (int, int) {
	i := 0
	for i < len(lc.ends) && lc.ends[i] < off {
		lc.lineBase = lc.ends[i] + 1
		lc.line++
		i++
	}
	lc.ends = lc.ends[:copy(lc.ends, lc.ends[i:])]
	if drop := min(off-lc.tailOff, int64(len(lc.tail))); drop > 0 {
		lc.tail = lc.tail[:copy(lc.tail, lc.tail[drop:])]
		lc.tailOff += drop
	}
	return lc.line + 1, int(max(0, off-lc.lineBase)) + 1
}

// locate returns the offset of the first syntax error in the value that
// starts after offset from (past spaces and a comma), or from.
func (lc *lineCounter) locate(from int64) int64 {
	i := from - lc.tailOff
	if i < 0 || i > int64(len(lc.tail)) {
		return from
	}
	b := lc.tail[i:]
	skip := 0
	for skip < len(b) && (b[skip] == ' ' || b[skip] == '\t' || b[skip] == '\r' || b[skip] == '\n' || b[skip] == ',') {
		skip++
	}
	var v json.RawMessage
	var se *json.SyntaxError
	if err := json.Unmarshal(b[skip:], &v); errors.As(err, &se) {
		return from + int64(skip) + se.Offset - 1
	}
	return from
}
