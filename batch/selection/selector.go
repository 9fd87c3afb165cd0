package selection

import (
	"errors"
	"io"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/filter"
)

// Options are the selection flags. The zero value selects every row.
type Options struct {
	Filter    *filter.Expr // --filter; nil keeps every row
	Rows      Ranges       // --rows; empty keeps every row
	Shard     Shard        // --shard; the zero Shard keeps every row
	KeyColumn string       // --key; "" for the default (see Key)
	Limit     int          // --limit; 0 for no limit
}

// Selector applies Options to rows in file order. It is not safe for
// concurrent use.
type Selector struct {
	opts   Options
	maxRow int
	taken  int
}

// New returns a Selector for opts.
func New(opts Options) *Selector {
	s := &Selector{opts: opts}
	s.maxRow, _ = opts.Rows.Max()
	return s
}

// Select reports whether a row is selected, counting it towards the limit
// when it is. Errors come from the filter (*filter.EvalError) or from a
// missing --key column.
func (s *Selector) Select(row data.Row) (bool, error) {
	if s.Done(row.Num) || !s.opts.Rows.Contains(row.Num) {
		return false, nil
	}
	if s.opts.Filter != nil {
		ok, err := s.opts.Filter.Match(row.Values)
		if err != nil || !ok {
			return false, err
		}
	}
	if s.opts.Shard.N > 1 {
		key, err := Key(row, s.opts.KeyColumn)
		if err != nil {
			return false, err
		}
		if !s.opts.Shard.Contains(key) {
			return false, nil
		}
	}
	s.taken++
	return true, nil
}

// Done reports whether no row numbered num or later can be selected: the
// limit is reached or num is past the last row of --rows.
func (s *Selector) Done(num int) bool {
	return s.opts.Limit > 0 && s.taken >= s.opts.Limit || s.maxRow > 0 && num > s.maxRow
}

// Source is what Stream reads from; *data.Reader is one.
type Source interface {
	Next() (data.Row, error)
}

// Stream yields the selected rows of a source.
type Stream struct {
	src  Source
	name string
	sel  *Selector
	last int
	done bool
}

// NewStream returns a Stream of the rows of src that sel selects; name is the
// data file's name for errors.
func NewStream(src Source, name string, sel *Selector) *Stream {
	return &Stream{src: src, name: name, sel: sel}
}

// Next returns the next selected row, or io.EOF when there is none: at the
// end of the source, or as soon as the limit is reached or --rows is passed
// (without reading further). Errors from the source are returned as they
// are, except errors about a single row that --rows leaves out, which are
// skipped; errors selecting a row are *data.Error values naming the row, after
// which Next continues with the next row.
func (st *Stream) Next() (data.Row, error) {
	for {
		if st.done || st.sel.Done(st.last+1) {
			st.done = true
			return data.Row{}, io.EOF
		}
		row, err := st.src.Next()
		if err != nil {
			var de *data.Error
			if errors.As(err, &de) && de.RowOnly && de.Row > 0 {
				st.last = de.Row
				if !st.sel.opts.Rows.Contains(de.Row) {
					continue // a broken row that --rows leaves out anyway
				}
			}
			return row, err
		}
		st.last = row.Num
		ok, err := st.sel.Select(row)
		if err != nil {
			return data.Row{}, &data.Error{File: st.name, Row: row.Num, Line: row.Line, RowOnly: true, Err: err}
		}
		if ok {
			return row, nil
		}
	}
}
