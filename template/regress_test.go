package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
)

// expandString parses and expands src as testdata/t.tmpl.
func expandString(src string, opts Options) (*Message, error) {
	tmpl, err := Parse("testdata/t.tmpl", []byte(src))
	if err != nil {
		return nil, err
	}
	if opts.MessageID == nil {
		opts.MessageID = func() string { return "x@y" }
	}
	return tmpl.Expand(opts)
}

// matchError compares an error's text with want ("..." at the end: a
// prefix) and checks that it is a positioned *Error.
func matchError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v is a %T, not an *Error", err, err)
	}
	if te.Line == 0 || te.Col == 0 {
		t.Errorf("error has no position: %#v", te)
	}
	got := err.Error()
	if prefix, ok := strings.CutSuffix(want, "..."); ok {
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("error\n got %s\nwant %s", got, want)
		}
	} else if got != want {
		t.Errorf("error\n got %s\nwant %s", got, want)
	}
}

func render(t *testing.T, m *Message) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	checkWire(t, b.Bytes())
	return b.String()
}

// A null front matter value ("key:", "key: ~") is an empty string, never a
// panic.
func TestNullFrontMatterValues(t *testing.T) {
	const env = "from: a@example.com\nto: b@example.com\n"
	tests := []struct {
		name     string
		front    string
		body     string
		wantBody string
		settings Settings
	}{
		{"var", env + "vars:\n  name:\n", "Hi {{.name}}!", "Hi !\r\n", Settings{}},
		{"var tilde", env + "vars:\n  name: ~\n", "Hi {{chunk \"name\"}}!", "Hi !\r\n", Settings{}},
		{"server", env + "server:\n", "x", "x\r\n", Settings{}},
		{"tls", env + "tls: ~\n", "x", "x\r\n", Settings{}},
		{"auth", env + "auth:\n", "x", "x\r\n", Settings{}},
		{"user", env + "user: null\n", "x", "x\r\n", Settings{}},
		{"password_env", env + "password_env:\n", "x", "x\r\n", Settings{}},
		{"subject and cc", env + "subject:\ncc: ~\nreply_to:\n", "x", "x\r\n", Settings{}},
		{"header", env + "headers:\n  X-Empty:\n", "x", "x\r\n", Settings{}},
		{"with others", env + "server: smtp://h:25\nuser:\nauth: PLAIN\n", "x", "x\r\n", Settings{Server: "smtp://h:25", Auth: "PLAIN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := expandString("---\n"+tt.front+"---\n\n"+tt.body, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.text) != tt.wantBody {
				t.Errorf("body %q, want %q", m.text, tt.wantBody)
			}
			if m.Settings != tt.settings {
				t.Errorf("settings %+v, want %+v", m.Settings, tt.settings)
			}
			render(t, m)
		})
	}
}

