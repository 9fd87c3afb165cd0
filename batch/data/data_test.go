package data

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readAll reads every row, collecting errors as strings (continuing after
// RowOnly errors).
func readAll(t *testing.T, name, src string, opts Options) ([]Row, []string, error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(src), name, opts)
	if err != nil {
		return nil, nil, err
	}
	var rows []Row
	var errs []string
	for i := 0; i < 1000; i++ {
		row, err := r.Next()
		if err == io.EOF {
			return rows, errs, nil
		}
		if err != nil {
			errs = append(errs, err.Error())
			var e *Error
			if !errors.As(err, &e) || !e.RowOnly {
				if _, err2 := r.Next(); err2 != err {
					t.Errorf("fatal error not sticky: %v then %v", err, err2)
				}
				return rows, errs, nil
			}
			continue
		}
		rows = append(rows, row)
	}
	t.Fatal("reader does not end")
	return nil, nil, nil
}

type m = map[string]any

func TestReader(t *testing.T) {
	tests := []struct {
		name, file, src string
		opts            Options
		want            []Row
		errs            []string
		openErr         string
	}{
		{name: "csv comma", file: "a.csv", src: "email,name\na@x,Ann\nb@x,\"Bob, Jr\"\n",
			want: []Row{{1, 2, m{"email": "a@x", "name": "Ann"}}, {2, 3, m{"email": "b@x", "name": "Bob, Jr"}}}},
		{name: "csv bom crlf semicolon", file: "a.csv", src: "\uFEFFemail;name\r\na@x;Ann, A\r\n",
			want: []Row{{1, 2, m{"email": "a@x", "name": "Ann, A"}}}},
		{name: "csv sniff tab", file: "a.csv", src: "email\tname\tx,y\na@x\tAnn,A\t1\n",
			want: []Row{{1, 2, m{"email": "a@x", "name": "Ann,A", "x,y": "1"}}}},
		{name: "csv sniff pipe, quoted commas ignored", file: "a.csv", src: "\"a,b,c\"|d\n1|2\n",
			want: []Row{{1, 2, m{"a,b,c": "1", "d": "2"}}}},
		{name: "tsv by extension", file: "a.tsv", src: "a,b\tc\n1,2\t3\n",
			want: []Row{{1, 2, m{"a,b": "1,2", "c": "3"}}}},
		{name: "csv forced delimiter", file: "a.csv", src: "a;b,c\n1;2,3\n", opts: Options{Delimiter: ','},
			want: []Row{{1, 2, m{"a;b": "1;2", "c": "3"}}}},
		{name: "csv header trimmed, blank lines skipped", file: "a.csv", src: " a , b\n\n1,2\n\n3,4",
			want: []Row{{1, 3, m{"a": "1", "b": "2"}}, {2, 5, m{"a": "3", "b": "4"}}}},
		{name: "csv multiline field", file: "a.csv", src: "a,b\n\"x\ny\",2\n3,4\n",
			want: []Row{{1, 2, m{"a": "x\ny", "b": "2"}}, {2, 4, m{"a": "3", "b": "4"}}}},
		{name: "csv wrong field count continues", file: "d.csv", src: "a,b\n1,2\n3\n4,5,6\n7,8\n",
			want: []Row{{1, 2, m{"a": "1", "b": "2"}}, {4, 5, m{"a": "7", "b": "8"}}},
			errs: []string{"d.csv:3: row 2: CSV: 1 fields, the header has 2", "d.csv:4: row 3: CSV: 3 fields, the header has 2"}},
		{name: "csv bad quote is fatal", file: "d.csv", src: "a,b\n1,2\n3,x\"y\n5,6\n",
			want: []Row{{1, 2, m{"a": "1", "b": "2"}}},
			errs: []string{"d.csv:3:4: row 2: CSV: bare \" in non-quoted-field"}},
		{name: "csv duplicate header", file: "d.csv", src: "a,b,a\n", openErr: `d.csv:1:5: CSV header: column 3 repeats the name "a" of column 1`},
		{name: "csv empty header", file: "d.csv", src: "a,,b\n", openErr: `d.csv:1:3: CSV header: column 2 has no name`},
		{name: "csv empty file", file: "d.csv", src: "", openErr: `d.csv:1: CSV: no header row`},
		{name: "csv header only", file: "d.csv", src: "a,b\n"},
		{name: "jsonl", file: "a.jsonl", src: "{\"a\":1,\"b\":{\"c\":[1,2.5,\"x\",null,true]}}\n\n{\"a\":\"s\"}",
			want: []Row{{1, 1, m{"a": int64(1), "b": m{"c": []any{int64(1), 2.5, "x", nil, true}}}}, {2, 3, m{"a": "s"}}}},
		{name: "jsonl errors continue", file: "a.ndjson", src: "{\"a\":1}\n[1]\n{\"a\":\n{\"a\":2} x\n{\"a\":3}\n",
			want: []Row{{1, 1, m{"a": int64(1)}}, {5, 5, m{"a": int64(3)}}},
			errs: []string{"a.ndjson:2: row 2: JSON Lines: an array, not an object", "a.ndjson:3: row 3: JSON Lines: unexpected EOF",
				"a.ndjson:4:9: row 4: JSON Lines: unexpected data after the object"}},
		{name: "json array", file: "a.json", src: "[\n {\"a\": 1},\n\n {\"a\": {\"b\": 2}}\n]\n",
			want: []Row{{1, 2, m{"a": int64(1)}}, {2, 4, m{"a": m{"b": int64(2)}}}}},
		{name: "json empty array", file: "a.json", src: " [ ] "},
		{name: "json array element not object", file: "a.json", src: "[{\"a\":1}, 2, {\"a\":3}]",
			want: []Row{{1, 1, m{"a": int64(1)}}, {3, 1, m{"a": int64(3)}}},
			errs: []string{"a.json:1: row 2: JSON: element a number, not an object"}},
		{name: "json syntax error", file: "a.json", src: "[{\"a\":1},\n {\"a\" 2}]",
			want: []Row{{1, 1, m{"a": int64(1)}}},
			errs: []string{"a.json:2:7: row 2: JSON: invalid character '2' after object key"}},
		{name: "json not an array", file: "a.json", src: "{\"a\":1}",
			errs: []string{"a.json:1:1: JSON: expected an array of objects"}},
		{name: "json trailing data", file: "a.json", src: "[] []",
			errs: []string{"a.json:1:5: JSON: unexpected data after the array"}},
		{name: "yaml list", file: "a.yaml", src: "# people\n---\n- email: a@x\n  tags: [x, y]\n  born: 2001-02-03\n\n- email: b@x\n  n: 3\n  nested:\n    - k: v\n...\n",
			want: []Row{{1, 3, m{"email": "a@x", "tags": []any{"x", "y"}, "born": "2001-02-03"}}, {2, 7, m{"email": "b@x", "n": int64(3), "nested": []any{m{"k": "v"}}}}}},
		{name: "yaml indented list", file: "a.yml", src: "  - a: 1\n    b: |\n      text\n      - not an item\n  - a: 2\n",
			want: []Row{{1, 1, m{"a": int64(1), "b": "text\n- not an item\n"}}, {2, 5, m{"a": int64(2)}}}},
		{name: "yaml documents", file: "a.yaml", src: "a: 1\n---\n# empty\n---\na: 2\nb: [1]\n",
			want: []Row{{1, 1, m{"a": int64(1)}}, {2, 5, m{"a": int64(2), "b": []any{int64(1)}}}}},
		{name: "yaml bad item continues", file: "a.yaml", src: "- a: 1\n- [x]\n- a: b: c\n- a: 3\n",
			want: []Row{{1, 1, m{"a": int64(1)}}, {4, 4, m{"a": int64(3)}}},
			errs: []string{"a.yaml:2: row 2: YAML: a list, not a map", "a.yaml:3: row 3: YAML: mapping values are not allowed in this context"}},
		{name: "yaml flow list refused", file: "a.yaml", src: "[{a: 1}]\n",
			errs: []string{`a.yaml:1: YAML: a flow sequence ([...]) cannot be streamed; write one "- " item per row`}},
		{name: "sniff json array", file: "-", src: "\n  [{\"a\":1}]",
			want: []Row{{1, 2, m{"a": int64(1)}}}},
		{name: "sniff jsonl", file: "-", src: "{\"a\":1}\n{\"a\":2}\n",
			want: []Row{{1, 1, m{"a": int64(1)}}, {2, 2, m{"a": int64(2)}}}},
		{name: "sniff csv", file: "-", src: "a|b\n1|2\n",
			want: []Row{{1, 2, m{"a": "1", "b": "2"}}}},
		{name: "sniff yaml list", file: "-", src: "\n- a: 1\n-\n  a: 2\n",
			want: []Row{{1, 2, m{"a": int64(1)}}, {2, 3, m{"a": int64(2)}}}},
		{name: "sniff yaml documents", file: "people.txt", src: "---\na: 1\n---\na: 2\n",
			want: []Row{{1, 2, m{"a": int64(1)}}, {2, 4, m{"a": int64(2)}}}},
		{name: "sniff yaml errors name stdin", file: "-", src: "- a: 1\n- [x]\n",
			want: []Row{{1, 1, m{"a": int64(1)}}}, errs: []string{"-:2: row 2: YAML: a list, not a map"}},
		{name: "sniff csv with a dash", file: "-", src: "-a,b\n1,2\n",
			want: []Row{{1, 2, m{"-a": "1", "b": "2"}}}},
		{name: "forced yaml on stdin", file: "-", src: "- a: 1\n", opts: Options{Format: YAML},
			want: []Row{{1, 1, m{"a": int64(1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, errs, err := readAll(t, tt.file, tt.src, tt.opts)
			if tt.openErr != "" || err != nil {
				if err == nil || err.Error() != tt.openErr {
					t.Fatalf("open error = %v, want %q", err, tt.openErr)
				}
				return
			}
			if !reflect.DeepEqual(rows, tt.want) {
				t.Errorf("rows:\n got %#v\nwant %#v", rows, tt.want)
			}
			if !reflect.DeepEqual(errs, tt.errs) {
				t.Errorf("errors:\n got %q\nwant %q", errs, tt.errs)
			}
		})
	}
}

func TestColumnsAndFormat(t *testing.T) {
	r, err := NewReader(strings.NewReader("b,a\n1,2\n"), "x.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Columns(); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Errorf("Columns = %q", got)
	}
	if r.Format() != CSV || r.Name() != "x.csv" {
		t.Errorf("Format, Name = %v, %q", r.Format(), r.Name())
	}
	n := 0
	for row, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		n += row.Num
	}
	if n != 1 {
		t.Errorf("All yielded rows summing to %d", n)
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in    string
		f     Format
		delim rune
		err   bool
	}{
		{"csv", CSV, 0, false}, {"TSV", CSV, '\t', false}, {"ndjson", JSONLines, 0, false},
		{"json", JSONArray, 0, false}, {"yml", YAML, 0, false}, {"", Auto, 0, false}, {"xml", Auto, 0, true},
	}
	for _, tt := range tests {
		f, d, err := ParseFormat(tt.in)
		if f != tt.f || d != tt.delim || (err != nil) != tt.err {
			t.Errorf("ParseFormat(%q) = %v, %q, %v", tt.in, f, d, err)
		}
	}
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(p, []byte("{\"to\":\"a@x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	row, err := r.Next()
	if err != nil || row.Values["to"] != "a@x" {
		t.Fatalf("Next = %v, %v", row, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(dir, "missing.csv"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v", err)
	}
}

func TestLongJSONLine(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the 64 KiB buffer
	rows, errs, err := readAll(t, "a.jsonl", "{\"a\":\""+long+"\"}\n{\"a\":1}\n", Options{})
	if err != nil || len(errs) > 0 || len(rows) != 2 || rows[0].Values["a"] != long {
		t.Fatalf("rows %d, errs %q, err %v", len(rows), errs, err)
	}
}
