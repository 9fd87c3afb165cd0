// Package secret holds credentials in a type that cannot be printed by
// accident: every formatting path (fmt's %v/%s/%#v, JSON, slog) redacts it.
// Only Reveal returns the value, so every use of the plain text is greppable.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what every print path shows instead of a secret's value.
const Redacted = "********"

// Secret is a password, token or other credential. The zero value is empty.
type Secret struct {
	v string
}

// New wraps s as a Secret.
func New(s string) Secret { return Secret{v: s} }

// Reveal returns the plain value. Call it only where the value goes on the
// wire or into a cryptographic function.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String returns Redacted (or "" for an empty secret).
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString returns a redacted Go syntax form, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("secret.Secret(%q)", s.String()) }

// Format implements fmt.Formatter so that every verb (%x and %q included)
// prints the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
	}
	fmt.Fprint(f, s.String())
}

// MarshalJSON encodes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.String())), nil }

// MarshalText encodes the redacted form (YAML, XML, encoding.TextMarshaler users).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
