package transport

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mailscript/mailscript/internal/secret"
)

// secretForms returns the strings that must never appear in any output for
// password pass of user: the password, the base64 of the AUTH PLAIN and
// LOGIN payloads, and, for every alignment of the password inside a longer
// base64 stream, the run of base64 characters that depends on it alone
// (trimmed generously at both ends).
func secretForms(user, pass string) []string {
	b64 := base64.StdEncoding.EncodeToString
	forms := []string{
		pass,
		b64([]byte(pass)),
		b64([]byte("\x00" + user + "\x00" + pass)),
		b64([]byte(user + "\x00" + user + "\x00" + pass)),
	}
	for k := 0; k < 3; k++ {
		enc := b64([]byte(strings.Repeat("\xff", k) + pass))
		if len(enc) > 8 {
			forms = append(forms, enc[3:len(enc)-4])
		}
	}
	return forms
}

func assertNoSecret(t *testing.T, what, text, user, pass string) {
	t.Helper()
	for _, f := range secretForms(user, pass) {
		if strings.Contains(text, f) {
			t.Errorf("%s contains the secret form %q:\n%s", what, f, text)
		}
	}
}

func TestScrubber(t *testing.T) {
	pass := "correct horse battery staple"
	s := newScrubber(secret.New(pass))
	b64 := base64.StdEncoding.EncodeToString
	for _, text := range []string{
		pass,
		"password is " + pass + "!",
		b64([]byte(pass)),
		b64([]byte("\x00alice\x00" + pass)),
		b64([]byte("\x00al\x00" + pass)),
		b64([]byte("\x00ali\x00" + pass)),
		"501 bad " + b64([]byte("x\x00"+pass+"\x00tail")),
	} {
		got := s.String(text)
		if !strings.Contains(got, secret.Redacted) {
			t.Errorf("scrub(%q) = %q: nothing masked", text, got)
		}
		assertNoSecret(t, "scrubbed text", got, "alice", pass)
	}
	if got := s.String("nothing to see"); got != "nothing to see" {
		t.Errorf("scrub changed clean text: %q", got)
	}
	// Short secrets are not scrubbed (they would mask everything), and the
	// zero scrubber changes nothing.
	if got := newScrubber(secret.New("ab")).String("abc"); got != "abc" {
		t.Errorf("2-character secret scrubbed: %q", got)
	}
	if got := newScrubber(secret.Secret{}).String("abc"); got != "abc" {
		t.Errorf("empty secret scrubbed: %q", got)
	}
}
