package template

import (
	"io"
	"mime"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
)

func TestFormatMediaType(t *testing.T) {
	tests := []struct {
		t      string
		params map[string]string
		want   string
	}{
		{"text/plain", map[string]string{"charset": "utf-8"}, "text/plain; charset=utf-8"},
		{"attachment", map[string]string{"filename": "plain.txt"}, "attachment; filename=plain.txt"},
		{"attachment", map[string]string{"filename": "we*ird.txt"}, `attachment; filename="we*ird.txt"`},
		{"attachment", map[string]string{"filename": "it's.txt"}, `attachment; filename="it's.txt"`},
		{"attachment", map[string]string{"filename": "100%.txt"}, `attachment; filename="100%.txt"`},
		{"attachment", map[string]string{"filename": "utf-8''x"}, `attachment; filename="utf-8''x"`},
		// Already quoted by mime.FormatMediaType: unchanged.
		{"attachment", map[string]string{"filename": "a b*.txt"}, `attachment; filename="a b*.txt"`},
		{"attachment", map[string]string{"filename": `"q"*.txt`}, `attachment; filename="\"q\"*.txt"`},
		// Not ASCII: RFC 2231, with * ' % percent-encoded.
		{"attachment", map[string]string{"filename": "naïve*'%.txt"}, "attachment; filename*=utf-8''na%C3%AFve%2A%27%25.txt"},
		// Parameters in mime.FormatMediaType's order (sorted as given);
		// only the risky ones are quoted.
		{"Image/PNG", map[string]string{"name": "a*b.png", "Zeta": "z", "alpha": "1%"}, `image/png; zeta=z; alpha="1%"; name="a*b.png"`},
		{"multipart/mixed", map[string]string{"boundary": "it's'a-boundary"}, `multipart/mixed; boundary="it's'a-boundary"`},
		// Invalid names: "" as mime.FormatMediaType.
		{"bad type", map[string]string{"name": "a*"}, ""},
		{"text/plain", map[string]string{"bad name": "a*"}, ""},
	}
	for _, tt := range tests {
		got := formatMediaType(tt.t, tt.params)
		if got != tt.want {
			t.Errorf("formatMediaType(%q, %v) = %q, want %q", tt.t, tt.params, got, tt.want)
			continue
		}
		if got == "" {
			continue
		}
		// Go's parser (go-message's too) reads back the same parameters.
		mt, params, err := mime.ParseMediaType(got)
		if err != nil {
			t.Errorf("ParseMediaType(%q): %v", got, err)
			continue
		}
		want := map[string]string{}
		for k, v := range tt.params {
			want[strings.ToLower(k)] = v
		}
		if mt != strings.ToLower(tt.t) || !reflect.DeepEqual(params, want) {
			t.Errorf("ParseMediaType(%q) = %q %v, want %q %v", got, mt, params, strings.ToLower(tt.t), want)
		}
	}
}

// An attachment's file name with "*", "'" or "%" is quoted in both header
// fields, and a mail reader gets the name back.
func TestAttachmentNameQuoting(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"we*ird.txt", "it's.txt", "100%.txt", "plain.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		attach  string
		name    string // the name the recipient sees
		ct, cd  string // the header lines
		encoded bool   // RFC 2231 (the lines are then not checked)
	}{
		{attach: `{{attach "we*ird.txt"}}`, name: "we*ird.txt",
			ct: `Content-Type: text/plain; charset=utf-8; name="we*ird.txt"`, cd: `Content-Disposition: attachment; filename="we*ird.txt"`},
		{attach: `{{attach "it's.txt"}}`, name: "it's.txt",
			ct: `Content-Type: text/plain; charset=utf-8; name="it's.txt"`, cd: `Content-Disposition: attachment; filename="it's.txt"`},
		{attach: `{{attach "100%.txt"}}`, name: "100%.txt",
			ct: `Content-Type: text/plain; charset=utf-8; name="100%.txt"`, cd: `Content-Disposition: attachment; filename="100%.txt"`},
		{attach: `{{attach "plain.txt" "name=r*sum%.pdf"}}`, name: "r*sum%.pdf",
			ct: `Content-Type: application/pdf; name="r*sum%.pdf"`, cd: `Content-Disposition: attachment; filename="r*sum%.pdf"`},
		{attach: `{{attach "plain.txt"}}`, name: "plain.txt",
			ct: `Content-Type: text/plain; charset=utf-8; name=plain.txt`, cd: `Content-Disposition: attachment; filename=plain.txt`},
		{attach: `{{attach "plain.txt" "name=Résumé*.pdf"}}`, name: "Résumé*.pdf", encoded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustRender(t, dir, mimeEnv+"\nbody\n"+tt.attach, mimeOptions(nil))
			if !tt.encoded {
				for _, l := range []string{tt.ct, tt.cd} {
					if !strings.Contains(out, "\r\n"+l+"\r\n") {
						t.Errorf("no line %q in\n%s", l, out)
					}
				}
			}
			r, err := mail.CreateReader(strings.NewReader(out))
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
				if h, ok := p.Header.(*mail.AttachmentHeader); ok {
					name, err := h.Filename()
					if err != nil {
						t.Fatal(err)
					}
					_, params, _ := h.ContentType()
					names = append(names, name, params["name"])
				}
			}
			if want := []string{tt.name, tt.name}; !reflect.DeepEqual(names, want) {
				t.Errorf("go-message reads file names %q, want %q", names, want)
			}
		})
	}
}
