package template

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
)

// goMessageField is what go-message writes for the field k: v, or ok false
// when it fails or panics.
func goMessageField(k, v string) (raw string, ok bool) {
	defer func() {
		if recover() != nil {
			raw, ok = "", false
		}
	}()
	var h textproto.Header
	h.Add(k, v)
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return "", false
	}
	return strings.TrimSuffix(b.String(), "\r\n"), true
}

// formatField writes header fields byte for byte as go-message does.
func TestFormatFieldMatchesGoMessage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "xyz", " ", " ", "\t", "=?utf-8?q?", "\u00e9", strings.Repeat("w", 80), strings.Repeat("v", 1000), ",", "<", "@"}
	keys := []string{"Subject", "X-A", "to", strings.Repeat("K", 70), "Content-Type"}
	check := func(k, v string) {
		t.Helper()
		want, ok := goMessageField(k, v)
		if !ok {
			return
		}
		if got := formatField(canonicalKey(k), v); got != want {
			t.Fatalf("formatField(%q, %q):\n got %q\nwant %q", k, v, got, want)
		}
	}
	for _, v := range []string{"", " ", "a", " a", "a ", strings.Repeat("a ", 100), strings.Repeat(" ", 200), strings.Repeat("x", 2000), "\ta\tb"} {
		for _, k := range keys {
			check(k, v)
		}
	}
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for n := r.IntN(60); n > 0; n-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		check(keys[r.IntN(len(keys))], b.String())
	}
}

func canonicalKey(k string) string {
	var h textproto.Header
	h.Add(k, "")
	f := h.Fields()
	f.Next()
	return f.Key()
}

// A header field of a megabyte is formatted in linear time (go-message's
// own formatting is quadratic: seconds for this).
func TestFormatFieldLinear(t *testing.T) {
	v := strings.Repeat("word ", 200_000)
	start := time.Now()
	raw, ok := formatFieldChecked("Subject", v)
	if !ok || !strings.HasPrefix(raw, "Subject: word word") {
		t.Fatalf("not formatted: ok %v", ok)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// chooseEncodingSlow is the byte-at-a-time definition of chooseEncoding.
func chooseEncodingSlow(body []byte) string {
	unsafe, lineLen, long := 0, 0, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\r' && i+1 < len(body) && body[i+1] == '\n':
			i++
			lineLen = 0
			continue
		case c >= 0x80 || c < 0x20 && c != '\t' || c == 0x7f:
			unsafe++
		}
		lineLen++
		if lineLen > 998 {
			long = true
		}
	}
	switch {
	case unsafe == 0 && !long:
		return "7bit"
	case unsafe > len(body)/4:
		return "base64"
	}
	return "quoted-printable"
}

// normalizeTextSlow is the byte-at-a-time definition of normalizeText.
func normalizeTextSlow(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			out = append(out, '\r', '\n')
			continue
		}
		out = append(out, c)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}

func TestNormalizeAndEncodingMatchDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "\r", "\n", "\r\n", "\t", "\x7f", "\x00", "é", " ", strings.Repeat("x", 500), "\n\r"}
	for i := 0; i < 5000; i++ {
		var b strings.Builder
		for n := r.IntN(12); n > 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		got, enc := normalizeText([]byte(s))
		if want := normalizeTextSlow(s); !bytes.Equal(got, want) {
			t.Fatalf("normalizeText(%q) = %q, want %q", s, got, want)
		}
		if want := chooseEncodingSlow(got); enc != want {
			t.Fatalf("encoding of %q: %s, want %s", got, enc, want)
		}
		if got, want := chooseEncoding([]byte(s)), chooseEncodingSlow([]byte(s)); got != want {
			t.Fatalf("chooseEncoding(%q) = %s, want %s", s, got, want)
		}
	}
}
