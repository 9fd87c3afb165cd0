package template

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

var update = flag.Bool("update", false, "rewrite the golden .eml files under testdata/golden")

// fixedOptions makes an expansion deterministic: a fixed clock, numbered
// boundaries and a fixed Message-ID.
func fixedOptions(vars map[string]string) Options {
	n := 0
	return Options{
		Vars: vars,
		Now: func() time.Time {
			return time.Date(2024, time.October, 1, 9, 30, 0, 0, time.FixedZone("CEST", 2*3600))
		},
		Boundary: func() string {
			n++
			return fmt.Sprintf("mailscript-test-boundary-%d", n)
		},
		MessageID: func() string { return "<golden-1@mailscript.test>" },
	}
}

type wantPart struct {
	contentType string // media type
	charset     string // for text parts
	filename    string // for attachments
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name       string
		vars       map[string]string
		from       string
		recipients []string
		settings   Settings
		parts      []wantPart
		subject    string // decoded Subject, when set
		toName     string // decoded display name of the first To address, when set
	}{
		{
			name:       "text_only",
			from:       "alice@example.com",
			recipients: []string{"bob@example.org"},
			parts:      []wantPart{{"text/plain", "utf-8", ""}},
		},
		{
			name:       "chunks_date_sh",
			from:       "joe@example.com",
			recipients: []string{"ann@example.org"},
			settings:   Settings{Server: "smtp://mail.example.com:587", Auth: "CRAM-MD5", User: "joe", PasswordEnv: "MAILSCRIPT_PASSWORD", TLS: "starttls"},
			parts:      []wantPart{{"text/plain", "utf-8", ""}},
		},
		{
			name:       "chunks_date_sh_var_override",
			vars:       map[string]string{"to_name": "Bea <Override>", "greeting": "Dear"},
			from:       "joe@example.com",
			recipients: []string{"ann@example.org"},
			settings:   Settings{Server: "smtp://mail.example.com:587", Auth: "CRAM-MD5", User: "joe", PasswordEnv: "MAILSCRIPT_PASSWORD", TLS: "starttls"},
			parts:      []wantPart{{"text/plain", "utf-8", ""}},
		},
		{
			name:       "attachment",
			from:       "joe@example.com",
			recipients: []string{"joe@example.com", "ann@example.org"},
			parts: []wantPart{
				{"text/plain", "utf-8", ""},
				{"image/jpeg", "", "picture.jpg"},
				{"text/plain", "", "Notizen für März.txt"},
			},
		},
		{
			name:       "nonascii",
			from:       "joerg@example.de",
			recipients: []string{"jose@example.es"},
			parts:      []wantPart{{"text/plain", "utf-8", ""}},
			subject:    "Grüße aus Köln — 日本語の件名もテストします、長い件名が正しく折り返されることを確認する",
			toName:     "José Ñúñez",
		},
		{
			name:       "header_envelope",
			from:       "dave@example.com",
			recipients: []string{"carol@example.com", "erin@example.com", "secret@example.com"},
			parts:      []wantPart{{"text/plain", "utf-8", ""}},
		},
		{
			name:       "seed",
			from:       "joe@example.com",
			recipients: []string{"joe@example.com"},
			settings:   Settings{Auth: "CRAM-MD5"},
			parts:      []wantPart{{"text/plain", "utf-8", ""}, {"image/jpeg", "", "picture.jpg"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := strings.TrimSuffix(tt.name, "_var_override")
			tmpl, err := ParseFile(filepath.Join("testdata", "golden", file+".tmpl"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := tmpl.Expand(fixedOptions(tt.vars))
			if err != nil {
				t.Fatal(err)
			}
			if m.From != tt.from {
				t.Errorf("From = %q, want %q", m.From, tt.from)
			}
			if fmt.Sprint(m.Recipients) != fmt.Sprint(tt.recipients) {
				t.Errorf("Recipients = %q, want %q", m.Recipients, tt.recipients)
			}
			if m.Settings != tt.settings {
				t.Errorf("Settings = %+v, want %+v", m.Settings, tt.settings)
			}
			var buf bytes.Buffer
			n, err := m.WriteTo(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) {
				t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
			}
			got := buf.Bytes()
			var again bytes.Buffer
			if _, err := m.WriteTo(&again); err != nil || !bytes.Equal(again.Bytes(), got) {
				t.Errorf("a second WriteTo wrote different bytes (err %v)", err)
			}

			golden := filepath.Join("testdata", "golden", tt.name+".eml")
			if *update {
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
			checkParts(t, want, tt.parts)
			r, err := mail.CreateReader(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			if subject, err := r.Header.Subject(); tt.subject != "" && (err != nil || subject != tt.subject) {
				t.Errorf("decoded Subject = %q (%v), want %q", subject, err, tt.subject)
			}
			if to, err := r.Header.AddressList("To"); tt.toName != "" && (err != nil || len(to) == 0 || to[0].Name != tt.toName) {
				t.Errorf("decoded To = %v (%v), want name %q", to, err, tt.toName)
			}
		})
	}
}

// checkWire checks what must hold for any output: CRLF line endings only,
// no bare CR or LF, no line over 998 octets, and a header/body separator.
func checkWire(t *testing.T, msg []byte) {
	t.Helper()
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Errorf("message does not end with CRLF")
	}
	for i, c := range msg {
		switch c {
		case '\r':
			if i+1 >= len(msg) || msg[i+1] != '\n' {
				t.Fatalf("bare CR at offset %d", i)
			}
		case '\n':
			if i == 0 || msg[i-1] != '\r' {
				t.Fatalf("bare LF at offset %d", i)
			}
		}
	}
	for i, l := range bytes.Split(msg, []byte("\r\n")) {
		if len(l) > 998 {
			t.Fatalf("line %d is %d octets long", i+1, len(l))
		}
	}
	if !bytes.Contains(msg, []byte("\r\n\r\n")) {
		t.Errorf("no empty line between header and body")
	}
}

// checkParts re-parses msg with go-message and compares its parts.
func checkParts(t *testing.T, msg []byte, want []wantPart) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("go-message cannot read the output: %v", err)
	}
	if r.Header.Has("Bcc") {
		t.Errorf("Bcc is in the header")
	}
	for _, k := range []string{"Date", "Message-ID", "MIME-Version", "From"} {
		if !r.Header.Has(k) {
			t.Errorf("header %s missing", k)
		}
	}
	var got []wantPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		if _, err := io.Copy(io.Discard, p.Body); err != nil {
			t.Fatalf("reading part body: %v", err)
		}
		var wp wantPart
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			ct, params, _ := h.ContentType()
			wp = wantPart{ct, params["charset"], ""}
		case *mail.AttachmentHeader:
			ct, _, _ := h.ContentType()
			name, err := h.Filename()
			if err != nil {
				t.Errorf("attachment filename: %v", err)
			}
			wp = wantPart{ct, "", name}
		}
		got = append(got, wp)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parts = %+v, want %+v", got, want)
	}
}

