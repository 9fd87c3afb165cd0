package template

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestLoadValues(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            map[string]any
		err             string
	}{
		{
			name: "yaml nested",
			file: "v.yaml",
			src:  "build: 42\nok: false\nday: 2024-01-02\nfailed:\n  - {name: lint, url: 'https://ci/1'}\n  - name: test\nowner: {name: Ann}\n",
			want: map[string]any{
				"build": int64(42), "ok": false, "day": "2024-01-02",
				"failed": []any{map[string]any{"name": "lint", "url": "https://ci/1"}, map[string]any{"name": "test"}},
				"owner":  map[string]any{"name": "Ann"},
			},
		},
		{name: "empty yaml", file: "v.yaml", src: "", want: map[string]any{}},
		{name: "null yaml", file: "v.yml", src: "~\n", want: map[string]any{}},
		{
			name: "json numbers",
			file: "v.json",
			src:  `{"id": 12345678901234, "ratio": 1.5, "tags": ["a", "b"], "n": null}`,
			want: map[string]any{"id": int64(12345678901234), "ratio": 1.5, "tags": []any{"a", "b"}, "n": nil},
		},
		{name: "yaml bad name", file: "v.yaml", src: "a: 1\nb-c: 2\n", err: `v.yaml:2:1: values: invalid name "b-c" (use letters, digits and _, not starting with a digit)`},
		{name: "yaml syntax", file: "v.yaml", src: "a: 1\n  b: [\n", err: `v.yaml:2:1: values: mapping values are not allowed in this context`},
		{name: "yaml list at top", file: "v.yaml", src: "- a\n", err: `v.yaml:1:1: values: expected a map of names to values at the top level`},
		{name: "json syntax", file: "v.json", src: "{\"a\": 1,\n \"b\": }", err: `v.json:2:7: values: invalid character '}' looking for beginning of value`},
		{name: "json bad name", file: "v.json", src: `{"1a": 1}`, err: `v.json: values: invalid name "1a" (use letters, digits and _, not starting with a digit)`},
		{name: "json two values", file: "v.json", src: "{}\n{}", err: `v.json:2:1: values: more than one JSON value`},
		{name: "json array", file: "v.json", src: `[1]`, err: `v.json:1:1: values: expected a map of names to values at the top level`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadValues(path)
			if tt.err != "" {
				var te *Error
				if !errors.As(err, &te) {
					t.Fatalf("error %v is a %T, not an *Error", err, err)
				}
				if want := filepath.Join(dir, tt.err); err.Error() != want {
					t.Errorf("error\n got %s\nwant %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
	_, err := LoadValues(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// Vars > Values > chunk definitions > front matter vars.
func TestValuePrecedence(t *testing.T) {
	src := "---\nfrom: a@example.com\nto: b@example.com\nvars:\n  a: fm\n  b: fm\n  c: fm\n  d: fm\n---\n" +
		"{{chunk \"a\" \"def\"}}{{chunk \"b\" \"def\"}}{{chunk \"c\" \"def\"}}\n\n" +
		"a={{.a}} b={{.b}} c={{.c}} d={{.d}}\n"
	opts := fixedOptions(map[string]string{"a": "var"})
	opts.Values = map[string]any{"a": "values", "b": "values"}
	m, err := expandString(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if out := render(t, m); !strings.Contains(out, "a=var b=values c=def d=fm\r\n") {
		t.Errorf("got\n%s", out)
	}
}

func TestValuesInLoops(t *testing.T) {
	src := "From: ci@example.com\nTo: dev@example.com\nSubject: {{len .failed}} jobs failed in {{.pipeline.name}}\n\n" +
		"{{range .failed}}- {{printf \"%-6s\" .name}} {{.stage}}{{with index . \"url\"}} {{.}}{{end}}\n{{end}}" +
		"{{get \"pipeline.url\" \"(no link)\"}} {{get \"pipeline.nope\" \"(no link)\"}}\n"
	opts := fixedOptions(nil)
	opts.Values = map[string]any{
		"pipeline": map[string]any{"name": "main", "url": "https://ci.example.com/p/7"},
		"failed": []any{
			map[string]any{"name": "lint", "stage": "check", "url": "https://ci.example.com/j/1"},
			map[string]any{"name": "test", "stage": "test"},
		},
	}
	m, err := expandString(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, m)
	for _, want := range []string{
		"Subject: 2 jobs failed in main\r\n",
		"- lint   check https://ci.example.com/j/1\r\n- test   test\r\n",
		"https://ci.example.com/p/7 (no link)\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestRequired(t *testing.T) {
	const head = "---\nfrom: a@example.com\nto: '{{.to}}'\nrequired: [to, name]\n---\n\nHi {{.name}}\n"
	tests := []struct {
		name   string
		src    string
		vars   map[string]string
		values map[string]any
		want   string // error, "" for none
		parse  bool
	}{
		{name: "all given", src: head, vars: map[string]string{"to": "b@example.com"}, values: map[string]any{"name": "Bo"}},
		{name: "both missing", src: head, want: `testdata/t.tmpl:4:12: required: values "to", "name" are required and not given (pass --var to=VALUE or put it in the values file)`},
		{name: "one empty", src: head, vars: map[string]string{"to": "b@example.com", "name": ""}, want: `testdata/t.tmpl:4:16: required: value "name" is required and not given (pass --var name=VALUE or put it in the values file)`},
		{name: "not a list", src: "---\nrequired: to\n---\n\nx\n", parse: true, want: `testdata/t.tmpl:2:11: front matter: required: expected a list of value names, e.g. required: [to, name]`},
		{name: "bad name", src: "---\nrequired:\n  - to\n  - 1x\n---\n\nx\n", parse: true, want: `testdata/t.tmpl:4:5: front matter: required: expected a value name (letters, digits and _, not starting with a digit), got "1x"`},
		{name: "also a default", src: "---\nrequired: [to]\nvars:\n  to: x@example.com\n---\n\nx\n", parse: true, want: `testdata/t.tmpl:4:3: front matter: vars: "to" is also required: a default would never be used (remove one)`},
		{name: "directive missing", src: "From: a@example.com\nTo: b@example.com\n\nHi {{required \"name\"}}\n", want: `testdata/t.tmpl:4:6: required: value "name" is required and not given (define it with {{chunk "name" "value"}}, under vars: in the front matter, or with --var name=VALUE)`},
		{name: "directive message", src: "From: a@example.com\nTo: b@example.com\n\nHi {{required \"name\" \"give the customer's name with --var name=...\"}}\n", want: `testdata/t.tmpl:4:6: required: give the customer's name with --var name=...`},
		{name: "directive empty", src: "From: a@example.com\nTo: b@example.com\n\n{{chunk \"name\" \"\"}}Hi {{required \"name\"}}\n", want: `testdata/t.tmpl:4:25: required: value "name" is empty`},
		{name: "directive given", src: "From: a@example.com\nTo: b@example.com\n\nHi {{required \"name\"}}\n", values: map[string]any{"name": "Bo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse("testdata/t.tmpl", []byte(tt.src))
			if tt.parse {
				matchError(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opts := fixedOptions(tt.vars)
			opts.Values = tt.values
			_, err = tmpl.Expand(opts)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			matchError(t, err, tt.want)
		})
	}
}

// One Template expanded concurrently with different Values (a batch).
func TestConcurrentValues(t *testing.T) {
	tmpl, err := Parse("testdata/t.tmpl", []byte("---\nfrom: a@example.com\nto: '{{.to}}'\n---\n{{chunk \"greeting\" (printf \"Hi %s\" .name)}}\n\n{{.greeting}}: {{join \",\" .items}} {{date \"%F\" \"+1d\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	shared := []any{"x", "y"}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := fixedOptions(nil)
			opts.Values = map[string]any{"to": fmt.Sprintf("u%d@example.com", i), "name": fmt.Sprint("n", i), "items": shared}
			m, err := tmpl.Expand(opts)
			if err != nil {
				t.Error(err)
				return
			}
			var b strings.Builder
			if _, err := m.WriteTo(&b); err != nil {
				t.Error(err)
				return
			}
			if want := fmt.Sprintf("Hi n%d: x,y 2024-10-02", i); !strings.Contains(b.String(), want) {
				t.Errorf("missing %q in %s", want, b.String())
			}
		}()
	}
	wg.Wait()
}
