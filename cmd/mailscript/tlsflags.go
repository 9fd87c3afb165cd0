package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/mailscript/mailscript/transport"
)

// tlsFlags are the TLS flags shared by the commands that connect to a
// server (send, probe). Register them once per FlagSet with register, then
// apply them to the transport configuration; an empty field means the flag
// was not given (so a caller can merge with a profile or front matter).
type tlsFlags struct {
	mode       string  // --tls: starttls, implicit or none ("" = from the URL scheme)
	ca         string  // --tls-ca FILE
	insecure   bool    // --tls-insecure
	cert, key  string  // --tls-cert FILE, --tls-key FILE
	min        string  // --tls-min 1.2|1.3
	pins       pinList // --tls-pin SHA256, repeatable
	serverName string  // --tls-servername NAME
}

// register defines the TLS flags on fs.
func (t *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.mode, "tls", "", "TLS `MODE`: starttls, implicit or none (default from the URL scheme: smtp:// STARTTLS, smtps:// implicit)")
	fs.StringVar(&t.ca, "tls-ca", "", "verify the server with the CA certificates in `FILE` (PEM) instead of the system roots")
	fs.BoolVar(&t.insecure, "tls-insecure", false, "do NOT verify the server's certificate (anyone on the path can read the session; prefer --tls-ca or --tls-pin)")
	fs.StringVar(&t.cert, "tls-cert", "", "present the client certificate in `FILE` (PEM, with --tls-key; for AUTH EXTERNAL)")
	fs.StringVar(&t.key, "tls-key", "", "the private key of --tls-cert, in `FILE` (PEM)")
	fs.StringVar(&t.min, "tls-min", "", "lowest TLS `VERSION` accepted: 1.2 or 1.3 (default 1.2)")
	fs.Var(&t.pins, "tls-pin", "accept only a server certificate with this SHA-256 `FINGERPRINT` (hex, colons optional;\nrepeatable), instead of verifying the chain: for self-signed servers")
	fs.StringVar(&t.serverName, "tls-servername", "", "check the certificate against `NAME` and send it in SNI (default: the URL's host)")
}

// apply sets the TLS fields of cfg from the flags. A bad value is a usage
// error (exit 64), a missing file exit 66, an unreadable certificate or key
// a configuration error (exit 78).
func (t *tlsFlags) apply(cfg *transport.Config) error {
	if t.mode != "" {
		m, err := transport.ParseTLSMode(t.mode)
		if err != nil {
			return usageErrorf("--tls: %v", err)
		}
		cfg.TLS = m
	}
	if t.ca != "" {
		pool, err := transport.LoadCAFile(t.ca)
		if err != nil {
			return fileError("--tls-ca", err)
		}
		cfg.RootCAs = pool
	}
	if (t.cert == "") != (t.key == "") {
		return usageErrorf("--tls-cert and --tls-key go together: give both")
	}
	if t.cert != "" {
		c, err := transport.LoadClientCert(t.cert, t.key)
		if err != nil {
			return fileError("--tls-cert", err)
		}
		cfg.ClientCerts = append(cfg.ClientCerts, c)
	}
	switch strings.TrimPrefix(strings.ToLower(t.min), "tls") {
	case "":
	case "1.2", "v1.2":
		cfg.MinTLSVersion = tls.VersionTLS12
	case "1.3", "v1.3":
		cfg.MinTLSVersion = tls.VersionTLS13
	default:
		return usageErrorf("--tls-min: unknown TLS version %q (want 1.2 or 1.3)", t.min)
	}
	for _, p := range t.pins {
		if _, err := transport.ParseFingerprint(p); err != nil {
			return withHint(usageErrorf("--tls-pin: %v", err),
				"print a server's fingerprint with: mailscript probe URL --tls-insecure (the sha256 line)")
		}
	}
	if len(t.pins) > 0 && t.insecure {
		return usageErrorf("--tls-pin and --tls-insecure exclude each other: a pin is the safe way to accept a self-signed certificate")
	}
	cfg.PinSHA256 = append(cfg.PinSHA256, t.pins...)
	cfg.InsecureSkipVerify = t.insecure
	if t.serverName != "" {
		cfg.ServerName = t.serverName
	}
	return nil
}

// warn prints the loud warning that --tls-insecure deserves (the
// transcript marks it too, but only with -v).
func (t *tlsFlags) warn(w io.Writer) {
	if t.insecure {
		fmt.Fprintln(w, "mailscript: warning: --tls-insecure: the server's certificate is NOT verified: anyone on the path can read and change this session")
	}
}

// fileError classifies an error reading a file named by flag: missing is
// exit 66, unusable exit 78.
func fileError(flagName string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &cliError{code: exitNoInput, msg: flagName, err: err}
	}
	return &cliError{code: exitConfig, msg: flagName, err: err}
}

// pinList collects the repeated --tls-pin flag.
type pinList []string

func (l *pinList) String() string { return strings.Join(*l, ",") }

func (l *pinList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
