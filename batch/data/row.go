package data

import (
	"fmt"
	"strings"
)

// Row is one record of the data file.
type Row struct {
	// Num is the 1-based data row number: the CSV header is not counted, nor
	// are blank lines and comments. It is stable for a given file and is the
	// number the journal, the report and --rows refer to.
	Num int
	// Line is the 1-based line of the file on which the row starts.
	Line int
	// Values maps field names to values: strings for CSV; for JSON and YAML
	// also int64, float64, bool, nil, []any and map[string]any.
	Values map[string]any
}

// Error is an error about the content of a data file.
type Error struct {
	File string // the file name as given; "-" for standard input
	Row  int    // the data row number, 0 when the error is not about a row (the header)
	Line int    // the 1-based line, 0 when unknown
	Col  int    // the 1-based column (in bytes), 0 when unknown
	// RowOnly reports that the error concerns this row only: the Reader
	// stays usable and the next call to Next continues with the next row.
	// When false, the Reader returns the same error again.
	RowOnly bool
	Err     error
}

// Error formats the error as "file:line:col: row N: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Row > 0 {
		fmt.Fprintf(&b, "row %d: ", e.Row)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
