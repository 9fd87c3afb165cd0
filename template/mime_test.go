package template

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// mimeOptions are fixedOptions with numbered Content-IDs.
func mimeOptions(vars map[string]string) Options {
	opts := fixedOptions(vars)
	n := 0
	opts.ContentID = func() string {
		n++
		return fmt.Sprintf("img-%d@mailscript.test", n)
	}
	return opts
}

// render expands the golden template name and writes the message.
func renderGolden(t *testing.T, name string, opts Options) []byte {
	t.Helper()
	tmpl, err := ParseFile(filepath.Join("testdata", "golden", name+".tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Expand(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGoldenMIME renders one template per MIME shape and compares it with
// its golden .eml (go test -update rewrites them). Every golden is re-read
// with go-message and its tree of parts (types, charsets, transfer
// encodings, dispositions, file names, Content-IDs) is checked.
func TestGoldenMIME(t *testing.T) {
	tests := []struct {
		name string
		tree string
	}{
		{"text_only", `
text/plain charset=utf-8 7bit`},
		{"mime_html_only", `
text/html charset=utf-8 7bit`},
		{"mime_alternative", `
multipart/alternative
  text/plain charset=utf-8 7bit
  text/html charset=utf-8 7bit`},
		{"mime_markdown", `
multipart/alternative
  text/plain charset=utf-8 7bit
  text/html charset=utf-8 7bit`},
		{"mime_related", `
multipart/related type=text/html
  text/html charset=utf-8 7bit
  image/png base64 inline logo.png cid`},
		{"mime_full", `
multipart/mixed
  multipart/alternative
    text/plain charset=utf-8 7bit
    multipart/related type=text/html
      text/html charset=utf-8 7bit
      image/png base64 inline logo.png cid
  text/plain base64 attachment build.log
  text/plain base64 attachment test.log
  text/plain charset=utf-8 base64 inline Notizen für März.txt`},
		{"mime_attach_cmd", `
multipart/mixed
  text/plain charset=utf-8 7bit
  text/plain charset=utf-8 base64 attachment output.txt
  application/octet-stream base64 attachment data.bin`},
		{"mime_encodings", `
multipart/alternative
  text/plain charset=utf-8 quoted-printable
  text/html charset=utf-8 base64`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderGolden(t, tt.name, mimeOptions(nil))
			golden := filepath.Join("testdata", "golden", tt.name+".eml")
			if *update && strings.HasPrefix(tt.name, "mime_") {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", golden, got, want)
			}
			checkWire(t, want)
			if tree := mimeTree(t, want); tree != strings.TrimPrefix(tt.tree, "\n") {
				t.Errorf("MIME tree:\n%s\nwant:\n%s", tree, strings.TrimPrefix(tt.tree, "\n"))
			}
		})
	}
}

// mimeTree reads msg with go-message and describes its tree of parts, one
// line per entity: media type, charset, transfer encoding, disposition, file
// name, and "cid" when it has a Content-ID. It also checks that text parts
// decode to valid UTF-8, that attachments decode, and that every cid: URL
// of an HTML part names a part of its multipart/related entity.
func mimeTree(t *testing.T, msg []byte) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("go-message cannot read the message: %v", err)
	}
	var b strings.Builder
	cids := map[string]bool{}
	var htmlBodies []string
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		mt, params, err := e.Header.ContentType()
		if err != nil {
			t.Errorf("Content-Type: %v", err)
		}
		b.WriteString(strings.Repeat("  ", depth) + mt)
		if mr := e.MultipartReader(); mr != nil {
			if params["type"] != "" {
				b.WriteString(" type=" + params["type"])
			}
			b.WriteString("\n")
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("NextPart: %v", err)
				}
				walk(p, depth+1)
			}
			return
		}
		if cs := params["charset"]; cs != "" {
			b.WriteString(" charset=" + cs)
		}
		b.WriteString(" " + e.Header.Get("Content-Transfer-Encoding"))
		if d := e.Header.Get("Content-Disposition"); d != "" {
			disp, dp, err := mime.ParseMediaType(d)
			if err != nil {
				t.Errorf("Content-Disposition %q: %v", d, err)
			}
			b.WriteString(" " + disp + " " + dp["filename"])
			if dp["filename"] != params["name"] {
				t.Errorf("filename %q but name %q", dp["filename"], params["name"])
			}
		}
		if id := e.Header.Get("Content-Id"); id != "" {
			b.WriteString(" cid")
			cids[strings.Trim(id, "<>")] = true
		}
		b.WriteString("\n")
		body, err := io.ReadAll(e.Body)
		if err != nil {
			t.Errorf("%s body: %v", mt, err)
		}
		if strings.HasPrefix(mt, "text/") && params["charset"] != "" && !utf8.Valid(body) {
			t.Errorf("%s body is not UTF-8", mt)
		}
		if mt == "text/html" {
			htmlBodies = append(htmlBodies, string(body))
		}
	}
	walk(e, 0)
	for _, h := range htmlBodies {
		for _, m := range regexp.MustCompile(`cid:([^"'>\s)]+)`).FindAllStringSubmatch(h, -1) {
			if !cids[m[1]] {
				t.Errorf("the HTML part refers to cid:%s, which no part has", m[1])
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// mustRender expands src (a template in dir) and writes the message.
func mustRender(t *testing.T, dir, src string, opts Options) string {
	t.Helper()
	tmpl, err := Parse(filepath.Join(dir, "t.tmpl"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Expand(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	checkWire(t, b.Bytes())
	return b.String()
}

// decodedParts returns the decoded bodies of the leaf parts of msg, by
// media type (the last one of each type).
func decodedParts(t *testing.T, msg string) map[string]string {
	t.Helper()
	parts := map[string]string{}
	e, err := message.Read(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	e.Walk(func(path []int, e *message.Entity, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if e.MultipartReader() == nil {
			mt, _, _ := e.Header.ContentType()
			body, _ := io.ReadAll(e.Body)
			parts[mt] = string(body)
		}
		return nil
	})
	return parts
}

const mimeEnv = "---\nfrom: a@example.com\nto: b@example.org\n---\n"

// Values are escaped for their HTML context in HTML parts; template text is
// not.
func TestHTMLEscaping(t *testing.T) {
	vars := map[string]string{
		"name": `<script>alert("x")</script> & co`,
		"url":  `javascript:alert(1)`,
		"q":    `a b&c`,
	}
	tests := []struct {
		name, src string
		want      []string // in the HTML part
		text      string   // in the text part, when there is one
	}{
		{
			name: "html body",
			src:  mimeEnv + "Content-Type: text/html\n\n<p>{{.name}}</p><a href=\"{{.url}}\">x</a><a href=\"https://e.com/?q={{.q}}\">y</a>\n",
			want: []string{
				"<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co</p>",
				`href="#ZgotmplZ"`,
				`href="https://e.com/?q=a%20b%26c"`,
			},
		},
		{
			name: "html define",
			src:  mimeEnv + "\nHi {{.name}}\n{{define \"html\"}}<b>{{.name}}</b>{{end}}",
			want: []string{"<b>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co</b>"},
			text: "Hi <script>alert(\"x\")</script> & co\r\n",
		},
		{
			name: "chunk and sh outputs too",
			src:  mimeEnv + "Content-Type: text/html\n\n{{chunk \"v\" \"<i>\"}}{{chunk \"v\"}}|{{sh \"echo '<u>'\"}}\n",
			want: []string{"&lt;i&gt;|&lt;u&gt;"},
		},
		{
			name: "markdown",
			src:  mimeEnv + "Content-Type: text/markdown\n\n# {{.name}}\n\n<b>literal</b> [link]({{.url}})\n",
			want: []string{
				"<h1>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</h1>",
				"&lt;b&gt;literal&lt;/b&gt;",
				`<a href="">link</a>`,
			},
			text: "# <script>alert(\"x\")</script> & co\r\n\r\n<b>literal</b> [link](javascript:alert(1))\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustRender(t, t.TempDir(), tt.src, mimeOptions(vars))
			parts := decodedParts(t, out)
			for _, w := range tt.want {
				if !strings.Contains(parts["text/html"], w) {
					t.Errorf("HTML part lacks %q:\n%s", w, parts["text/html"])
				}
			}
			if strings.Contains(parts["text/html"], "<script") {
				t.Errorf("a <script> reached the HTML part:\n%s", parts["text/html"])
			}
			if tt.text != "" && parts["text/plain"] != tt.text {
				t.Errorf("text part %q, want %q", parts["text/plain"], tt.text)
			}
		})
	}
}

func TestMIMEErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.png"), []byte("png"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.png"), []byte("png"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub.log"), 0o755)
	tests := []struct {
		name, src, want string
		noShell         bool
	}{
		{"bad body type", mimeEnv + "Content-Type: image/png\n\nx\n", "t.tmpl:5:15: Content-Type: \"image/png\": the body may be text/plain, text/html or text/markdown", false},
		{"glob matches nothing", mimeEnv + "\n{{attach \"*.pdf\"}}\n", `t.tmpl:6:3: attach: "*.pdf" matches no file (add "optional" to allow that)`, false},
		{"glob skips directories", mimeEnv + "\n{{attach \"*.log\"}}\n", `t.tmpl:6:3: attach: "*.log" matches no file`, false},
		{"name with several files", mimeEnv + "\n{{attach \"*.png\" \"name=x.png\"}}\n", `t.tmpl:6:3: attach: name=x.png: "*.png" matches 2 files; name= needs exactly one`, false},
		{"bad glob", mimeEnv + "\n{{attach \"[.png\"}}\n", `t.tmpl:6:3: attach: invalid pattern "[.png": syntax error in pattern`, false},
		{"bad disposition", mimeEnv + "\n{{attach \"a.png\" \"disposition=hidden\"}}\n", `t.tmpl:6:3: attach: disposition=hidden: expected inline or attachment`, false},
		{"unknown option", mimeEnv + "\n{{inline \"a.png\" \"optional\"}}\n", `t.tmpl:6:3: inline: unknown option "optional" (known: type=MEDIA/TYPE, name=FILENAME)`, false},
		{"optional takes no value", mimeEnv + "\n{{attach \"a.png\" \"optional=yes\"}}\n", `t.tmpl:6:3: attach: unknown option "optional=yes"`, false},
		{"inline without html", mimeEnv + "\n{{inline \"a.png\"}}\n", `t.tmpl:6:3: inline: the message has no HTML part to show inline images`, false},
		{"inline missing file", mimeEnv + "Content-Type: text/html\n\n<img src=\"{{inline \"nope.png\"}}\">\n", `t.tmpl:7:13: inline: nope.png: no such file or directory`, false},
		{"html define with html body", mimeEnv + "Content-Type: text/html\n\nx{{define \"html\"}}y{{end}}\n", `t.tmpl:7:4: define: an HTML part is defined, but the body is already HTML`, false},
		{"html define with markdown", mimeEnv + "Content-Type: text/markdown\n\nx\n{{define \"html\"}}y{{end}}\n", `t.tmpl:8:3: define: an HTML part is defined, but the body is Markdown`, false},
		{"html context error", mimeEnv + "\nx\n{{define \"html\"}}<a href=\"{{if .x}}\">{{end}}</a>{{end}}\n", `t.tmpl:7:`, false},
		{"html exec error", mimeEnv + "\nx\n{{define \"html\"}}<p>\n{{.nope}}</p>{{end}}\n", `t.tmpl:8:3: undefined value "nope"`, false},
		{"attach_cmd fails", mimeEnv + "\n{{attach_cmd \"echo oops >&2; exit 3\"}}\n", `t.tmpl:6:3: attach_cmd: "echo oops >&2; exit 3" failed with exit status 3: oops`, false},
		{"attach_cmd refused by NoShell", mimeEnv + "\n{{if false}}{{attach_cmd \"true\"}}{{end}}\n", `t.tmpl:6:15: attach_cmd: shell commands are disabled (--no-shell)`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse(filepath.Join(dir, "t.tmpl"), []byte(tt.src))
			if err == nil {
				_, err = tmpl.Expand(Options{NoShell: tt.noShell})
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			got := strings.TrimPrefix(err.Error(), dir+string(filepath.Separator))
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error\n %s\nwant prefix\n %s", got, tt.want)
			}
		})
	}
}

// TestAttachOptions checks globs, optional files, dispositions, names and
// types.
func TestAttachOptions(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.log", "a.log", "weird[1].txt", "x.bin"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("data of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := mimeEnv + "\nbody\n" +
		`{{attach "*.log"}}` + // two files, in lexical order
		`{{attach "weird[1].txt"}}` + // a literal name with glob characters
		`{{attach "none*" "optional"}}{{attach "missing.pdf" "optional"}}` +
		`{{attach "x.bin" "name=Résumé.pdf" "disposition=inline"}}` +
		`{{attach "x.bin" "type=image/png" "name=y"}}`
	out := mustRender(t, dir, src, mimeOptions(nil))
	tree := mimeTree(t, []byte(out))
	want := `multipart/mixed
  text/plain charset=utf-8 7bit
  text/plain base64 attachment a.log
  text/plain base64 attachment b.log
  text/plain charset=utf-8 base64 attachment weird[1].txt
  application/pdf base64 inline Résumé.pdf
  image/png base64 attachment y`
	// .log may be known to the system's MIME types, .bin too.
	tree = regexp.MustCompile(`(?m)^  .* (base64 attachment [ab]\.log)$`).ReplaceAllString(tree, "  text/plain $1")
	if tree != want {
		t.Errorf("tree:\n%s\nwant:\n%s", tree, want)
	}
}

// TestAttachCmd checks that a command's output is attached as it is, that
// values reach it only through the environment, and that its temporary
// file goes away with Close (or with a failed Expand).
func TestAttachCmd(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	src := mimeEnv + "\n{{attach_cmd \"printf '%s\\\\r\\\\n\\\\000' \\\"$v\\\"\" \"name=log.txt\"}}\n"
	tmpl, err := Parse(filepath.Join(dir, "t.tmpl"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Expand(Options{Vars: map[string]string{"v": "$(touch pwned); echo hi"}})
	if err != nil {
		t.Fatal(err)
	}
	temps, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(temps) != 1 {
		t.Fatalf("temporary files %q, want one", temps)
	}
	for range 2 {
		var b bytes.Buffer
		if _, err := m.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if got := decodedParts(t, b.String())["text/plain"]; got != "$(touch pwned); echo hi\r\n\x00" {
			t.Errorf("attachment %q", got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("a value ran as a command")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if temps, _ := filepath.Glob(filepath.Join(tmp, "*")); len(temps) != 0 {
		t.Errorf("Close left %q", temps)
	}
	if _, err := m.WriteTo(io.Discard); err != ErrClosed {
		t.Errorf("WriteTo after Close: %v, want ErrClosed", err)
	}

	// A failed expansion removes what it made.
	tmpl, err = Parse(filepath.Join(dir, "t.tmpl"), []byte(mimeEnv+"\n{{attach_cmd \"echo x\"}}{{chunk \"nope\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Expand(Options{}); err == nil {
		t.Fatal("no error")
	}
	if temps, _ := filepath.Glob(filepath.Join(tmp, "*")); len(temps) != 0 {
		t.Errorf("a failed Expand left %q", temps)
	}
}

// TestEncodingChoice checks the transfer encoding chosen for text parts.
func TestEncodingChoice(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{"", "7bit"},
		{"plain ASCII\r\n", "7bit"},
		{strings.Repeat("x", 998) + "\r\n", "7bit"},
		{strings.Repeat("x", 999) + "\r\n", "quoted-printable"},
		{"tab\tis fine\r\n", "7bit"},
		{"a bell \a is not\r\n", "quoted-printable"},
		{"Grüße aus Köln, und bis bald in Bonn\r\n", "quoted-printable"},
		{"Ελληνικά\r\n", "base64"},
		{"日本語\r\n", "base64"},
	}
	for _, tt := range tests {
		if got := chooseEncoding([]byte(tt.body)); got != tt.want {
			t.Errorf("chooseEncoding(%q) = %s, want %s", tt.body, got, tt.want)
		}
	}
}

// TestLargeAttachmentMemory renders a 1 GiB attachment (a sparse file) and
// checks that memory stays flat: the file is streamed, never read whole.
// Under -race (ten times slower) the file is 128 MiB, still twice the
// limit.
func TestLargeAttachmentMemory(t *testing.T) {
	size := int64(1 << 30)
	if raceEnabled {
		size = 128 << 20
	}
	if testing.Short() {
		t.Skip("writes 1.4 GB of base64 (a few seconds)")
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(big, size); err != nil {
		t.Skipf("cannot make a sparse file: %v", err)
	}
	tmpl, err := Parse(filepath.Join(dir, "t.tmpl"), []byte(mimeEnv+"\nbig file attached\n{{attach \"big.bin\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Expand(mimeOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	// Sample the heap while writing.
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max {
				max = ms.HeapInuse
			}
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	cw := &countWriter{w: io.Discard}
	_, err = m.WriteTo(cw)
	close(done)
	maxHeap := <-peak
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if want := size * 4 / 3; cw.n < want {
		t.Errorf("wrote %d bytes, want more than %d", cw.n, want)
	}
	const limit = 64 << 20
	if maxHeap > limit {
		t.Errorf("heap in use peaked at %d MiB, want under %d MiB", maxHeap>>20, limit>>20)
	}
	t.Logf("wrote %d MiB; heap peak %d MiB; allocated %d KiB", cw.n>>20, maxHeap>>20, (after.TotalAlloc-before.TotalAlloc)>>10)
}

// BenchmarkRenderMarkdown expands and writes a CI alert written in
// Markdown: a text part and an HTML part rendered by goldmark.
func BenchmarkRenderMarkdown(b *testing.B) {
	src := "---\nfrom: '{{.from_name}} <{{.from}}>'\nto: '{{.to}}'\nsubject: 'Build {{.build}} failed'\n---\nContent-Type: text/markdown\n\n" +
		"# Build {{.build}} failed\n\nThe pipeline for **{{.branch}}** failed.\n\n| job | status | time |\n|---|---|---|\n" +
		strings.Repeat("| compile-linux-amd64 | ok | 1m20s |\n", 20) + "| lint | **failed** | 12s |\n\n" +
		"```\n" + strings.Repeat("main.go:12:3: undefined: foo\n", 10) + "```\n\nSee <https://ci.example.com/builds/{{.build}}>.\n"
	tmpl, err := Parse("bench.tmpl", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]string{"from": "ci@example.com", "from_name": "CI", "to": "dev@example.org", "build": "1234", "branch": "main"}
	opts := mimeOptions(vars)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		m, err := tmpl.Expand(opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// The decoded parts of a golden survive a round trip through go-message's
// mail reader too (the reader a client library would use).
func TestGoldenMIMEMailReader(t *testing.T) {
	msg := renderGolden(t, "mime_full", mimeOptions(nil))
	r, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h := p.Header.(type) {
		case *mail.AttachmentHeader:
			n, _ := h.Filename()
			names = append(names, n)
		case *mail.InlineHeader:
			ct, _, _ := h.ContentType()
			names = append(names, "inline "+ct)
		}
	}
	want := "inline text/plain|inline text/html|inline image/png|build.log|test.log|inline text/plain"
	if got := strings.Join(names, "|"); got != want {
		t.Errorf("parts %q, want %q", got, want)
	}
}
