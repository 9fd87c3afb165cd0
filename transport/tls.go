package transport

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrPinMismatch: the server's certificate does not have the SHA-256
// fingerprint given in Config.PinSHA256.
var ErrPinMismatch = errors.New("server certificate does not match the pinned SHA-256 fingerprint")

// LoadClientCert reads a PEM certificate (chain) and its private key, for
// Config.ClientCerts (EXTERNAL, or servers that require a client
// certificate).
func LoadClientCert(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate: %w", err)
	}
	return c, nil
}

// ParseFingerprint reads a SHA-256 fingerprint in hex, with or without
// colons (or spaces), any case, as `openssl x509 -fingerprint -sha256`
// prints it ("SHA256 Fingerprint=AB:CD:..." is accepted too).
func ParseFingerprint(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if _, after, ok := strings.Cut(t, "="); ok {
		t = after
	}
	t = strings.NewReplacer(":", "", " ", "", "-", "").Replace(t)
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("bad SHA-256 fingerprint %q: want 64 hex digits, with or without colons", s)
	}
	return b, nil
}

// Fingerprint returns the SHA-256 fingerprint of a certificate as colon
// separated upper-case hex, the form ParseFingerprint reads.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// tlsSetup is the TLS configuration of a session and how to judge it.
type tlsSetup struct {
	config *tls.Config
	pinned bool // verified by fingerprint instead of the chain
	skip   bool // not verified at all (Config.InsecureSkipVerify)
}

// tlsConfig builds the TLS configuration from cfg. With pins, the chain is
// not verified but the leaf must match one of them (VerifyConnection), so
// that self-signed servers can be used safely.
func tlsConfig(cfg Config) (*tlsSetup, error) {
	name := cfg.ServerName
	if name == "" {
		name = cfg.Endpoint.Host
	}
	min := cfg.MinTLSVersion
	if min == 0 {
		min = tls.VersionTLS12
	}
	tc := &tls.Config{
		ServerName:   name,
		RootCAs:      cfg.RootCAs,
		MinVersion:   min,
		Certificates: cfg.ClientCerts,
	}
	s := &tlsSetup{config: tc}
	if len(cfg.PinSHA256) > 0 {
		var pins [][]byte
		for _, p := range cfg.PinSHA256 {
			b, err := ParseFingerprint(p)
			if err != nil {
				return nil, err
			}
			pins = append(pins, b)
		}
		s.pinned = true
		tc.InsecureSkipVerify = true // the pin replaces the chain
		tc.VerifyConnection = func(st tls.ConnectionState) error {
			if len(st.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			sum := sha256.Sum256(st.PeerCertificates[0].Raw)
			for _, p := range pins {
				if bytes.Equal(p, sum[:]) {
					return nil
				}
			}
			return fmt.Errorf("%w (it has %s)", ErrPinMismatch, Fingerprint(st.PeerCertificates[0]))
		}
	} else if cfg.InsecureSkipVerify {
		s.skip = true
		tc.InsecureSkipVerify = true
	}
	return s, nil
}

// TLSInfo describes an established TLS connection, for [ProbeResult] and
// the CLI's --json.
type TLSInfo struct {
	Version     string    `json:"version"` // e.g. "TLSv1.3"
	Cipher      string    `json:"cipher"`
	ServerName  string    `json:"server_name"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	DNSNames    []string  `json:"dns_names,omitempty"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	DaysLeft    int       `json:"days_left"`   // until NotAfter, negative when expired
	Fingerprint string    `json:"fingerprint"` // SHA-256 of the leaf, colon-separated hex
	// Verified says how the certificate was checked: "chain" (against the
	// roots), "pin" (by fingerprint) or "none" (InsecureSkipVerify).
	Verified string `json:"verified"`
	// ChainError is why the chain does not verify against the roots when it
	// was not the check used (pin or none), "" when it does verify.
	ChainError string `json:"chain_error,omitempty"`
}

// newTLSInfo describes st; setup says how it was checked.
func newTLSInfo(st tls.ConnectionState, setup *tlsSetup, now time.Time) *TLSInfo {
	info := &TLSInfo{
		Version:    strings.Replace(tls.VersionName(st.Version), "TLS ", "TLSv", 1),
		Cipher:     tls.CipherSuiteName(st.CipherSuite),
		ServerName: setup.config.ServerName,
		Verified:   "chain",
	}
	switch {
	case setup.pinned:
		info.Verified = "pin"
	case setup.skip:
		info.Verified = "none"
	}
	if len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		info.Subject = leaf.Subject.String()
		info.Issuer = leaf.Issuer.String()
		info.DNSNames = leaf.DNSNames
		info.NotBefore, info.NotAfter = leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
		info.DaysLeft = int(leaf.NotAfter.Sub(now).Hours() / 24)
		if leaf.NotAfter.Before(now) {
			info.DaysLeft = -int(now.Sub(leaf.NotAfter).Hours()/24) - 1
		}
		info.Fingerprint = Fingerprint(leaf)
		if info.Verified != "chain" {
			opts := x509.VerifyOptions{Roots: setup.config.RootCAs, DNSName: setup.config.ServerName, Intermediates: x509.NewCertPool()}
			for _, c := range st.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			if _, err := leaf.Verify(opts); err != nil {
				info.ChainError = err.Error()
			}
		}
	}
	return info
}
