package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// TLSMode says how a connection is protected.
type TLSMode string

const (
	// TLSStartTLS connects in clear and upgrades with STARTTLS (RFC 3207),
	// failing if the server does not offer it.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit starts TLS as soon as the TCP connection is up (RFC 8314).
	TLSImplicit TLSMode = "implicit"
	// TLSNone never starts TLS.
	TLSNone TLSMode = "none"
)

// ParseTLSMode parses "starttls", "implicit" or "none" (any case).
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case TLSStartTLS, TLSImplicit, TLSNone:
		return m, nil
	}
	return "", fmt.Errorf("unknown TLS mode %q (want starttls, implicit or none)", s)
}

// Default ports for the URL schemes.
const (
	DefaultSubmissionPort  = "587" // smtp:// (STARTTLS)
	DefaultSubmissionsPort = "465" // smtps:// (implicit TLS)
	DefaultLMTPPort        = "24"  // lmtp:// (RFC 2033)
)

// Endpoint is a parsed server URL.
type Endpoint struct {
	Scheme string  // "smtp", "smtps" or "lmtp"
	Host   string  // host name or IP address, without brackets ("" for a Unix socket)
	Port   string  // numeric port ("" for a Unix socket)
	TLS    TLSMode // the scheme's TLS mode
	// Socket is the path of a Unix socket (lmtp:/path/to/socket); "" for TCP.
	Socket string
}

// LMTP reports whether the endpoint speaks LMTP (RFC 2033) rather than SMTP.
func (e Endpoint) LMTP() bool { return e.Scheme == "lmtp" }

// network returns the Go network name to dial.
func (e Endpoint) network() string {
	if e.Socket != "" {
		return "unix"
	}
	return "tcp"
}

// ParseURL parses a server URL: smtp://host[:port] means STARTTLS (default
// port 587), smtps://host[:port] implicit TLS (default port 465),
// lmtp://host[:port] LMTP (RFC 2033) without TLS (default port 24) and
// lmtp:/path/to/socket (or lmtp:///path) LMTP over a Unix socket. IPv6
// addresses go in brackets (smtp://[::1]:25). A bare "host:port" or "host"
// is read as smtp://. User information, paths, queries and fragments are
// refused: credentials never travel in a URL.
//
// No error shows user information: a URL that has any (any "@") is refused
// before it is parsed, and the message shows it without.
func ParseURL(s string) (Endpoint, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return Endpoint{}, errors.New("empty server URL")
	}
	if rest, ok := cutPrefixFold(raw, "lmtp:"); ok && strings.HasPrefix(strings.TrimPrefix(rest, "//"), "/") {
		path := strings.TrimPrefix(rest, "//")
		if strings.ContainsAny(path, "?#\x00") || path == "/" {
			return Endpoint{}, fmt.Errorf("bad server URL %q: want lmtp:/path/to/socket", s)
		}
		return Endpoint{Scheme: "lmtp", TLS: TLSNone, Socket: path}, nil
	}
	if !strings.Contains(raw, "://") {
		raw = "smtp://" + raw
	}
	// A host name has no "@": whatever precedes the last one is user
	// information, wherever url.Parse would have put it (a password may hold
	// "/", "?", "#", "@" or a bad escape). Drop it before anything formats
	// the URL.
	if i := strings.LastIndexByte(raw, '@'); i >= 0 {
		shown := raw[i+1:]
		// Keep the scheme when it is one: letters before a "://" that
		// comes before the user information.
		if j := strings.Index(raw, "://"); j > 0 && j < i && isSchemeName(raw[:j]) {
			shown = raw[:j] + "://" + shown
		}
		return Endpoint{}, fmt.Errorf("bad server URL %q: user information is not allowed in the URL (give the user name with --user and the password with --password-env)", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error's text repeats the input: show the cause alone.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Endpoint{}, fmt.Errorf("bad server URL %q: %v", s, err)
	}
	var e Endpoint
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		e = Endpoint{Scheme: "smtp", Port: DefaultSubmissionPort, TLS: TLSStartTLS}
	case "smtps":
		e = Endpoint{Scheme: "smtps", Port: DefaultSubmissionsPort, TLS: TLSImplicit}
	case "lmtp":
		e = Endpoint{Scheme: "lmtp", Port: DefaultLMTPPort, TLS: TLSNone}
	default:
		return Endpoint{}, fmt.Errorf("bad server URL %q: unknown scheme %q (want smtp, smtps or lmtp)", s, u.Scheme)
	}
	if u.User != nil {
		// Not reached ("@" is refused above); kept as a second guard.
		return Endpoint{}, fmt.Errorf("bad server URL %q: user information is not allowed in the URL (give the user name with --user and the password with --password-env)", u.Redacted())
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Endpoint{}, fmt.Errorf("bad server URL %q: want scheme://host[:port] only", s)
	}
	e.Host = u.Hostname()
	if e.Host == "" {
		return Endpoint{}, fmt.Errorf("bad server URL %q: no host", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Endpoint{}, fmt.Errorf("bad server URL %q: bad port %q", s, p)
		}
		e.Port = strconv.Itoa(n)
	} else if strings.HasSuffix(u.Host, ":") {
		return Endpoint{}, fmt.Errorf("bad server URL %q: empty port", s)
	}
	return e, nil
}

// Addr returns the endpoint as host:port, with IPv6 addresses in brackets,
// or the path of its Unix socket.
func (e Endpoint) Addr() string {
	if e.Socket != "" {
		return e.Socket
	}
	return net.JoinHostPort(e.Host, e.Port)
}

// String returns the endpoint as a URL, e.g. "smtps://mail.example.com:465"
// or "lmtp:/run/dovecot/lmtp".
func (e Endpoint) String() string {
	if e.Socket != "" {
		return e.Scheme + ":" + e.Socket
	}
	return e.Scheme + "://" + e.Addr()
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// LoadCAFile reads PEM certificates from path into a new pool, for
// [Config.RootCAs]. A file with no certificate in it is an error.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}

// isSchemeName reports whether s has the form of a URL scheme (RFC 3986:
// a letter, then letters, digits, "+", "-" or ".").
func isSchemeName(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}
