package values

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"string", "x", "x"},
		{"nil", nil, nil},
		{"bool", true, true},
		{"int", 42, int64(42)},
		{"int64", int64(-7), int64(-7)},
		{"uint64 small", uint64(7), int64(7)},
		{"uint64 beyond int64", uint64(math.MaxUint64), float64(math.MaxUint64)},
		{"float", 1.5, 1.5},
		{"json integer", json.Number("12345678901234"), int64(12345678901234)},
		{"json fraction", json.Number("1.5"), 1.5},
		{"json beyond int64", json.Number("1e30"), 1e30},
		{"json beyond float64", json.Number("1e999"), "1e999"},
		{"map any keys", map[any]any{1: "a", true: []any{2}}, map[string]any{"1": "a", "true": []any{int64(2)}}},
		{"nested", map[string]any{"l": []any{map[any]any{"k": 3}, json.Number("4")}},
			map[string]any{"l": []any{map[string]any{"k": int64(3)}, int64(4)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Normalize(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// YAML through yaml.v3 and KeepTimestamps, then Normalize: the shape both
// values files and data rows have.
func TestYAMLShape(t *testing.T) {
	src := "n: 3\nbig: 18446744073709551615\nf: 2.5\nday: 2024-01-02\nwhen: 2024-01-02T10:00:00Z\nok: yes\nlist: [1, a]\nm: {1: x}\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	KeepTimestamps(&doc)
	var v any
	if err := doc.Decode(&v); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"n": int64(3), "big": float64(math.MaxUint64), "f": 2.5,
		"day": "2024-01-02", "when": "2024-01-02T10:00:00Z",
		"ok": "yes", "list": []any{int64(1), "a"}, "m": map[string]any{"1": "x"},
	}
	if got := Normalize(v); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestYAMLErrorLine(t *testing.T) {
	syntax := yaml.Unmarshal([]byte("a: 1\n  b: [\n"), new(any))
	var typed struct{ A int }
	decode := yaml.Unmarshal([]byte("x: 1\na: [1]\n"), &typed)
	tests := []struct {
		name string
		err  error
		line int
		msg  string
		ok   bool
	}{
		{"syntax", syntax, 2, "mapping values are not allowed in this context", true},
		{"decode", decode, 2, "cannot unmarshal !!seq into int", true},
		{"no line", errors.New("yaml: did not find expected node content"), 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error to test")
			}
			line, msg, ok := YAMLErrorLine(tt.err)
			if line != tt.line || msg != tt.msg || ok != tt.ok {
				t.Errorf("YAMLErrorLine(%q) = %d, %q, %v; want %d, %q, %v", tt.err, line, msg, ok, tt.line, tt.msg, tt.ok)
			}
		})
	}
}
