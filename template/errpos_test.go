package template

import (
	"strings"
	"testing"
)

// Parse errors that text/template reports with a line only, or with its
// own internal names, come out as FILE:LINE:COL at the offending spot.
func TestParseErrorPositions(t *testing.T) {
	const fm = "---\nfrom: a@example.com\nto: b@example.com\n---\n\nok\n"
	for _, tc := range []struct{ name, body, want string }{
		{"unclosed action at the end", "x {{ .a ", "t.tmpl:7:3: unclosed action: this {{ has no matching }}"},
		{"unexpected token after a string", `{{attach "report.bin" "name=a"b.pdf"}}`, `t.tmpl:7:31: unexpected "b" in operand`},
		{"unclosed if", "{{if .a}}\nyes\n", "t.tmpl:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.tmpl", []byte(fm+tc.body))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "mailscript.") {
				t.Errorf("internal template name leaked: %s", err)
			}
		})
	}
}
