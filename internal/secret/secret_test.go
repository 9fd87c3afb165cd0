package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const pw = "hunter2-Secret"
	s := New(pw)
	type wrapper struct {
		User     string
		Password Secret
	}
	w := wrapper{"alice", s}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, w), fmt.Sprintf(verb, &w))
	}
	j, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("login", "password", s, "w", w)
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("login", "password", s)
	outs = append(outs, sb.String())
	for _, o := range outs {
		if strings.Contains(o, pw) || strings.Contains(o, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret leaked: %s", o)
		}
	}
	if s.Reveal() != pw {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
	if New("").String() != "" || s.String() != Redacted {
		t.Fatalf("String forms wrong")
	}
}
