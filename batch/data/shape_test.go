package data

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mailscript/mailscript/template"
)

// A data row and a values file with the same content give a template the
// same values, of the same types (both go through internal/values).
func TestRowsAndValuesFilesHaveOneShape(t *testing.T) {
	tests := []struct{ name, row, values string }{
		{"yaml", "- n: 3\n  f: 2.5\n  day: 2024-01-02\n  list: [1, {k: x}]\n  m: {1: y}\n  big: 18446744073709551615\n",
			"n: 3\nf: 2.5\nday: 2024-01-02\nlist: [1, {k: x}]\nm: {1: y}\nbig: 18446744073709551615\n"},
		{"json", `[{"n": 3, "f": 2.5, "list": [1, {"k": "x"}], "id": 12345678901234, "e": 1e400}]`,
			`{"n": 3, "f": 2.5, "list": [1, {"k": "x"}], "id": 12345678901234, "e": 1e400}`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.row), "rows."+tt.name, Options{})
			if err != nil {
				t.Fatal(err)
			}
			row, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("second row: %v", err)
			}
			p := filepath.Join(dir, "values."+tt.name)
			if err := os.WriteFile(p, []byte(tt.values), 0o600); err != nil {
				t.Fatal(err)
			}
			vals, err := template.LoadValues(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(row.Values, vals) {
				t.Errorf("data row    %#v\nvalues file %#v", row.Values, vals)
			}
		})
	}
}
