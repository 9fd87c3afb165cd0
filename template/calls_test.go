package template

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// doubling returns n defines t0..t(n-1), each calling the next twice, and
// a last one holding leaf: executing t0 makes 2^(n+1)-2 calls.
func doubling(n int, leaf string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{{define \"t%d\"}}{{template \"t%d\"}}{{template \"t%d\"}}{{end}}", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "{{define \"t%d\"}}%s{{end}}", n, leaf)
	return b.String()
}

// Recursive {{template}} calls and calls that multiply are refused when
// the template is parsed, at the call, instead of running for seconds
// (text/template stops recursion only 100000 calls deep) or for ever.
func TestTemplateCallGraph(t *testing.T) {
	const front = "---\nfrom: a@example.com\nto: b@example.com\n---\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"self", front + "\n{{define \"a\"}}x{{template \"a\"}}{{end}}{{template \"a\"}}\n",
			`testdata/t.tmpl:6:18: template: "a" calls itself: recursive templates are not supported`},
		{"cycle", front + "\n{{define \"a\"}}{{template \"b\"}}{{end}}\n{{define \"b\"}}{{if .x}}{{template \"a\"}}{{end}}{{end}}\n",
			`testdata/t.tmpl:7:26: template: "a" calls itself ("a" -> "b" -> "a"): recursive templates are not supported`},
		{"cycle in a define never called", front + "\nbody\n{{define \"z\"}}{{range .l}}{{template \"z\" .}}{{end}}{{end}}\n",
			`testdata/t.tmpl:7:29: template: "z" calls itself: recursive templates are not supported`},
		{"block", front + "\n{{block \"a\" .}}{{template \"a\"}}{{end}}\n",
			`testdata/t.tmpl:6:18: template: "a" calls itself: recursive templates are not supported`},
		{"in a header field", front + "Subject: {{define \"s\"}}{{template \"s\"}}{{end}}\n\nbody\n",
			`testdata/t.tmpl:5:26: template: "s" calls itself: recursive templates are not supported`},
		{"doubling", front + "\n" + doubling(20, "") + "{{template \"t0\"}}\n",
			"testdata/t.tmpl:6:...: template: more than 10000 template calls, counting the calls of the templates called (nested {{template}} calls multiply)"},
		{"doubling in the subject", front + "Subject: {{template \"t0\"}}\n\n" + doubling(30, "xxxxx xxxxx") + "\n",
			"testdata/t.tmpl:7:...: template: more than 10000 template calls, counting the calls of the templates called (nested {{template}} calls multiply)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("testdata/t.tmpl", []byte(tc.src))
			if strings.Contains(tc.want, ":...:") {
				prefix, suffix, _ := strings.Cut(tc.want, "...")
				matchError(t, err, prefix+"...")
				if !strings.HasSuffix(err.Error(), suffix) {
					t.Errorf("got %q, want suffix %q", err, suffix)
				}
				return
			}
			matchError(t, err, tc.want)
		})
	}

	// Many calls that do not multiply are fine, and so are templates
	// that call one another without a cycle.
	var b strings.Builder
	b.WriteString(front + "\n{{define \"row\"}}r\n{{end}}{{define \"two\"}}{{template \"row\"}}{{template \"row\"}}{{end}}")
	for range 2000 {
		b.WriteString("{{template \"two\"}}")
	}
	m, err := expandString(b.String()+"\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out := render(t, m); strings.Count(out, "\r\nr\r\n") != 2000 {
		t.Errorf("output:\n%s", out)
	}
}

// The refusal also holds for files inserted with render.
func TestTemplateCallGraphRender(t *testing.T) {
	dir := writeFiles(t, map[string]string{"part.tmpl": "{{define \"a\"}}{{template \"a\"}}{{end}}{{template \"a\"}}"})
	tm, err := Parse(dir+"/main.tmpl", []byte("---\nfrom: a@example.com\nto: b@example.com\n---\n\n{{render \"part.tmpl\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tm.Expand(Options{})
	matchError(t, err, dir+`/part.tmpl:1:17: template: "a" calls itself: recursive templates are not supported`)
}

// One parsed template expands concurrently with different values: each
// expansion sees its own values (the bound template sets are pooled).
func TestExpandConcurrent(t *testing.T) {
	src := "---\nfrom: '{{.name}} <a@example.com>'\nto: '{{.to}}'\nsubject: 'Hi {{.name}}'\n---\n{{chunk \"n\" .name}}" +
		"Hello {{chunk \"n\"}} {{get \"to\"}} {{date \"%Y\"}}\n{{define \"html\"}}<p>{{.name}}</p>{{end}}"
	tm, err := Parse("testdata/t.tmpl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := fmt.Sprintf("n%dx%d", g, i)
				to := fmt.Sprintf("r%d@example.org", i)
				m, err := tm.Expand(Options{Vars: map[string]string{"name": name, "to": to}})
				if err != nil {
					t.Error(err)
					return
				}
				var b strings.Builder
				if _, err := m.WriteTo(&b); err != nil {
					t.Error(err)
					return
				}
				out := b.String()
				for _, want := range []string{"From: \"" + name + "\" <a@example.com>\r\n", "To: <" + to + ">\r\n", "Subject: Hi " + name + "\r\n", "Hello " + name + " " + to + " ", "<p>" + name + "</p>"} {
					if !strings.Contains(out, want) {
						t.Errorf("missing %q in\n%s", want, out)
						return
					}
				}
				if strings.Count(out, "Message-ID: <") != 1 {
					t.Errorf("Message-ID:\n%s", out)
				}
			}
		}()
	}
	wg.Wait()
}