// A value can never add a recipient or change which address a display name
// belongs to.
func TestAddressValues(t *testing.T) {
	const hostileName = `x" <eve@evil.example>, "Bob`
	const twoAddrs = "bob@example.com, eve@evil.example"
	quoted := "---\nfrom: a@example.com\nto: '\"{{chunk \"to_name\"}}\" <{{chunk \"to\"}}>'\n---\n\nx\n"
	tests := []struct {
		name       string
		src        string
		vars       map[string]string
		wantErr    string
		recipients []string
		toNames    []string // decoded display names in the To header
	}{
		{
			name:    "quote in a quoted display name",
			src:     quoted,
			vars:    map[string]string{"to_name": hostileName, "to": "ann@example.org"},
			wantErr: `testdata/t.tmpl:3:9: to: value "x\" <eve@evil.example>, \"Bob" is inside a quoted display name and contains "\"", ...`,
		},
		{
			name:    "list inside angle brackets",
			src:     quoted,
			vars:    map[string]string{"to_name": "Ann", "to": twoAddrs},
			wantErr: `testdata/t.tmpl:3:31: to: value "bob@example.com, eve@evil.example" is inside <...> and must be exactly one address and contains ",", ...`,
		},
		{
			name:    "closing bracket inside angle brackets",
			src:     "From: a@example.com\nTo: Carol <{{.to}}>\n\nx\n",
			vars:    map[string]string{"to": "c@example.com>, <eve@evil.example"},
			wantErr: `testdata/t.tmpl:2:14: To: value "c@example.com>, <eve@evil.example" is inside <...> and must be exactly one address and contains ">", ...`,
		},
		{
			name:    "unquoted display name",
			src:     "---\nfrom: a@example.com\nto: '{{.to_name}} <{{.to}}>'\n---\n\nx\n",
			vars:    map[string]string{"to_name": "Eve <eve@evil.example>, Bob", "to": "ann@example.org"},
			wantErr: `testdata/t.tmpl:3:8: to: value "Eve <eve@evil.example>, Bob" is part of an address and contains "<", ...`,
		},
		{
			name:    "address before a literal one",
			src:     "From: a@example.com\nCc: {{.cc}}, boss@example.org\n\nx\n",
			vars:    map[string]string{"cc": twoAddrs},
			wantErr: `testdata/t.tmpl:2:7: Cc: value "bob@example.com, eve@evil.example" is part of an address and contains ",", ...`,
		},
		{
			name:    "escaped quote before the value",
			src:     "From: a@example.com\nTo: \"\\{{.n}}\" <ann@example.org>\n\nx\n",
			vars:    map[string]string{"n": `"x" <eve@evil.example>, "`},
			wantErr: `testdata/t.tmpl:2:9: To: value "\"x\" <eve@evil.example>, \"" is inside a quoted display name and contains "\"", ...`,
		},
		{
			name:    "comment",
			src:     "From: a@example.com\nTo: ann@example.org ({{.n}})\n\nx\n",
			vars:    map[string]string{"n": "x), eve@evil.example, (y"},
			wantErr: `testdata/t.tmpl:2:24: To: value "x), eve@evil.example, (y" is inside a comment and contains ")", ...`,
		},
		{
			name:    "sender and reply_to are address fields",
			src:     "---\nfrom: a@example.com\nto: b@example.com\nreply_to: 'Help <{{.r}}>'\n---\n\nx\n",
			vars:    map[string]string{"r": twoAddrs},
			wantErr: `testdata/t.tmpl:4:20: reply_to: value ...`,
		},
		{
			name:       "a whole-field value may be a list",
			src:        "---\nfrom: a@example.com\nto: '{{chunk \"to\"}}'\n---\n\nx\n",
			vars:       map[string]string{"to": twoAddrs},
			recipients: []string{"bob@example.com", "eve@evil.example"},
		},
		{
			name:       "a whole header value may be a list",
			src:        "From: a@example.com\nTo:  {{.to}} \n\nx\n",
			vars:       map[string]string{"to": twoAddrs},
			recipients: []string{"bob@example.com", "eve@evil.example"},
		},
		{
			name:       "angle brackets inside quotes are harmless",
			src:        quoted,
			vars:       map[string]string{"to_name": "Bea <Override>, Jr.", "to": "ann@example.org"},
			recipients: []string{"ann@example.org"},
			toNames:    []string{"Bea <Override>, Jr."},
		},
		{
			name:       "addr quotes a hostile display name",
			src:        "---\nfrom: a@example.com\nto: '{{addr .to_name .to}}'\n---\n\nx\n",
			vars:       map[string]string{"to_name": hostileName, "to": "ann@example.org"},
			recipients: []string{"ann@example.org"},
			toNames:    []string{hostileName},
		},
		{
			name:       "addr in a list",
			src:        "From: a@example.com\nTo: {{addr .to_name .to}}, Boss <boss@example.org>, {{addr .to2}}\n\nx\n",
			vars:       map[string]string{"to_name": "Smith, Ann", "to": "ann@example.org", "to2": "carl@example.org"},
			recipients: []string{"ann@example.org", "boss@example.org", "carl@example.org"},
			toNames:    []string{"Smith, Ann", "Boss", ""},
		},
		{
			name:       "addr with a non-ASCII name",
			src:        "---\nfrom: '{{addr \"Jörg Müller\" \"joerg@example.de\"}}'\nto: '{{addr .n .to}}'\n---\n\nx\n",
			vars:       map[string]string{"n": "José \"Pepe\" Ñúñez", "to": "jose@example.es"},
			recipients: []string{"jose@example.es"},
			toNames:    []string{"José \"Pepe\" Ñúñez"},
		},
		{
			name:    "addr refuses a list",
			src:     "---\nfrom: a@example.com\nto: '{{addr .to_name .to}}'\n---\n\nx\n",
			vars:    map[string]string{"to_name": "Bob", "to": twoAddrs},
			wantErr: `testdata/t.tmpl:3:8: addr: "bob@example.com, eve@evil.example" is not one address local@domain: ...`,
		},
		{
			name:    "addr refuses a hostile address literal",
			src:     "---\nfrom: a@example.com\nto: '{{addr .to}}'\n---\n\nx\n",
			vars:    map[string]string{"to": "a@[x>,eve]"},
			wantErr: `testdata/t.tmpl:3:8: addr: "a@[x>,eve]" is not one address local@domain: invalid address literal`,
		},
		{
			name:    "addr output inside quotes is a plain value",
			src:     "From: a@example.com\nTo: \"{{addr .n .to}}\" <ann@example.org>\n\nx\n",
			vars:    map[string]string{"n": "Eve", "to": "eve@evil.example"},
			wantErr: `testdata/t.tmpl:2:8: To: value "\"Eve\" <eve@evil.example>" is inside a quoted display name ...`,
		},
		{
			name:    "template in an address field",
			src:     "{{define \"x\"}}eve@evil.example{{end}}\nFrom: a@example.com\nTo: {{template \"x\"}}\n\nx\n",
			wantErr: `testdata/t.tmpl:3:7: template: not allowed in an address field ...`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := expandString(tt.src, Options{Vars: tt.vars})
			if tt.wantErr != "" {
				matchError(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(m.Recipients) != fmt.Sprint(tt.recipients) {
				t.Errorf("Recipients = %q, want %q", m.Recipients, tt.recipients)
			}
			out := render(t, m)
			r, err := mail.CreateReader(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			to, err := r.Header.AddressList("To")
			if err != nil || len(to) != len(tt.recipients) {
				t.Fatalf("To = %v (%v), want %d addresses:\n%s", to, err, len(tt.recipients), out)
			}
			for i, name := range tt.toNames {
				if to[i].Name != name {
					t.Errorf("To[%d] name %q, want %q", i, to[i].Name, name)
				}
			}
		})
	}
}

// Attachments are always base64: multipart/* cannot be asked for, and
// message/* is sent as application/octet-stream.
func TestAttachmentTypes(t *testing.T) {
	mime.AddExtensionType(".eml", "message/rfc822")
	dir := t.TempDir()
	content := "From: x@example.com\nSubject: inner\n\n.\nbody \xff\n"
	if err := os.WriteFile(filepath.Join(dir, "inner.eml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, directive, wantErr, wantType string
	}{
		{"multipart asked", `{{attach "inner.eml" "type=multipart/mixed"}}`, `t.tmpl:4:3: attach: type=multipart/mixed: a file cannot be attached as a multipart entity ...`, ""},
		{"multipart with boundary", `{{attach "inner.eml" "type=multipart/alternative; boundary=x"}}`, `t.tmpl:4:3: attach: type=multipart/alternative: ...`, ""},
		{"message asked", `{{attach "inner.eml" "type=message/rfc822"}}`, "", "application/octet-stream"},
		{"message guessed", `{{attach "inner.eml"}}`, "", "application/octet-stream"},
		{"file name too long to fold", `{{attach "inner.eml" "name=` + strings.Repeat("n", 1000) + `.txt"}}`, `t.tmpl:4:3: attach: file name "nnnn...`, ""},
		{"other type kept", `{{attach "inner.eml" "type=text/plain"}}`, "", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "t.tmpl")
			tmpl, err := Parse(path, []byte("From: a@example.com\nTo: b@example.com\n\n"+tt.directive+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := tmpl.Expand(fixedOptions(nil))
			if tt.wantErr != "" {
				matchError(t, err, filepath.Join(dir, tt.wantErr))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out := render(t, m)
			mr, err := mail.CreateReader(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			mr.NextPart()
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			ct, _, _ := p.Header.(*mail.AttachmentHeader).ContentType()
			if ct != tt.wantType {
				t.Errorf("Content-Type %q, want %q", ct, tt.wantType)
			}
			if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
				t.Errorf("Content-Transfer-Encoding %q, want base64", cte)
			}
			got, _ := io.ReadAll(p.Body)
			if string(got) != content {
				t.Errorf("attachment %q, want %q", got, content)
			}
		})
	}
}

// Errors in YAML scalars point at the directive, whatever the scalar style.
func TestScalarPositions(t *testing.T) {
	const env = "---\nfrom: a@example.com\nto: b@example.com\n"
	const tail = "---\n\nx\n"
	tests := []struct {
		name, front, want string
	}{
		{"plain", "subject: About {{chunk \"t\"}}\n", "t.tmpl:4:18: chunk: ..."},
		{"plain, multi-line", "subject: About\n  the\n    {{chunk \"t\"}}\n", "t.tmpl:6:7: chunk: ..."},
		{"plain, multi-line with a blank line", "subject: About\n\n  the {{chunk \"t\"}}\n", "t.tmpl:6:9: chunk: ..."},
		{"single-quoted with ''", "subject: 'It''s ''{{chunk \"t\"}}'''\n", "t.tmpl:4:21: chunk: ..."},
		{"single-quoted, multi-line", "subject: 'It''s\n   about {{chunk \"t\"}}'\n", "t.tmpl:5:12: chunk: ..."},
		{"double-quoted with escapes", "subject: \"\\\"\\u00e9\\x41\\t {{chunk \\\"t\\\"}}\"\n", "t.tmpl:4:28: chunk: ..."},
		{"double-quoted, escaped line break", "subject: \"a\\\n    b {{chunk \\\"t\\\"}}\"\n", "t.tmpl:5:9: chunk: ..."},
		{"double-quoted, multi-line", "subject: \"a  \n\n    b {{chunk \\\"t\\\"}}\"\n", "t.tmpl:6:9: chunk: ..."},
		{"folded", "subject: >\n  Report\n  for\n\n  the {{chunk \"t\"}}\n", "t.tmpl:8:9: chunk: ..."},
		{"folded, more indented", "subject: >-\n  Report\n    for\n  the {{chunk \"t\"}}\n", "t.tmpl:7:9: chunk: ..."},
		{"literal", "vars:\n  v: |\n    one\n\n      two {{chunk \"t\"}}\n", "t.tmpl:8:13: chunk: ..."},
		{"list item", "cc:\n  - c@example.com\n  - \"\\x41 <{{chunk \\\"t\\\"}}>\"\n", "t.tmpl:6:14: chunk: ..."},
		{"flow list", "cc: [c@example.com, 'd <{{chunk \"t\"}}>']\n", "t.tmpl:4:27: chunk: ..."},
		{"tag and anchor", "subject: !!str &s a {{chunk \"t\"}}\n", "t.tmpl:4:23: chunk: ..."},
		{"explicit indentation: start of the value", "vars:\n  v: |2\n      one\n     two {{chunk \"t\"}}\n", "t.tmpl:5:6: chunk: ..."},
		{"non-ASCII before", "subject: Grüße {{chunk \"t\"}}\n", "t.tmpl:4:20: chunk: ..."},
		{"parse error in folded", "subject: >\n  a\n  b {{chnk}}\n", "t.tmpl:6:7: function \"chnk\" not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse("t.tmpl", []byte(env+tt.front+tail))
			if err == nil {
				_, err = tmpl.Expand(Options{MessageID: func() string { return "x@y" }})
			}
			matchError(t, err, tt.want)
		})
	}
}

// A header word that cannot be folded within 998 octets is an error, never
// cut by an inserted line break.
func TestLongHeaderWords(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 2000)
	words := strings.TrimSpace(strings.Repeat("word ", 600))
	tests := []struct {
		name, src, want string
	}{
		{"subject", "From: a@example.com\nTo: b@example.com\nSubject: see {{.v}}\n\nx\n",
			`testdata/t.tmpl:3:10: Subject: the Subject header would have a line over 998 octets: it has a word too long to be folded ...`},
		{"extra header from front matter", "---\nfrom: a@example.com\nto: b@example.com\nheaders:\n  X-Url: '{{.v}}'\n---\n\nx\n",
			`testdata/t.tmpl:5:11: headers: X-Url: the X-Url header would have a line over 998 octets: ...`},
		{"display name", "---\nfrom: a@example.com\nto: '\"{{.v}}\" <b@example.com>'\n---\n\nx\n",
			`testdata/t.tmpl:3:6: to: the To header would have a line over 998 octets: ...`},
		{"message-id", "From: a@example.com\nTo: b@example.com\nMessage-ID: <{{.v}}@example.com>\n\nx\n",
			`testdata/t.tmpl:3:13: Message-ID: the Message-ID header would have a line over 998 octets: ...`},
		{"long header name", "From: a@example.com\nTo: b@example.com\nX-" + strings.Repeat("n", 90) + ": " + words + "\n\nx\n",
			`testdata/t.tmpl:3:1: header: field name longer than 70 characters`},
		{"long header name in front matter", "---\nfrom: a@example.com\nto: b@example.com\nheaders:\n  X-" + strings.Repeat("n", 90) + ": " + words + "\n---\n\nx\n",
			`testdata/t.tmpl:5:3: front matter: headers: invalid header name ...`},
		{"long but foldable", "From: a@example.com\nTo: b@example.com\nSubject: " + words + "\nX-A: " + strings.Repeat("b", 990) + "\n\nx\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := long
			switch tt.name {
			case "display name":
				v = strings.Repeat("N", 1000)
			case "message-id":
				v = strings.Repeat("m", 1000)
			}
			m, err := expandString(tt.src, Options{Vars: map[string]string{"v": v}})
			if tt.want != "" {
				matchError(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out := render(t, m)
			r, err := mail.CreateReader(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := r.Header.Subject(); s != words {
				t.Errorf("Subject changed: %q", s)
			}
		})
	}
}

// Values are exported under their plain name only when it is lower case:
// a value can never set PATH, NODE_OPTIONS, LD_PRELOAD... HideEnv removes
// variables from the commands' environment.
func TestShellEnvironmentNames(t *testing.T) {
	t.Setenv("MAILSCRIPT_TEST_SECRET", "s3cret")
	tests := []struct {
		name string
		vars map[string]string
		hide []string
		cmd  string
		want string
	}{
		{"lower case is exported", map[string]string{"greeting": "hi"}, nil, `echo "$greeting/$MAILSCRIPT_VAR_greeting"`, "hi/hi"},
		{"NODE_OPTIONS", map[string]string{"NODE_OPTIONS": "--require=/tmp/x"}, nil, `echo "${NODE_OPTIONS-unset}/$MAILSCRIPT_VAR_NODE_OPTIONS"`, "unset/--require=/tmp/x"},
		{"PERL5OPT", map[string]string{"PERL5OPT": "-Mx"}, nil, `echo "${PERL5OPT-unset}"`, "unset"},
		{"PYTHONPATH", map[string]string{"PYTHONPATH": "/tmp"}, nil, `echo "${PYTHONPATH-unset}"`, "unset"},
		{"GIT_SSH_COMMAND", map[string]string{"GIT_SSH_COMMAND": "touch pwned"}, nil, `echo "${GIT_SSH_COMMAND-unset}"`, "unset"},
		{"LD_PRELOAD", map[string]string{"LD_PRELOAD": "/tmp/x.so"}, nil, `echo "${LD_PRELOAD-unset}"`, "unset"},
		{"mixed case", map[string]string{"Greeting": "hi"}, nil, `echo "${Greeting-unset}/$MAILSCRIPT_VAR_Greeting"`, "unset/hi"},
		{"proxy", map[string]string{"http_proxy": "http://evil.example:8080"}, nil, `echo "${http_proxy-unset}"`, "unset"},
		{"leading underscore", map[string]string{"_x": "v"}, nil, `echo "${_x-unset}"`, "unset"},
		{"not hidden", nil, nil, `echo "${MAILSCRIPT_TEST_SECRET-hidden}"`, "s3cret"},
		{"hidden", nil, []string{"MAILSCRIPT_TEST_SECRET"}, `echo "${MAILSCRIPT_TEST_SECRET-hidden}"`, "hidden"},
		{"hidden, not as a value name either", map[string]string{"x": "1"}, []string{"MAILSCRIPT_TEST_SECRET", "OTHER"}, `echo "${MAILSCRIPT_TEST_SECRET-hidden}$x"`, "hidden1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k := range tt.vars {
				if _, ok := os.LookupEnv(k); ok {
					t.Skipf("%s is set in the test environment", k)
				}
			}
			src := "From: a@example.com\nTo: b@example.com\n\n{{sh .cmd}}\n"
			vars := map[string]string{"cmd": tt.cmd}
			for k, v := range tt.vars {
				vars[k] = v
			}
			m, err := expandString(src, Options{Vars: vars, HideEnv: tt.hide})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(m.text)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A {{define}} in the template can neither replace nor call the pieces the
// template is made of.
func TestDefineCannotReachPieces(t *testing.T) {
	const front = "---\nfrom: a@example.com\nto: b@example.com\nsubject: s\n---\n"
	for i := range 6 {
		for _, src := range []string{
			front + fmt.Sprintf("\n{{define \"p%d\"}}eve@evil.example{{end}}body\n", i),
			front + fmt.Sprintf("{{define \"p%d\"}}eve@evil.example{{end}}\nX-A: 1\n\nbody\n", i),
			front + fmt.Sprintf("\n{{block \"p%d\" .}}eve@evil.example{{end}}\n", i),
		} {
			t.Run(fmt.Sprintf("p%d", i), func(t *testing.T) {
				m, err := expandString(src, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if m.From != "a@example.com" || fmt.Sprint(m.Recipients) != "[b@example.com]" {
					t.Errorf("From %q, Recipients %q", m.From, m.Recipients)
				}
				if out := render(t, m); strings.Contains(out, "evil") && !strings.Contains(out, "\r\n\r\neve@evil.example") {
					t.Errorf("a define replaced a piece:\n%s", out)
				}
			})
		}
		t.Run(fmt.Sprintf("call p%d", i), func(t *testing.T) {
			_, err := expandString(front+fmt.Sprintf("\n{{template \"p%d\"}}\n", i), Options{})
			matchError(t, err, fmt.Sprintf(`testdata/t.tmpl:7:12: template "p%d" not defined`, i))
		})
	}
}
