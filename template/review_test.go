package template

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// execFast must give up, as text/template fails, when the output of a
// piece exceeds the limit, whatever op brings it over: a text op too, not
// only an action (a body of plain text larger than maxPieceOutput was
// accepted by the fast path, while text/template reports "output exceeds
// 64 MiB").
func TestFastLimitCountsText(t *testing.T) {
	tests := []struct {
		name string
		prog fastProg
		vals map[string]any
		ok   bool
	}{
		{"text only, within", fastProg{{text: "0123456789"}}, nil, true},
		{"text only, over", fastProg{{text: "0123456789a"}}, nil, false},
		{"action then text, over", fastProg{{act: true, name: "v"}, {text: "0123456789"}}, map[string]any{"v": "x"}, false},
		{"action over", fastProg{{text: "0123456789"}, {act: true, name: "v"}}, map[string]any{"v": "x"}, false},
		{"exactly the limit", fastProg{{act: true, name: "v"}, {text: "012345678"}}, map[string]any{"v": "x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := &expansion{vals: tt.vals}
			var buf bytes.Buffer
			buf.WriteString("before")
			ok := x.execFast(tt.prog, &buf, 10)
			if ok != tt.ok {
				t.Fatalf("execFast = %v, want %v (output %q)", ok, tt.ok, buf.String())
			}
			if !ok && buf.String() != "before" {
				t.Errorf("after giving up the buffer holds %q", buf.String())
			}
		})
	}
}

