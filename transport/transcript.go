package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailscript/mailscript/internal/secret"
)

// Transcript markers, as swaks prints them.
const (
	markClient    = "->"  // a line the client sent in clear
	markServer    = "<-"  // a line the server sent in clear
	markClientTLS = "~>"  // a line the client sent inside TLS
	markServerTLS = "<~"  // a line the server sent inside TLS
	markNote      = "===" // a note from mailscript
	markError     = "***" // an error
	markDecoded   = "##"  // the decoded form of the SASL line above, secrets masked
)

// transcript writes the human-readable session log. Every line but the
// decoded SASL lines (which the mechanism masks itself) goes through the
// scrubber. A nil *transcript writes nothing. Write errors are ignored: a
// broken log must not break the session.
type transcript struct {
	mu    sync.Mutex
	w     io.Writer
	scrub *scrubber
	tls   bool // inside TLS: use the ~> <~ markers
	// now, when set, prefixes each line with the time (Config.Timestamps).
	now func() time.Time
	// body logs the message body too (Config.TranscriptBody).
	body bool
}

func newTranscript(w io.Writer, s *scrubber) *transcript {
	if w == nil {
		return nil
	}
	return &transcript{w: w, scrub: s}
}

func (t *transcript) write(mark, text string, scrub bool) {
	if t == nil {
		return
	}
	if scrub {
		text = t.scrub.String(text)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	line := mark
	if t.now != nil {
		line = t.now().Format("15:04:05.000") + " " + mark
	}
	if text != "" {
		line += " " + text
	}
	io.WriteString(t.w, line+"\n")
}

func (t *transcript) setTLS(on bool) {
	if t != nil {
		t.tls = on
	}
}

// client logs a line the client sent.
func (t *transcript) client(line string) {
	if t == nil {
		return
	}
	if t.tls {
		t.write(markClientTLS, line, true)
	} else {
		t.write(markClient, line, true)
	}
}

// server logs a line the server sent.
func (t *transcript) server(line string) {
	if t == nil {
		return
	}
	if t.tls {
		t.write(markServerTLS, line, true)
	} else {
		t.write(markServer, line, true)
	}
}

func (t *transcript) notef(format string, args ...any) {
	t.write(markNote, fmt.Sprintf(format, args...), true)
}

func (t *transcript) error(err error) { t.write(markError, err.Error(), true) }

// decoded logs the masked description of a SASL step. It is not scrubbed:
// the mechanism's Describer masks it, and scrubbing a short password could
// mangle its labels ("password: ").
func (t *transcript) decoded(text string) { t.write(markDecoded, text, false) }

// tlsNote describes an established TLS connection.
func tlsNote(version uint16, cipher uint16, peer *x509.Certificate) string {
	s := fmt.Sprintf("TLS started with %s, cipher %s", strings.Replace(tls.VersionName(version), "TLS ", "TLSv", 1), tls.CipherSuiteName(cipher))
	if peer != nil {
		name := peer.Subject.CommonName
		if name == "" && len(peer.DNSNames) > 0 {
			name = peer.DNSNames[0]
		}
		s += fmt.Sprintf(", peer CN=%s, issuer CN=%s, expires %s", name, peer.Issuer.CommonName, peer.NotAfter.UTC().Format(time.RFC3339))
	}
	return s
}

// scrubber removes a password, and its base64 forms at every alignment,
// from text that did not come from a mechanism's Describer (server
// replies, errors, message headers). It is a second line of defence: the
// AUTH lines are masked structurally before they reach it. Fragments
// shorter than 4 characters are not scrubbed (they would mask everything);
// a short password is still covered by the exact wire encodings of the
// secret-bearing SASL responses (see addWire), which hold the user name
// too.
type scrubber struct {
	mu      sync.RWMutex
	needles []string // longest first
}

const minNeedle = 4

func newScrubber(secrets ...secret.Secret) *scrubber {
	s := &scrubber{}
	for _, sec := range secrets {
		s.addSecret(sec.Reveal())
	}
	return s
}

// addSecret adds p and the base64 runs that depend on it alone.
func (s *scrubber) addSecret(p string) {
	s.add(p)
	for k := 0; k < 3; k++ {
		// The password preceded by k bytes: keep only the base64 characters
		// that depend on the password alone.
		buf := make([]byte, k, k+len(p))
		buf = append(buf, p...)
		enc := base64.RawStdEncoding.EncodeToString(buf)
		skip := [3]int{0, 2, 3}[k]
		end := len(buf) * 8 / 6
		if end > skip {
			s.add(enc[skip:end])
		}
	}
}

// add adds a needle of at least minNeedle characters, keeping the longest
// first.
func (s *scrubber) add(n string) {
	if len(n) < minNeedle {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.needles {
		if have == n {
			return
		}
	}
	s.needles = append(s.needles, n)
	sort.SliceStable(s.needles, func(i, j int) bool { return len(s.needles[i]) > len(s.needles[j]) })
}

// addWire adds the exact wire forms of a SASL response that carries a
// secret: its base64, padded and unpadded. A server that echoes the line
// back is then masked even when the password is too short to scrub.
func (s *scrubber) addWire(resp []byte) {
	if s == nil || len(resp) == 0 {
		return
	}
	s.add(base64.StdEncoding.EncodeToString(resp))
	s.add(base64.RawStdEncoding.EncodeToString(resp))
}

// String returns text with every needle replaced by secret.Redacted.
func (s *scrubber) String(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.needles {
		text = strings.ReplaceAll(text, n, secret.Redacted)
	}
	return text
}