func TestErrors(t *testing.T) {
	const env = "---\nfrom: a@example.com\nto: b@example.com\n---\n"
	tests := []struct {
		name  string
		src   string
		vars  map[string]string
		opts  func(*Options)
		want  string // the whole Error() text, or its start when it ends with "..."
		is    error  // when set, errors.Is must hold
		parse bool   // the error comes from Parse, not Expand
	}{
		{
			name: "undefined chunk in body",
			src:  env + "\nHello {{chunk \"name\"}}!\n",
			want: `testdata/t.tmpl:6:9: chunk: undefined chunk "name" (define it with {{chunk "name" "value"}}, under vars: in the front matter, or with --var name=VALUE)`,
		},
		{
			name: "undefined value with dot syntax",
			src:  env + "\nline\nHi {{.who}}\n",
			want: `testdata/t.tmpl:7:6: undefined value "who" ...`,
		},
		{
			name: "undefined chunk in a front matter value",
			src:  "---\nfrom: a@example.com\nto: b@example.com\nsubject: 'About {{chunk \"topic\"}}'\n---\n\nx\n",
			want: `testdata/t.tmpl:4:19: chunk: undefined chunk "topic" ...`,
		},
		{
			name: "undefined chunk in a header field",
			src:  "From: a@example.com\nTo: {{chunk \"to\"}}\n\nx\n",
			want: `testdata/t.tmpl:2:7: chunk: undefined chunk "to" ...`,
		},
		{
			name: "failing sh shows stderr and status",
			src:  env + "\nfirst\n  {{sh \"echo something broke >&2; exit 3\"}}\n",
			want: `testdata/t.tmpl:7:5: sh: "echo something broke >&2; exit 3" failed with exit status 3: something broke`,
		},
		{
			name: "sh timeout",
			src:  env + "\n{{sh \"sleep 5\"}}\n",
			opts: func(o *Options) { o.ShellTimeout = 100 * time.Millisecond },
			want: `testdata/t.tmpl:6:3: sh: "sleep 5" timed out after 100ms (no stderr)`,
		},
		{
			name: "no shell",
			src:  env + "Subject: ok\n\nline\n{{if false}}{{sh \"true\"}}{{end}}\n",
			opts: func(o *Options) { o.NoShell = true },
			want: `testdata/t.tmpl:8:15: sh: shell commands are disabled (--no-shell)`,
		},
		{
			name: "no shell, hidden in a define",
			src:  env + "\n{{define \"x\"}}{{sh \"touch pwned\"}}{{end}}{{template \"x\"}}\n",
			opts: func(o *Options) { o.NoShell = true },
			want: `testdata/t.tmpl:6:17: sh: shell commands are disabled (--no-shell)`,
		},
		{
			name:  "unknown front matter key",
			src:   "---\nfrom: a@example.com\nto: b@example.com\nsubjet: typo\n---\n\nx\n",
			want:  `testdata/t.tmpl:4:1: front matter: unknown key "subjet" (known keys: ...`,
			parse: true,
		},
		{
			name:  "unquoted directive in front matter",
			src:   "---\nfrom: a@example.com\nsubject: {{chunk \"s\"}}\n---\n\nx\n",
			want:  `testdata/t.tmpl:3:10: front matter: subject: a value starting with {{ must be quoted, e.g. subject: '{{chunk "name"}}'`,
			parse: true,
		},
		{
			name:  "unknown function",
			src:   env + "\nok\n{{chnk \"x\"}}\n",
			want:  `testdata/t.tmpl:7:3: function "chnk" not defined`,
			parse: true,
		},
		{
			name:  "not a header line",
			src:   env + "Subject: x\nHello Bob,\n\nbody\n",
			want:  `testdata/t.tmpl:6:1: header: expected a header field "Name: value", ...`,
			parse: true,
		},
		{
			name: "bad address names the field",
			src:  "---\nfrom: a@example.com\nto: [b@example.com, 'bob@']\n---\n\nx\n",
			want: `testdata/t.tmpl:3:22: to: invalid address "bob@": ...`,
		},
		{
			name: "bad address in a header field",
			src:  "From: a@example.com\nTo: b@example.com\nCc: \"john smith\"@example.com\n\nx\n",
			want: `testdata/t.tmpl:3:5: Cc: invalid address "john smith@example.com": the local part must be a plain dot-atom (quoted local parts are not supported)`,
		},
		{
			name: "group address",
			src:  "From: a@example.com\nTo: undisclosed-recipients:;\nBcc: b@example.com\n\nx\n",
			want: `testdata/t.tmpl:2:5: To: no address in "undisclosed-recipients:;" ...`,
		},
		{
			name: "header injection through a var",
			src:  env + "Subject: {{.s}}\n\nx\n",
			vars: map[string]string{"s": "hello\r\nBcc: victim@example.net"},
			want: `testdata/t.tmpl:5:10: Subject: value contains a line break (CR or LF): "hello\r\nBcc: victim@example.net"`,
		},
		{
			name: "header injection through a front matter value",
			src:  "---\nfrom: a@example.com\nto: '{{.to}}'\n---\n\nx\n",
			vars: map[string]string{"to": "b@example.com\nBcc: victim@example.net"},
			want: `testdata/t.tmpl:3:6: to: value contains a line break (CR or LF): ...`,
		},
		{
			name: "missing attachment",
			src:  env + "\nsee attached\n{{attach \"missing.pdf\"}}\n",
			want: `testdata/t.tmpl:7:3: attach: missing.pdf: no such file or directory`,
			is:   fs.ErrNotExist,
		},
		{
			name: "no recipient",
			src:  "From: a@example.com\n\nx\n",
			want: `testdata/t.tmpl:1:1: no recipient: ...`,
		},
		{
			name: "field given twice",
			src:  env + "To: c@example.com\n\nx\n",
			want: `testdata/t.tmpl:5:1: To: To is already set at line 3; give it once, in the front matter or in the header`,
		},
		{
			name: "directive line with output",
			src:  env + "{{\"oops\"}}\nSubject: x\n\nx\n",
			want: `testdata/t.tmpl:5:1: header: a {{directive}} line in the header must not produce output (got "oops")`,
		},
		{
			name: "bad tls setting",
			src:  "---\nfrom: a@example.com\nto: b@example.com\ntls: maybe\n---\n\nx\n",
			want: `testdata/t.tmpl:4:6: tls: expected starttls, implicit or none, got "maybe"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse("testdata/t.tmpl", []byte(tt.src))
			if err == nil {
				if tt.parse {
					t.Fatalf("Parse succeeded, want error %q", tt.want)
				}
				opts := Options{Vars: tt.vars, MessageID: func() string { return "x@y" }}
				if tt.opts != nil {
					tt.opts(&opts)
				}
				_, err = tmpl.Expand(opts)
			} else if !tt.parse {
				t.Fatalf("Parse: %v", err)
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v is a %T, not an *Error", err, err)
			}
			if te.Line == 0 || te.Col == 0 || te.File != "testdata/t.tmpl" {
				t.Errorf("error has no position: %#v", te)
			}
			got := err.Error()
			if prefix, ok := strings.CutSuffix(tt.want, "..."); ok {
				if !strings.HasPrefix(got, prefix) {
					t.Errorf("error\n got %s\nwant %s", got, tt.want)
				}
			} else if got != tt.want {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

// TestConcurrentExpand expands one Template from several goroutines (run
// with -race).
func TestConcurrentExpand(t *testing.T) {
	tmpl, err := ParseFile(filepath.Join("testdata", "golden", "chunks_date_sh.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			m, err := tmpl.Expand(fixedOptions(map[string]string{"to_name": fmt.Sprint("n", i)}))
			if err == nil && !strings.Contains(string(m.text), fmt.Sprint("Hi n", i, ",")) {
				err = fmt.Errorf("expansion %d got %q", i, m.text)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "nope.tmpl"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("err is a %T, want *Error", err)
	}
}

// TestShellInjection checks that values reach commands only through the
// environment: a hostile value is printed, never run.
func TestShellInjection(t *testing.T) {
	for _, v := range []string{"$(touch pwned)", "; touch pwned", "`touch pwned`", "x' ; touch pwned; '", "\"; touch pwned; \""} {
		t.Run(v, func(t *testing.T) {
			dir := t.TempDir()
			src := "---\nfrom: a@example.com\nto: b@example.com\n---\n\n[{{sh \"echo $x\"}}] [{{sh \"echo \\\"$MAILSCRIPT_VAR_x\\\"\"}}]\n"
			path := filepath.Join(dir, "t.tmpl")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			tmpl, err := ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := tmpl.Expand(Options{Vars: map[string]string{"x": v}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
				t.Fatalf("value %q ran a command", v)
			}
			want := "[" + v + "]"
			if !strings.Contains(string(m.text), want) && !strings.Contains(string(m.text), "["+strings.Join(strings.Fields(v), " ")+"]") {
				t.Errorf("body %q does not show the value %q literally", m.text, v)
			}
		})
	}
}

// TestShellEnvironment checks which names a command sees.
func TestShellEnvironment(t *testing.T) {
	t.Setenv("MAILSCRIPT_TEST_EXISTING", "from-env")
	src := "From: a@example.com\nTo: b@example.com\n\n{{sh \"echo $greeting/$MAILSCRIPT_TEST_EXISTING/$MAILSCRIPT_VAR_MAILSCRIPT_TEST_EXISTING\"}}|{{sh \"pwd\"}}\n"
	dir := t.TempDir()
	tmpl, err := Parse(filepath.Join(dir, "t.tmpl"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Expand(Options{Vars: map[string]string{"greeting": "hi", "MAILSCRIPT_TEST_EXISTING": "from-var"}})
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	want := "hi/from-env/from-var|"
	got := strings.TrimSpace(string(m.text))
	if !strings.HasPrefix(got, want) || (!strings.HasSuffix(got, dir) && !strings.HasSuffix(got, real)) {
		t.Errorf("got %q, want %q followed by %s", got, want, dir)
	}
}

func TestBodyEncoding(t *testing.T) {
	tests := []struct {
		name, body, cte string
	}{
		{"ascii", "hello\nworld\n", "7bit"},
		{"crlf and lone cr", "a\r\nb\rc\n", "7bit"},
		{"non-ascii", "grüße aus Köln, und bis bald\n", "quoted-printable"},
		{"mostly non-ascii", "日本語の本文です\n", "base64"},
		{"long line", strings.Repeat("x", 999) + "\n", "quoted-printable"},
		{"998 is fine", strings.Repeat("x", 998) + "\n", "7bit"},
		{"control char", "a\x00b in mostly ASCII text\n", "quoted-printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse("t.tmpl", []byte("From: a@example.com\nTo: b@example.com\n\n{{.body}}"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := tmpl.Expand(Options{Vars: map[string]string{"body": tt.body}, MessageID: func() string { return "x@y" }})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := m.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			checkWire(t, buf.Bytes())
			if !strings.Contains(buf.String(), "Content-Transfer-Encoding: "+tt.cte+"\r\n") {
				t.Errorf("want %s:\n%s", tt.cte, buf.String())
			}
			mr, err := mail.CreateReader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(p.Body)
			want := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(tt.body)
			if string(body) != want {
				t.Errorf("decoded body %q, want %q", body, want)
			}
		})
	}
}

// TestAttachmentStreams checks that a large attachment is base64-encoded
// with lines of 76 characters and decodes back to the same bytes.
func TestAttachmentStreams(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 100_000)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := Parse(filepath.Join(dir, "t.tmpl"), []byte("From: a@example.com\nTo: b@example.com\n\nsee {{attach \"big.bin\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Expand(fixedOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	checkWire(t, buf.Bytes())
	mr, err := mail.CreateReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	mr.NextPart()
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	ct, _, _ := p.Header.(*mail.AttachmentHeader).ContentType()
	if ct != "application/octet-stream" && ct != mime.TypeByExtension(".bin") {
		t.Errorf("content type %q", ct)
	}
	got, _ := io.ReadAll(p.Body)
	if !bytes.Equal(got, data) {
		t.Errorf("attachment does not round-trip (%d bytes, want %d)", len(got), len(data))
	}
}

// FuzzParseExpand feeds templates and hostile values to Parse and Expand:
// never a panic; either an *Error or output with CRLF line endings only and
// no header line added by a value.
func FuzzParseExpand(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.tmpl"))
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "x\r\nBcc: evil@example.net")
	}
	f.Add([]byte("From: a@example.com\nTo: {{.v}}\nSubject: {{.v}}\n\n{{.v}}\r\rx\n"), "b@example.com")
	// include and render may only read files under root
	// (Options.IncludeRoot); the template is root/golden/fuzz.tmpl, so that
	// the golden templates' attachments (../picture.jpg) are found.
	root := f.TempDir()
	for _, name := range []string{"picture.jpg", "notes.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		"sig.txt":   "-- \nJoe\n",
		"part.tmpl": "Hi {{.v}} {{date \"%F\" \"+1d\"}}\n",
		"loop.tmpl": "{{render \"loop.tmpl\"}}",
		"bad.tmpl":  "{{chunk \"undefined\"}}",
		"sh.tmpl":   "{{sh \"touch pwned\"}}",
	} {
		if err := os.MkdirAll(filepath.Join(root, "golden"), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "golden", name), []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, v string) {
		if len(src) > 1<<14 || bytes.Contains(src, []byte("range")) {
			t.Skip() // keep every input fast: {{range 1e9}} is a legitimate slow template
		}
		tmpl, err := Parse(filepath.Join(root, "golden", "fuzz.tmpl"), src)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Parse error %v is a %T", err, err)
			}
			return
		}
		vars := map[string]string{"v": v, "to": v, "to_name": v, "from": v, "from_name": v, "subject": v}
		opts := fixedOptions(vars)
		opts.NoShell = true // never run what the fuzzer writes
		opts.IncludeRoot = root
		opts.Values = map[string]any{"list": []any{v, map[string]any{"k": v}}, "m": map[string]any{"k": v}}
		// The fast programs (see fastProg) print what text/template prints.
		fast, slow := expandBoth(t, tmpl, func() Options {
			o := fixedOptions(vars)
			o.NoShell, o.IncludeRoot, o.Values = opts.NoShell, opts.IncludeRoot, opts.Values
			n := 0
			o.ContentID = func() string {
				n++
				return fmt.Sprintf("img-%d@mailscript.test", n)
			}
			return o
		}, true)
		if fast != slow {
			t.Fatalf("with fast programs\n%q\nwith text/template\n%q", fast, slow)
		}
		m, err := tmpl.Expand(opts)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Expand error %v is a %T", err, err)
			}
			return
		}
		// Attachments could name any file on this machine: check the
		// header and text only.
		m.noFiles = true
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		out := buf.Bytes()
		checkWire(t, out)
		// No value may add a header line: every header line is a field we
		// wrote or a folded continuation.
		r := bufio.NewReader(bytes.NewReader(out))
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
			if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
				continue
			}
			name, _, _ := strings.Cut(line, ":")
			if strings.EqualFold(name, "Bcc") { // names may keep the template's spelling
				t.Fatalf("Bcc in the output header: %q", out)
			}
		}
		if _, err := mail.CreateReader(bytes.NewReader(out)); err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, out)
		}
	})
}

// benchTemplate is the template of BenchmarkRender: a ≈2 KB message with
// 5 values and no shell command.
func benchTemplate(b *testing.B) (*Template, map[string]string) {
	para := strings.Repeat("This paragraph is filler text for the benchmark, about eighty bytes long.\n", 4)
	src := "---\nfrom: '{{.from_name}} <{{.from}}>'\nto: '{{.to_name}} <{{.to}}>'\nsubject: 'Invoice {{.invoice}} for {{.to_name}}'\n---\n\n" +
		"Dear {{.to_name}},\n\n" + strings.Repeat(para+"\n", 5) + "Your invoice {{.invoice}} is attached.\n\n-- \n{{.from_name}}\nSent {{date}}\n"
	tmpl, err := Parse("bench.tmpl", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]string{"from": "billing@example.com", "from_name": "Billing", "to": "ann@example.org", "to_name": "Ann Smith", "invoice": "2024-0042"}
	return tmpl, vars
}

// BenchmarkRender expands and writes a ≈2 KB message with 5 values and no
// shell command.
func BenchmarkRender(b *testing.B) {
	tmpl, vars := benchTemplate(b)
	opts := fixedOptions(vars)
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkRenderParallel renders the message of BenchmarkRender from
// GOMAXPROCS goroutines sharing one parsed template, as a batch does, with
// a random Message-ID per message; msgs/s is the total rate.
func BenchmarkRenderParallel(b *testing.B) {
	tmpl, vars := benchTemplate(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		opts := Options{Vars: vars} // random Message-ID, the real clock
		var buf bytes.Buffer
		for pb.Next() {
			buf.Reset()
			m, err := tmpl.Expand(opts)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := m.WriteTo(&buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// A template whose front matter carries the header may start its body
// right after the front matter; a first line that is not a header field
// is body text.
func TestBodyWithoutHeaderSection(t *testing.T) {
	src := "---\nfrom: a@example.com\nto: b@example.com\nsubject: s\n---\nHi Bob,\n\nbye\n"
	tm, err := Parse("testdata/t.tmpl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tm.Expand(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "\r\n\r\nHi Bob,\r\n\r\nbye\r\n") {
		t.Fatalf("body not where expected:\n%s", out)
	}
	if strings.Contains(out, "Hi Bob,\r\nSubject") || strings.Count(out, "Subject:") != 1 {
		t.Fatalf("header section wrong:\n%s", out)
	}
}

// Where the header section ends: a body may start with a directive whose
// output is text, with text, or after an empty line; header fields and
// seed-style directive lines before them stay a header.
func TestHeaderSectionDetection(t *testing.T) {
	const fm = "---\nfrom: a@example.com\nto: b@example.com\n---\n"
	for _, tc := range []struct {
		name, msg, wantBody, wantHeader string
	}{
		{"body starts with a directive", "{{upper \"df output\"}}\nmore\n", "\r\n\r\nDF OUTPUT\r\nmore\r\n", ""},
		{"body starts with text", "Hello Bob,\nmore\n", "\r\n\r\nHello Bob,\r\nmore\r\n", ""},
		{"empty line first", "\nSubject: not a header\n", "\r\n\r\nSubject: not a header\r\n", ""},
		{"header fields", "Subject: hi\nX-Tag: 1\n\nbody\n", "\r\n\r\nbody\r\n", "X-Tag: 1\r\n"},
		{"directive line then field", "{{chunk \"s\" \"hey\"}}\nSubject: {{chunk \"s\"}}\n\nbody\n", "\r\n\r\nbody\r\n", "Subject: hey\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := Parse("t.tmpl", []byte(fm+tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			m, err := tm.Expand(Options{})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if _, err := m.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.HasSuffix(out, tc.wantBody) {
				t.Errorf("body: got\n%q\nwant suffix %q", out, tc.wantBody)
			}
			if tc.wantHeader != "" && !strings.Contains(out[:strings.Index(out, "\r\n\r\n")+2], tc.wantHeader) {
				t.Errorf("header %q missing in\n%s", tc.wantHeader, out)
			}
		})
	}
}
