package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
)

func TestFieldName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"message-id", "Message-ID"},
		{"Message-Id", "Message-ID"},
		{"MIME-VERSION", "MIME-Version"},
		{"content-id", "Content-ID"},
		{"content-transfer-encoding", "Content-Transfer-Encoding"},
		{"in-reply-to", "In-Reply-To"},
		{"dkim-signature", "DKIM-Signature"},
		{"arc-seal", "ARC-Seal"},
		{"list-id", "List-Id"},
		{"x-priority", "X-Priority"},
		{"subject", "Subject"},
	}
	for _, tt := range tests {
		if got := fieldName(tt.in); got != tt.want {
			t.Errorf("fieldName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for canon, conv := range conventionalNames {
		if fieldName(conv) != conv || fieldName(canon) != conv {
			t.Errorf("conventionalNames[%q] = %q is not a fixed point", canon, conv)
		}
	}
}

// The header fields mailscript adds have their conventional spelling; a
// field written in the template keeps the template's spelling.
func TestHeaderFieldSpelling(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "logo.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src string
		want      []string // header lines (whole lines, in any part)
		not       []string // lines that must not be there
	}{
		{name: "added fields",
			src:  "From: a@example.com\nTo: b@example.com\n\nx\n",
			want: []string{"From: <a@example.com>", "Message-ID: <x@y>", "MIME-Version: 1.0", "Content-Transfer-Encoding: 7bit"},
			not:  []string{"Message-Id: <x@y>", "Mime-Version: 1.0"}},
		{name: "front matter keys",
			src:  "---\nfrom: a@example.com\nto: b@example.com\nreply_to: c@example.com\nsubject: s\n---\n\nx\n",
			want: []string{"From: <a@example.com>", "To: <b@example.com>", "Reply-To: <c@example.com>", "Subject: s"}},
		{name: "header section spellings kept",
			src: "FROM: a@example.com\nto: b@example.com\nMessage-Id: <given@example.com>\nmime-version: 1.0\nin-reply-to: <p@example.com>\nX-MSMail-Priority: High\nsubject: s\n\nx\n",
			want: []string{"FROM: <a@example.com>", "to: <b@example.com>", "Message-Id: <given@example.com>", "mime-version: 1.0",
				"in-reply-to: <p@example.com>", "X-MSMail-Priority: High", "subject: s"},
			not: []string{"Message-ID: <given@example.com>", "MIME-Version: 1.0", "X-Msmail-Priority: High"}},
		{name: "an empty field is not given: the added one is conventional",
			src:  "From: a@example.com\nTo: b@example.com\nmessage-id:\n\nx\n",
			want: []string{"Message-ID: <x@y>"}},
		{name: "headers: spellings kept",
			src:  "---\nfrom: a@example.com\nto: b@example.com\nheaders:\n  In-Reply-To: <p@example.com>\n  x-lower: v\n  X-UPPER: w\n---\n\nx\n",
			want: []string{"In-Reply-To: <p@example.com>", "x-lower: v", "X-UPPER: w"}},
		{name: "the MIME fields mailscript writes",
			src:  "From: a@example.com\nTo: b@example.com\ncontent-type: text/html\ncontent-transfer-encoding: 8bit\n\n<img src=\"{{inline \"logo.png\"}}\">\n",
			want: []string{"Content-Type: text/html; charset=utf-8", "Content-ID: <c1@y>", "Content-Transfer-Encoding: base64", "Content-Disposition: inline; filename=logo.png"},
			not:  []string{"content-type: text/html", "content-transfer-encoding: 8bit", "Content-Id: <c1@y>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse(filepath.Join(dir, "t.tmpl"), []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			opts := fixedOptions(nil)
			opts.MessageID = func() string { return "x@y" }
			opts.ContentID = func() string { return "c1@y" }
			m, err := tmpl.Expand(opts)
			if err != nil {
				t.Fatal(err)
			}
			out := render(t, m)
			lines := map[string]bool{}
			for l := range strings.SplitSeq(out, "\r\n") {
				lines[l] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("no line %q in\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if lines[n] {
					t.Errorf("line %q in\n%s", n, out)
				}
			}
			// Field names are case-insensitive: readers find them all.
			r, err := mail.CreateReader(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if id, err := r.Header.MessageID(); err != nil || id == "" {
				t.Errorf("Message-ID not found by go-message: %q, %v", id, err)
			}
		})
	}
}
