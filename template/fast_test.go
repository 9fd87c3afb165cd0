package template

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// expandBoth expands tmpl with the options mk returns, once with the fast
// programs of its pieces (see fastProg) and once with text/template only,
// and returns both results: the message written, or the error. noFiles
// writes file parts empty (see Message.noFiles).
func expandBoth(t *testing.T, tmpl *Template, mk func() Options, noFiles bool) (fast, slow string) {
	t.Helper()
	render := func() string {
		m, err := tmpl.Expand(mk())
		if err != nil {
			return "error: " + err.Error()
		}
		defer m.Close()
		m.noFiles = noFiles
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			return "write error: " + err.Error()
		}
		if m.rootRaw != nil {
			// The message is one text part, written by writeLeaf: go-message
			// writes the same bytes.
			if legacy := legacyWrite(t, m); legacy != buf.String() {
				t.Errorf("writeLeaf wrote\n%q\ngo-message writes\n%q", buf.String(), legacy)
			}
		}
		return fmt.Sprintf("from %s to %q\n%s", m.From, m.Recipients, buf.String())
	}
	fast = render()
	progs := make([]fastProg, len(tmpl.pieces))
	for i := range tmpl.pieces {
		progs[i], tmpl.pieces[i].fast = tmpl.pieces[i].fast, nil
	}
	defer func() {
		for i := range tmpl.pieces {
			tmpl.pieces[i].fast = progs[i]
		}
	}()
	slow = render()
	return fast, slow
}

// legacyWrite writes m, a single text part, through go-message's
// CreateWriter as Message.write did before writeLeaf.
func legacyWrite(t *testing.T, m *Message) string {
	t.Helper()
	c := *m
	c.rootRaw = nil
	// The fields of rootRaw, each with its folded lines; go-message writes
	// the field added last first: add in reverse.
	var fields [][]byte
	for raw := m.rootRaw; len(raw) > 0; {
		end := 0
		for {
			i := bytes.Index(raw[end:], []byte("\r\n"))
			if i < 0 {
				t.Fatalf("rootRaw does not end with CRLF: %q", m.rootRaw)
			}
			end += i + 2
			if end == len(raw) || raw[end] != ' ' && raw[end] != '\t' {
				break
			}
		}
		fields = append(fields, raw[:end])
		raw = raw[end:]
	}
	for i := len(fields) - 1; i >= 0; i-- {
		c.rootHeader.AddRaw(fields[i])
	}
	var buf bytes.Buffer
	if err := c.write(&buf); err != nil {
		return "write error: " + err.Error()
	}
	return buf.String()
}