// Many goroutines expand, write and close messages of one parsed template
// at once: each message holds its own row's values only (pooled text
// buffers, value maps and address caches are never shared between live
// messages). Run with -race.
func TestConcurrentExpandWriteClose(t *testing.T) {
	templates := map[string]string{
		"plain":    "---\nfrom: '{{addr .fn .from}}'\nto: '{{addr .name .email}}'\nsubject: 'Hi {{.name}}'\n---\nHello {{.name}} <{{.email}}>\n{{.long}}\n",
		"markdown": "---\nfrom: '{{addr .fn .from}}'\nto: '{{addr .name .email}}'\n---\nContent-Type: text/markdown\n\n# {{.name}}\n\n*{{.long}}*\n",
		"define":   "---\nfrom: '{{addr .fn .from}}'\nto: '{{addr .name .email}}'\n---\nHi {{.name}}\n{{.long}}\n{{define \"html\"}}<p>{{.name}} {{.long}}</p>{{end}}",
	}
	for tname, src := range templates {
		tmpl, err := Parse("testdata/"+tname+".tmpl", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		row := func(g, i int) map[string]any {
			id := fmt.Sprintf("g%di%d", g, i)
			long := strings.Repeat(id+" ", 1+(g*7+i)%300) // several text buffer sizes
			if i%3 == 0 {
				long += "é" // quoted-printable
			}
			return map[string]any{"fn": fmt.Sprintf("Sender %d", i%6), "from": "from@example.com",
				"name": "Name " + id, "email": id + "@example.org", "long": long}
		}
		// Expected bytes, computed one at a time.
		const goroutines, rows = 8, 40
		want := make([][]string, goroutines)
		for g := range goroutines {
			for i := range rows {
				m, err := tmpl.Expand(withValues(row(g, i)))
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := m.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				m.Close()
				want[g] = append(want[g], buf.String())
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rows {
					m, err := tmpl.Expand(withValues(row(g, i)))
					if err != nil {
						errs <- err
						return
					}
					var a, b bytes.Buffer
					m.WriteTo(&a)
					m.WriteTo(&b)
					m.Close()
					if a.String() != want[g][i] || b.String() != want[g][i] {
						errs <- fmt.Errorf("%s: goroutine %d row %d: got\n%q\nwant\n%q", tname, g, i, a.String(), want[g][i])
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

func withValues(v map[string]any) Options {
	opts := fixedOptions(nil)
	opts.Values = v
	return opts
}

// A glob pattern outside the include root is refused as a path outside it
// is, whether it matches files or not, without naming the files it matches:
// the template cannot list nor probe the files outside.
func TestIncludeRootGlobOutside(t *testing.T) {
	dir := rootTree(t)
	tmplDir := filepath.Join(dir, "tmpl")
	tests := []struct{ name, body, err string }{
		{"matching", `{{attach "../*.txt"}}`, `DIR/tmpl/main.tmpl:4:3: attach: ../*.txt: outside the include root DIR/tmpl`},
		{"matching, optional", `{{attach "../*.txt" "optional"}}`, `DIR/tmpl/main.tmpl:4:3: attach: ../*.txt: outside the include root DIR/tmpl`},
		{"matching nothing, optional", `{{attach "../nothing*" "optional"}}`, `DIR/tmpl/main.tmpl:4:3: attach: ../nothing*: outside the include root DIR/tmpl`},
		{"absolute", `{{attach "DIR/*.txt"}}`, `DIR/tmpl/main.tmpl:4:3: attach: DIR/*.txt: outside the include root DIR/tmpl`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "From: a@example.com\nTo: b@example.com\n\n" + strings.ReplaceAll(tt.body, "DIR", dir) + "\n"
			tmpl, err := Parse(filepath.Join(tmplDir, "main.tmpl"), []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			opts := fixedOptions(nil)
			opts.ConfineToTemplateDir = true
			_, err = tmpl.Expand(opts)
			matchError(t, err, strings.ReplaceAll(tt.err, "DIR", dir))
			if !errors.Is(err, ErrOutsideRoot) {
				t.Errorf("errors.Is(%v, ErrOutsideRoot) = false", err)
			}
		})
	}
	// Inside, a pattern still works, through the root's alias too.
	for _, pattern := range []string{"sub/*.txt", dir + "/alias/sub/*.txt"} {
		tmpl, err := Parse(filepath.Join(tmplDir, "main.tmpl"), []byte("From: a@example.com\nTo: b@example.com\n\nx{{attach \""+pattern+"\"}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		opts := fixedOptions(nil)
		opts.ConfineToTemplateDir = true
		m, err := tmpl.Expand(opts)
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		if got := m.body(); !strings.Contains(got, "YSBub3Rl") { // base64 of "a note"
			t.Errorf("%s: got %q", pattern, got)
		}
		m.Close()
	}
}

// A body of plain text longer than maxPieceOutput fails as text/template
// makes it fail, with or without the fast path (end to end; the race
// detector makes it too slow).
func TestFastLimitBody(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("64 MiB body")
	}
	src := "---\nfrom: a@example.com\nto: b@example.com\n---\n{{.name}}" + strings.Repeat("x", maxPieceOutput) + "\n"
	tmpl, err := Parse("testdata/big.tmpl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	fast, slow := expandBoth(t, tmpl, func() Options { return withValues(map[string]any{"name": "n"}) }, false)
	if fast != slow || !strings.Contains(slow, "output exceeds 64 MiB") {
		t.Errorf("with fast programs %.200q\nwith text/template %.200q", fast, slow)
	}
}

// --include-root / lifts the limit, as documented: every file the user can
// read, through links and glob patterns too.
func TestIncludeRootSlash(t *testing.T) {
	dir := rootTree(t)
	tmplDir := filepath.Join(dir, "tmpl")
	body := `{{include "../secret.txt"}} {{include "link-abs.txt"}} {{include "link-dir/secret.txt"}}{{attach "DIR/*.txt"}}{{attach "../*.txt"}}`
	src := "From: a@example.com\nTo: b@example.com\n\n" + strings.ReplaceAll(body, "DIR", dir) + "\n"
	tmpl, err := Parse(filepath.Join(tmplDir, "main.tmpl"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	opts := fixedOptions(nil)
	opts.ConfineToTemplateDir = true
	opts.IncludeRoot = "/"
	m, err := tmpl.Expand(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.body(); !strings.Contains(got, "TOP SECRET TOP SECRET TOP SECRET") || strings.Count(got, "VE9QIFNFQ1JFVA==") != 2 {
		t.Errorf("got %q", got)
	}
}
