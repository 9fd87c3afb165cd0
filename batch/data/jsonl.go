package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mailscript/mailscript/internal/values"
)

type jsonLinesDecoder struct {
	name string
	br   *bufio.Reader
	line int
	num  int
	buf  []byte
}

func newJSONLines(br *bufio.Reader, name string) *jsonLinesDecoder {
	return &jsonLinesDecoder{name: name, br: br}
}

// readLine returns the next line without its line end; the slice is valid
// until the next call. It returns io.EOF only when nothing is left.
func readLine(br *bufio.Reader, buf *[]byte) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		*buf = append((*buf)[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(*buf) > maxRecord {
				return nil, fmt.Errorf("line longer than %d MiB", maxRecord>>20)
			}
			b, err = br.ReadSlice('\n')
			*buf = append(*buf, b...)
		}
		b = *buf
	}
	if err == io.EOF && len(b) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r")), nil
}

func (d *jsonLinesDecoder) next() (Row, error) {
	for {
		b, err := readLine(d.br, &d.buf)
		if err == io.EOF {
			return Row{}, io.EOF
		}
		d.line++
		if err != nil {
			return Row{}, &Error{File: d.name, Row: d.num + 1, Line: d.line, Err: fmt.Errorf("JSON Lines: %w", err)}
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		d.num++
		v, err := decodeJSONObject(b)
		if err != nil {
			e := &Error{File: d.name, Row: d.num, Line: d.line, RowOnly: true, Err: fmt.Errorf("JSON Lines: %w", err)}
			e.Col = jsonErrorCol(err)
			return Row{}, e
		}
		return Row{Num: d.num, Line: d.line, Values: v}, nil
	}
}

// decodeJSONObject decodes exactly one JSON object.
func decodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &trailingError{col: int(dec.InputOffset()) + 1}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s, not an object", jsonKind(v))
	}
	return values.Normalize(m).(map[string]any), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// jsonErrorCol returns the 1-based column of a JSON syntax error in a single
// line, or 0.
func jsonErrorCol(err error) int {
	var se *json.SyntaxError
	var te *trailingError
	switch {
	case errors.As(err, &se):
		return max(1, int(se.Offset))
	case errors.As(err, &te):
		return te.col
	}
	return 0
}

// trailingError reports data after the object on a JSON line.
type trailingError struct{ col int }

func (e *trailingError) Error() string { return "unexpected data after the object" }
