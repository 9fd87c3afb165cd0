package template

import (
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"path/filepath"
	"strings"
	"testing"
)

func TestHelpers(t *testing.T) {
	values := map[string]any{
		"name":  "ann smith-jones",
		"empty": "",
		"list":  []any{"a", 1, true},
		"none":  []any{},
		"text":  "The quick brown fox jumps over the lazy dog and keeps running far away.",
		"items": "  - a list item that is long enough to be wrapped twice at twenty\n\nnext paragraph",
		"odd":   `Smith, "Ann" \o/`,
		"zero":  0,
		"width": int64(20), // an integer from a values file or a data row
		"four":  uint8(4),
	}
	tests := []struct{ expr, want string }{
		{`{{.name | upper}}`, `ANN SMITH-JONES`},
		{`{{upper "straße"}}`, `STRAßE`},
		{`{{"ÉTÉ" | lower}}`, `été`},
		{`{{.name | title}}`, `Ann Smith-Jones`},
		{`{{title "élodie o'neil"}}`, `Élodie O'neil`},
		{`[{{trim "  x y \n"}}]`, `[x y]`},
		{`{{.empty | default "friend"}}`, `friend`},
		{`{{.name | default "friend"}}`, `ann smith-jones`},
		{`{{default "none" .none}}`, `none`},
		{`{{.zero | default 5}}`, `0`},
		{`{{get "nope" "" | default "dflt"}}`, `dflt`},
		{`{{join ", " .list}}`, `a, 1, true`},
		{`{{split "," "a,b,c" | join " + "}}`, `a + b + c`},
		{`{{range split ":" "x:y"}}<{{.}}>{{end}}`, `<x><y>`},
		{`[{{join "," (split "," "")}}]`, `[]`},
		{`{{"a\nb\n\nc" | indent 2}}`, "  a\n  b\n\n  c"},
		{`{{.text | wrap 20}}`, "The quick brown fox\njumps over the lazy\ndog and keeps\nrunning far away."},
		{`{{.items | wrap 20}}`, "  - a list item that\n  is long enough to\n  be wrapped twice\n  at twenty\n\nnext paragraph"},
		{`{{wrap 5 "antidisestablishment is long"}}`, "antidisestablishment\nis\nlong"},
		{`{{wrap 10 "short"}}`, "short"},
		{`{{.text | wrap .width}}`, "The quick brown fox\njumps over the lazy\ndog and keeps\nrunning far away."},
		{`{{"a\nb" | indent .four}}`, "    a\n    b"},
		{`{{quote .odd}}`, `"Smith, \"Ann\" \\o/"`},
		{`{{quote ""}}`, `""`},
		{`{{base64 "héllo"}}`, `aMOpbGxv`},
		{`{{html "<a href='x'>&</a>"}}`, `&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;`},
		{`{{if .list}}yes{{else}}no{{end}} {{if .none}}yes{{else}}no{{end}}`, `yes no`},
		{`{{chunk "n" "3"}}{{chunk "n"}}{{get "n"}}{{get "nope" "x"}}`, `33x`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			tmpl, err := Parse("testdata/t.tmpl", []byte("From: a@example.com\nTo: b@example.com\n\n"+tt.expr))
			if err != nil {
				t.Fatal(err)
			}
			opts := fixedOptions(nil)
			opts.Values = values
			x, err := tmpl.Expand(opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := x.body(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// body returns the expanded body, before encoding.
func (m *Message) body() string {
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		return "error: " + err.Error()
	}
	header, body, _ := strings.Cut(b.String(), "\r\n\r\n")
	if strings.Contains(header, "Content-Transfer-Encoding: quoted-printable") {
		dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		if err != nil {
			return "error: " + err.Error()
		}
		body = string(dec)
	}
	if strings.Contains(header, "Content-Transfer-Encoding: base64") {
		dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\r\n", ""))
		if err != nil {
			return "error: " + err.Error()
		}
		body = string(dec)
	}
	return strings.TrimSuffix(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
}

func TestDirectiveErrors(t *testing.T) {
	const head = "From: a@example.com\nTo: b@example.com\n\n"
	t.Setenv("MAILSCRIPT_TEST_SET", "set")
	t.Setenv("MAILSCRIPT_TEST_SECRET", "s3cret")
	tests := []struct {
		name, body, want string
	}{
		{"get undefined", `x {{get "nope"}}`, `testdata/t.tmpl:4:5: get: undefined value "nope" (give a default: {{get "nope" "default"}})`},
		{"get two defaults", `{{get "a" "b" "c"}}`, `testdata/t.tmpl:4:3: get: takes a name and at most one default, got 2 defaults`},
		{"env missing", "line\n  {{env \"MAILSCRIPT_TEST_UNSET\"}}", `testdata/t.tmpl:5:5: env: environment variable MAILSCRIPT_TEST_UNSET is not set (give a default: {{env "MAILSCRIPT_TEST_UNSET" "default"}})`},
		{"env hidden", `{{env "MAILSCRIPT_TEST_SECRET"}}`, `testdata/t.tmpl:4:3: env: environment variable MAILSCRIPT_TEST_SECRET is hidden from templates (it holds a secret)`},
		{"env bad name", `{{env "A=B"}}`, `testdata/t.tmpl:4:3: env: invalid variable name "A=B"`},
		{"wrap width", `{{wrap 0 "x"}}`, `testdata/t.tmpl:4:3: wrap: width 0 out of range 1..998`},
		{"indent width", `{{"x" | indent -1}}`, `testdata/t.tmpl:4:9: indent: width -1 out of range 0..200`},
		{"wrap width a string", `{{wrap "72" "x"}}`, `testdata/t.tmpl:4:3: wrap: width: expected a whole number, got the string "72"`},
		{"wrap width a fraction", `{{wrap 7.5 "x"}}`, `testdata/t.tmpl:4:3: wrap: width: expected a whole number, got the number 7.5`},
		{"indent width huge", `{{indent 1099511627776 "x"}}`, `testdata/t.tmpl:4:3: indent: width 1099511627776 out of range 0..200`},
		{"quote newline", `{{quote "a\nb"}}`, `testdata/t.tmpl:4:3: quote: value "a\nb" contains a line break or a control character`},
		{"join not a list", `{{join "," 3}}`, `testdata/t.tmpl:4:3: join: expected a list, got int`},
		{"upper of a number", `{{upper 3}}`, `testdata/t.tmpl:4:9: expected string; found 3`},
		{"unknown function", `{{shout "x"}}`, `testdata/t.tmpl:4:3: function "shout" not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fixedOptions(nil)
			opts.HideEnv = []string{"MAILSCRIPT_TEST_SECRET"}
			_, err := expandString(head+tt.body+"\n", opts)
			matchError(t, err, tt.want)
		})
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("MAILSCRIPT_TEST_SET", "set")
	t.Setenv("MAILSCRIPT_TEST_EMPTY", "")
	t.Setenv("MAILSCRIPT_TEST_SECRET", "s3cret")
	opts := fixedOptions(nil)
	opts.HideEnv = []string{"MAILSCRIPT_TEST_SECRET"}
	m, err := expandString("From: a@example.com\nTo: b@example.com\n\n"+
		`{{env "MAILSCRIPT_TEST_SET"}} [{{env "MAILSCRIPT_TEST_EMPTY" "d"}}] {{env "MAILSCRIPT_TEST_UNSET" "eu"}} {{env "MAILSCRIPT_TEST_SECRET" "hidden"}}`, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.body(), "set [] eu hidden"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEnvAllowed(t *testing.T) {
	t.Setenv("MAILSCRIPT_TEST_SET", "set")
	t.Setenv("MAILSCRIPT_TEST_TOKEN", "tok3n")
	t.Setenv("MAILSCRIPT_TEST_SECRET", "s3cret")
	const head = "From: a@example.com\nTo: b@example.com\n\n"
	tests := []struct {
		name    string
		allow   []string // nil: every variable
		body    string
		want    string // the body, or
		wantErr string // the error
	}{
		{"nil allows all", nil, `{{env "MAILSCRIPT_TEST_SET"}} {{env "MAILSCRIPT_TEST_TOKEN"}}`, "set tok3n", ""},
		{"listed", []string{"MAILSCRIPT_TEST_SET"}, `{{env "MAILSCRIPT_TEST_SET"}}`, "set", ""},
		{"unlisted with a default", []string{"MAILSCRIPT_TEST_SET"}, `{{env "MAILSCRIPT_TEST_TOKEN" "none"}}`, "none", ""},
		{"unlisted", []string{"MAILSCRIPT_TEST_SET"}, `{{env "MAILSCRIPT_TEST_TOKEN"}}`, "",
			`testdata/t.tmpl:4:3: env: environment variable MAILSCRIPT_TEST_TOKEN is not allowed for this template (allowed: MAILSCRIPT_TEST_SET)`},
		{"empty list allows none", []string{}, `{{env "MAILSCRIPT_TEST_SET"}}`, "",
			`testdata/t.tmpl:4:3: env: environment variable MAILSCRIPT_TEST_SET is not allowed for this template (allowed: none)`},
		{"hidden even when listed", []string{"MAILSCRIPT_TEST_SECRET"}, `{{env "MAILSCRIPT_TEST_SECRET"}}`, "",
			`testdata/t.tmpl:4:3: env: environment variable MAILSCRIPT_TEST_SECRET is hidden from templates (it holds a secret)`},
		{"in a header too", []string{}, "", "",
			`testdata/t.tmpl:3:12: env: environment variable MAILSCRIPT_TEST_TOKEN is not allowed for this template (allowed: none)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fixedOptions(nil)
			opts.HideEnv = []string{"MAILSCRIPT_TEST_SECRET"}
			opts.AllowEnv = tt.allow
			src := head + tt.body + "\n"
			if tt.body == "" {
				src = "From: a@example.com\nTo: b@example.com\nX-Token: {{env \"MAILSCRIPT_TEST_TOKEN\"}}\n\nbody\n"
			}
			m, err := expandString(src, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.body(); got != tt.want {
				t.Errorf("body %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShellOutput(t *testing.T) {
	opts := fixedOptions(map[string]string{"who": "$(echo pwned)"})
	opts.Values = map[string]any{"jobs": []any{"lint", "test"}, "n": 3}
	m, err := expandString("From: a@example.com\nTo: b@example.com\n\n"+
		`[{{sh "printf 'a\\n\\n'"}}] [{{sh "printf 'b\\r\\n'"}}] [{{sh "printf c"}}] [{{sh "echo \"$who\""}}] [{{sh "echo \"$jobs $n\""}}]`, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.body(), "[a\n] [b] [c] [$(echo pwned)] [[\"lint\",\"test\"] 3]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// NoShell finds every directive named in shellDirectives, so that other
// directives that run commands are refused as sh is.
func TestNoShellDirectives(t *testing.T) {
	shellDirectives["test_cmd"] = true
	stubFuncs["test_cmd"] = func(string) string { return "" }
	defer func() {
		delete(shellDirectives, "test_cmd")
		delete(stubFuncs, "test_cmd")
	}()
	tmpl, err := Parse("testdata/t.tmpl", []byte("From: a@example.com\nTo: b@example.com\n\nok\n{{with .x}}{{test_cmd \"ls\"}}{{end}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Expand(Options{NoShell: true})
	matchError(t, err, `testdata/t.tmpl:5:14: test_cmd: shell commands are disabled (--no-shell)`)
}

// The CI alert of docs/templates.md renders as shown there.
func TestDocsCIAlert(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"values.yaml": "pipeline: {name: main, url: https://ci.example.com/p/7}\nfailed:\n  - {name: lint, stage: check, url: https://ci.example.com/j/1}\n  - {name: test, stage: test}\n",
		"alert.tmpl": "---\nfrom: ci@example.com\nto: dev@example.com\nsubject: '{{len .failed}} jobs failed in {{.pipeline.name}}'\nrequired: [failed]\n---\n\n" +
			"{{range .failed -}}\n- {{printf \"%-8s\" .name}} {{.stage}}{{with index . \"url\"}} {{.}}{{end}}\n{{end -}}\n" +
			"{{if gt (len .failed) 3}}Many failures: check the runners.\n{{end -}}\nPipeline: {{get \"pipeline.url\" \"(no link)\"}}\n",
	})
	values, err := LoadValues(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ParseFile(filepath.Join(dir, "alert.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	opts := fixedOptions(nil)
	opts.Values = values
	m, err := tmpl.Expand(opts)
	if err != nil {
		t.Fatal(err)
	}
	want := "- lint     check https://ci.example.com/j/1\n- test     test\nPipeline: https://ci.example.com/p/7"
	if got := m.body(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if out := render(t, m); !strings.Contains(out, "Subject: 2 jobs failed in main\r\n") {
		t.Errorf("subject missing in\n%s", out)
	}
}
