package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// drain reads every row of src in the given format; it must never panic nor
// loop, and every error must be an *Error or io.EOF.
func drain(t *testing.T, src []byte, name string, opts Options) {
	tm := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("hang on %q", src)) })
	defer tm.Stop()
	r, err := NewReader(bytes.NewReader(src), name, opts)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("open error %T: %v", err, err)
		}
		return
	}
	last := 0
	for i := 0; i <= len(src)+1; i++ {
		row, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T: %v", err, err)
			}
			if !e.RowOnly {
				return
			}
			continue
		}
		if row.Num <= last || row.Values == nil {
			t.Fatalf("row %d after %d, values %v", row.Num, last, row.Values)
		}
		last = row.Num
	}
	t.Fatalf("more rows than bytes")
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\uFEFFa;b\r\n\"x\"\"y\";2\r\n", "a\tb\n1\n1\t2\t3\n", "a,a\n", "\"a\nb\",c\n\"1\n", "a|b\n\"|\"|x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { drain(t, src, "f.csv", Options{}) })
}

func FuzzJSONLines(f *testing.F) {
	for _, s := range []string{"{\"a\":1}\n{\"b\":[1,{\"c\":null}]}\n", "[1]\n\n{\"a\":\n", "{} {}\n", "{\"a\":1e999}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { drain(t, src, "f.jsonl", Options{}) })
}

func FuzzJSONArray(f *testing.F) {
	for _, s := range []string{"[{\"a\":1},\n{\"b\":2}]", "[1, {\"a\":}]", "[] x", "{}", "[{\"a\":1} {\"a\":2}]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { drain(t, src, "f.json", Options{}) })
}

func FuzzYAML(f *testing.F) {
	for _, s := range []string{"- a: 1\n  b: [x]\n- a: 2\n", "a: 1\n---\nb: 2\n", "  - a: |\n      - x\n  - b: 1\n...\n", "- &x {a: 1}\n- *x\n", "- [a\n- b]\n", "%YAML 1.2\n---\n- a: 1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { drain(t, src, "f.yaml", Options{}) })
}