// The fast programs print what text/template prints, and fail where it
// fails with the same error, whatever the values.
func TestFastMatchesTextTemplate(t *testing.T) {
	templates := map[string]string{
		"addr": "---\nfrom: '{{addr .fn .from}}'\nto: '{{addr .name .email}}, {{addr .email}}'\ncc: '{{.cc}}'\n" +
			"subject: 'Hi {{.name}} {{date \"%F\" \"+1d\"}}'\n---\nHello {{.name}} <{{.email}}> {{addr .email}} {{addr .name .email}}\n{{date}} {{.n}} {{.long}}\n",
		"marked":   "---\nfrom: a@example.com\nto: '{{.name}} <{{.email}}>'\nreply_to: '\"{{.name}}\" <{{.email}}>'\n---\n{{.name}}\n",
		"header":   "From: {{.fn}} <{{.from}}>\nTo: {{.email}}\nSubject: {{.name}}\n  {{.n}}\nX-Tag: {{.name}}\n\n{{- .name -}}\n\n{{.long}}\r\n",
		"missing":  "---\nfrom: a@example.com\nto: b@example.com\n---\n{{.name}} {{.nope}}\n",
		"html":     "---\nfrom: a@example.com\nto: '{{addr .name .email}}'\n---\nContent-Type: text/html\n\n<p>{{.name}} {{.email}}</p>\n",
		"markdown": "---\nfrom: a@example.com\nto: '{{addr .name .email}}'\n---\nContent-Type: text/markdown\n\n# {{.name}}\n\n*{{.long}}*\n",
		"define":   "---\nfrom: a@example.com\nto: '{{addr .name .email}}'\n---\nHi {{.name}}\r\n{{.long}}\n{{define \"html\"}}<p>{{.name}} {{.long}}</p>{{end}}",
		"htmlonly": "---\nfrom: a@example.com\nto: '{{addr .name .email}}'\n---\n{{define \"html\"}}<p>{{.name}}</p>{{end}}\n",
		"badarg":   "---\nfrom: a@example.com\nto: b@example.com\n---\n{{addr .n}} {{date .n}} {{date .nope}}\n",
		"baddate":  "---\nfrom: a@example.com\nto: b@example.com\n---\n{{date \"%F\" .name}}\n",
	}
	rows := []map[string]any{
		{"fn": "Billing", "from": "billing@example.com", "name": "Ann Smith", "email": "ann@example.org", "cc": "c@example.net, d@example.net", "n": "1", "long": "x"},
		{"fn": "Bill, Inc.", "from": "billing@example.com", "name": `Ann "the" Smith`, "email": "ann@example.org", "cc": "", "n": int64(42), "long": strings.Repeat("é", 600)},
		{"fn": "Zoë", "from": "zoe@example.com", "name": "Zoë Ünal", "email": "zoe@example.org", "cc": "x@y.z", "n": 1.5, "long": strings.Repeat("a", 2000)},
		{"fn": "", "from": "billing@example.com", "name": "Eve", "email": "a@x.org, b@y.org", "cc": "c@example.net", "n": "", "long": "\r"},
		{"fn": "Eve", "from": "billing@example.com", "name": "Eve\r\nBcc: evil@example.net", "email": "eve@example.org", "cc": "c@example.net", "n": nil, "long": ""},
		{"fn": "Eve", "from": "not an address", "name": "x>", "email": "eve@example.org", "cc": "c@example.net", "n": []any{"a"}, "long": "<b>"},
		{"fn": "Eve", "from": "billing@example.com", "name": "tomorrow", "email": "<eve@example.org>", "n": "1"},
		{"name": "Eve"},
	}
	for name, src := range templates {
		tmpl, err := Parse("testdata/"+name+".tmpl", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, row := range rows {
			fast, slow := expandBoth(t, tmpl, func() Options {
				opts := mimeOptions(nil)
				opts.Values = row
				return opts
			}, false)
			if fast != slow {
				t.Errorf("%s, row %d: with fast programs\n%s\nwith text/template\n%s", name, i, fast, slow)
			}
		}
	}
}

// Every piece of the batch benchmark's template has a fast program.
func TestFastBenchTemplate(t *testing.T) {
	tmpl, err := ParseFile(filepath.Join("..", "bench", "msg.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tmpl.pieces {
		if p.fast == nil {
			t.Errorf("piece %q has no fast program", p.src)
		}
	}
}

// simpleMsgID returns what go-message's parser returns, or leaves the value
// to it.
func TestSimpleMsgID(t *testing.T) {
	ids := []string{"<a@b>", "<a.b.c@host.example>", "<run.12.mailscript@host>", "<.a..@b.>",
		"<a@b@c>", "<@b>", "<a@>", "<a b@c>", "<a@[1.2.3.4]>", "<a@b> ", " <a@b>", "<a(c)@b>",
		"<é@b>", "<a@b>>", "<<a@b>", "<a\\b@c>", "<a@b;c>", "<a\"b@c>", "<a:b@c>", "<a,b@c>",
		"<!#$%&'*+-/=?^_`{|}~@b>", "<a@b>(comment)", "a@b", "<>", "<", "<a@b\x7f>"}
	for i := 0; i < 128; i++ {
		ids = append(ids, "<a"+string(rune(i))+"b@c>", "<ab@c"+string(rune(i))+"d>")
	}
	for _, id := range ids {
		v, ok := simpleMsgID(id)
		var h mail.Header
		h.Set("Message-Id", id)
		want, err := h.MessageID()
		if ok && (err != nil || v != want) {
			t.Errorf("simpleMsgID(%q) = %q, go-message: %q, %v", id, v, want, err)
		}
	}
	for _, id := range []string{"<a@b>", "<run.12.mailscript@host>", "<!#$%&'*+-/=?^_`{|}~@b>"} {
		if _, ok := simpleMsgID(id); !ok {
			t.Errorf("simpleMsgID(%q) leaves it to go-message", id)
		}
	}
}

// appendFieldChecked formats as formatFieldChecked.
func TestAppendFieldChecked(t *testing.T) {
	values := []string{"", "x", "a b", strings.Repeat("word ", 20), strings.Repeat("x", 80), strings.Repeat("y", 1000),
		"a\r\nb", "a\nb", strings.Repeat("z", 68), strings.Repeat("z", 69), strings.Repeat("z", 70)}
	for _, k := range []string{"", "Subject", "X:Y", "X Y", "Mime-Version", "Ä"} {
		for _, v := range values {
			want, wantOK := formatFieldChecked(k, v)
			got, ok := appendFieldChecked([]byte("prefix"), k, v)
			if ok != wantOK || ok && string(got) != "prefix"+want || !ok && string(got) != "prefix" {
				t.Errorf("appendFieldChecked(%q, %q) = %q, %v; want %q, %v", k, v, got, ok, want, wantOK)
			}
		}
	}
}

// formatDate reuses the text of the same second and location only.
func TestFormatDate(t *testing.T) {
	var bs boundSet
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, time.March, 31, 0, 59, 59, 0, time.UTC)
	for _, tm := range []time.Time{
		base, base.Add(500 * time.Millisecond), base.Add(time.Second), base.In(paris), base.Add(time.Second).In(paris),
		base.Add(time.Hour).In(paris), base.In(time.FixedZone("X", 3600)), base.In(time.FixedZone("Y", 3600)), base,
	} {
		if got, want := bs.formatDate(tm), tm.Format(rfc5322Date); got != want {
			t.Errorf("formatDate(%v) = %q, want %q", tm, got, want)
		}
	}
}

// The header text of an address field is what formatAddressList makes of
// the field's addresses, whether the field is what {{addr}} printed, a list
// parsed before (bs.addrs) or a new one.
func TestAddressFieldText(t *testing.T) {
	tmpl, err := Parse("t.tmpl", []byte("---\nfrom: a@example.com\nto: b@example.com\n---\n"))
	if err != nil {
		t.Fatal(err)
	}
	bs, err := tmpl.getSet()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"", "Ann", "Ann Smith", `Ann "the" Smith`, "Zoë", "a,b", "x\\y", "(c)", "Ann.", "=?utf-8?q?x?=", "Ünal, Zoë"}
	emails := []string{"ann@example.org", "a.b+c@example.org", "zoë@example.org", "a@[1.2.3.4]"}
	for _, name := range names {
		for _, email := range emails {
			for round := 0; round < 2; round++ {
				x := &expansion{t: tmpl, set: bs}
				x.addrs = x.addrBuf[:0]
				out, err := x.addr(name, email)
				if err != nil {
					continue
				}
				for _, v := range []string{string(out), string(out) + ", c@example.com"} {
					for _, y := range []*expansion{x, {t: tmpl, set: bs}} {
						list, text, err := y.parseAddresses(v)
						if err != nil {
							t.Fatalf("%q: %v", v, err)
						}
						ref, err := parseAddresses(v)
						if err != nil {
							t.Fatal(err)
						}
						if want := formatAddressList(ref); text != "" && text != want || formatAddressList(list) != want {
							t.Errorf("%q: text %q, list formatted %q; want %q", v, text, formatAddressList(list), want)
						}
					}
				}
			}
		}
	}
}

// countUnsafe counts as the byte-at-a-time definition, for every byte value
// at every place of a word and among other bytes.
func TestCountUnsafe(t *testing.T) {
	slow := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c >= 0x80 || c < 0x20 && c != '\t' || c == 0x7f {
				n++
			}
		}
		return n
	}
	for _, fill := range []byte{'a', ' ', '~', '\t', 0x7f, 0x80, 0x00, 0x1f, 0x20, 0xff} {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < 19; pos++ {
				b := bytes.Repeat([]byte{fill}, 19)
				b[pos] = byte(c)
				if got, want := countUnsafe(b), slow(b); got != want {
					t.Fatalf("countUnsafe(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

// getTextBuf's buffers hold what they are asked for, and those of
// putTextBuf are found again.
func TestTextBuf(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 2250, 32768, 32769, 100000} {
		b := getTextBuf(n)
		if len(b) != 0 || cap(b) < n {
			t.Errorf("getTextBuf(%d): len %d, cap %d", n, len(b), cap(b))
		}
		putTextBuf(append(b, "x"...))
	}
	if !slices.IsSorted(textBufSizes[:]) {
		t.Error("textBufSizes not sorted")
	}
}
