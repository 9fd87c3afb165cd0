package selection

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/filter"
)

func TestParseRanges(t *testing.T) {
	tests := []struct {
		in   string
		want Ranges
		err  string
	}{
		{"7", Ranges{{7, 7}}, ""},
		{"5-10", Ranges{{5, 10}}, ""},
		{"5-", Ranges{{5, 0}}, ""},
		{"-10", Ranges{{1, 10}}, ""},
		{"1-3, 8,20-", Ranges{{1, 3}, {8, 8}, {20, 0}}, ""},
		{"", nil, `rows "": empty item`},
		{"-", nil, `rows "-": "-" needs a first or a last row`},
		{"0", nil, `rows "0": "0" is not a row number (1, 2, ...)`},
		{"10-5", nil, `rows "10-5": range 10-5 ends before it starts`},
		{"a-b", nil, `rows "a-b": "a" is not a row number (1, 2, ...)`},
		{"1,,2", nil, `rows "1,,2": empty item`},
	}
	for _, tt := range tests {
		got, err := ParseRanges(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseRanges(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRanges(%q) = %v, %v", tt.in, got, err)
		}
		if tt.in == "1-3, 8,20-" && got.String() != "1-3,8,20-" {
			t.Errorf("String = %q", got.String())
		}
	}
}

func TestRangesContainsMax(t *testing.T) {
	rs, _ := ParseRanges("2-3,7")
	var in []int
	for n := 1; n <= 9; n++ {
		if rs.Contains(n) {
			in = append(in, n)
		}
	}
	if !reflect.DeepEqual(in, []int{2, 3, 7}) {
		t.Errorf("contains %v", in)
	}
	if m, ok := rs.Max(); m != 7 || !ok {
		t.Errorf("Max = %d, %v", m, ok)
	}
	if _, ok := (Ranges{{5, 0}}).Max(); ok {
		t.Error("open range has a max")
	}
	if !Ranges(nil).Contains(123) {
		t.Error("empty ranges exclude a row")
	}
}

func TestParseShard(t *testing.T) {
	for _, tt := range []struct {
		in  string
		ok  bool
		out Shard
	}{{"1/4", true, Shard{1, 4}}, {" 4 / 4 ", true, Shard{4, 4}}, {"0/4", false, Shard{}}, {"5/4", false, Shard{}}, {"2", false, Shard{}}, {"1/0", false, Shard{}}} {
		got, err := ParseShard(tt.in)
		if (err == nil) != tt.ok || got != tt.out {
			t.Errorf("ParseShard(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestFNV(t *testing.T) {
	// Known answers of FNV-1a 64.
	for _, tt := range []struct {
		in   string
		want uint64
	}{{"", 0xcbf29ce484222325}, {"a", 0xaf63dc4c8601ec8c}, {"foobar", 0x85944171f73967e8}} {
		if got := fnv1a(tt.in); got != tt.want {
			t.Errorf("fnv1a(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		values map[string]any
		column string
		want   string
		err    bool
	}{
		{map[string]any{"email": " Ann@X.org ", "to": "b@x"}, "", "ann@x.org", false},
		{map[string]any{"To": "b@x", "address": "c@x"}, "", "c@x", false},
		{map[string]any{"TO": "b@x", "To": "c@x"}, "", "b@x", false},
		{map[string]any{"name": "Ann"}, "", "#12", false},
		{map[string]any{"to": []any{"A@x", "b@x"}}, "", "a@x,b@x", false},
		{map[string]any{"id": int64(77)}, "id", "77", false},
		{map[string]any{"id": int64(77)}, "uid", "", true},
	}
	for _, tt := range tests {
		got, err := Key(data.Row{Num: 12, Values: tt.values}, tt.column)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Key(%v, %q) = %q, %v", tt.values, tt.column, got, err)
		}
	}
}

// rows is a Source of n rows with an email column.
type rows struct {
	n, i int
	bad  int // a row number returned as a RowOnly error
}

func (r *rows) Next() (data.Row, error) {
	if r.i >= r.n {
		return data.Row{}, io.EOF
	}
	r.i++
	if r.i == r.bad {
		return data.Row{}, &data.Error{File: "t.csv", Row: r.i, Line: r.i + 1, RowOnly: true, Err: errors.New("broken")}
	}
	team := []string{"ops", "dev"}[r.i%2]
	return data.Row{Num: r.i, Line: r.i + 1, Values: map[string]any{"email": fmt.Sprintf("u%d@example.org", r.i), "team": team}}, nil
}

func collect(t *testing.T, st *Stream) ([]int, []string) {
	t.Helper()
	var nums []int
	var errs []string
	for {
		row, err := st.Next()
		if err == io.EOF {
			return nums, errs
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		nums = append(nums, row.Num)
	}
}

func TestStream(t *testing.T) {
	ops, _ := filter.Parse(`team == "ops"`)
	typo, _ := filter.Parse(`tem == "ops"`)
	tests := []struct {
		name string
		n    int
		bad  int
		opts Options
		want []int
		errs []string
		read int // rows read from the source, 0 to not check
	}{
		{name: "all", n: 5, want: []int{1, 2, 3, 4, 5}},
		{name: "filter", n: 6, opts: Options{Filter: ops}, want: []int{2, 4, 6}},
		{name: "rows by number, not by position after the filter", n: 10, opts: Options{Filter: ops, Rows: Ranges{{3, 6}}}, want: []int{4, 6}, read: 6},
		{name: "limit counts selected rows", n: 10, opts: Options{Filter: ops, Limit: 2}, want: []int{2, 4}, read: 4},
		{name: "rows list", n: 10, opts: Options{Rows: Ranges{{2, 2}, {9, 0}}}, want: []int{2, 9, 10}},
		{name: "filter error names the row", n: 2, opts: Options{Filter: typo}, errs: []string{
			`t.csv:2: row 1: filter: column 1: no field "tem" in this row`, `t.csv:3: row 2: filter: column 1: no field "tem" in this row`}},
		{name: "broken row outside --rows skipped", n: 5, bad: 4, opts: Options{Rows: Ranges{{1, 2}, {5, 5}}}, want: []int{1, 2, 5}},
		{name: "broken row inside --rows reported", n: 3, bad: 2, want: []int{1, 3}, errs: []string{"t.csv:3: row 2: broken"}},
		{name: "missing key column", n: 1, opts: Options{Shard: Shard{1, 2}, KeyColumn: "id"}, errs: []string{`t.csv:2: row 1: no key column "id" in this row`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &rows{n: tt.n, bad: tt.bad}
			nums, errs := collect(t, NewStream(src, "t.csv", New(tt.opts)))
			if !reflect.DeepEqual(nums, tt.want) || !reflect.DeepEqual(errs, tt.errs) {
				t.Errorf("got %v %q, want %v %q", nums, errs, tt.want, tt.errs)
			}
			if tt.read > 0 && src.i != tt.read {
				t.Errorf("read %d rows, want %d (early stop)", src.i, tt.read)
			}
		})
	}
}

// TestShardsPartition checks that shards are disjoint, cover every row, are
// roughly even, and do not depend on row order or numbering.
func TestShardsPartition(t *testing.T) {
	const n, shards = 10000, 4
	owner := map[string]int{}
	counts := make([]int, shards+1)
	for k := 1; k <= shards; k++ {
		src := &rows{n: n}
		nums, errs := collect(t, NewStream(src, "t.csv", New(Options{Shard: Shard{k, shards}})))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, num := range nums {
			key := fmt.Sprintf("u%d@example.org", num)
			if o, dup := owner[key]; dup {
				t.Fatalf("%s in shards %d and %d", key, o, k)
			}
			owner[key] = k
			counts[k]++
		}
	}
	if len(owner) != n {
		t.Fatalf("shards cover %d of %d rows", len(owner), n)
	}
	for k := 1; k <= shards; k++ {
		if counts[k] < n/shards*9/10 || counts[k] > n/shards*11/10 {
			t.Errorf("shard %d has %d rows", k, counts[k])
		}
	}
	// Reordered and renumbered: the same key lands in the same shard.
	for key, k := range owner {
		row := data.Row{Num: 999999, Values: map[string]any{"email": strings.ToUpper(key)}}
		got, _ := Key(row, "")
		if !(Shard{k, shards}).Contains(got) {
			t.Fatalf("%s moved out of shard %d", key, k)
		}
	}
}
