package capture

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// certLifetime is how long a throwaway certificate made by NewSelfSigned is
// valid.
const certLifetime = 90 * 24 * time.Hour

// defaultCertHosts are the names a Server's throwaway certificate is valid
// for when Config.TLSConfig is nil.
var defaultCertHosts = []string{"localhost", "127.0.0.1", "::1"}

// NewSelfSigned makes a throwaway self-signed certificate (ECDSA P-256, valid
// for 90 days from a few minutes ago) for the given host names and IP
// addresses, and a pool that trusts it. Arguments that parse as IP addresses
// go into the IP subject alternative names, the others into the DNS names.
// It fails if no host is given.
func NewSelfSigned(hosts ...string) (tls.Certificate, *x509.CertPool, error) {
	cert, pool, _, err := newSelfSigned(time.Now(), hosts)
	return cert, pool, err
}

// newSelfSigned is NewSelfSigned with an injectable clock; it also returns the
// certificate in PEM form.
func newSelfSigned(now time.Time, hosts []string) (tls.Certificate, *x509.CertPool, []byte, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, nil, nil, errors.New("capture: self-signed certificate needs at least one host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("capture: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("capture: generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"mailscript"},
			CommonName:   "mailscript capture throwaway certificate",
		},
		NotBefore: now.Add(-5 * time.Minute),
		NotAfter:  now.Add(certLifetime),
		// A self-signed certificate that is its own trust anchor, shaped like
		// `openssl req -x509` output so that OpenSSL-based clients accept it
		// as a CA file too.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("capture: creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("capture: parsing certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cert := tls.Certificate{
		Certificate: [][]byte{der},
		PrivateKey:  key,
		Leaf:        leaf,
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return cert, pool, certPEM, nil
}
