package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Capabilities are the extensions of an EHLO reply.
type Capabilities struct {
	Size         int64    `json:"size,omitempty"` // SIZE limit; 0 = none declared
	SizeOffered  bool     `json:"size_offered"`
	Pipelining   bool     `json:"pipelining"`
	EightBitMIME bool     `json:"8bitmime"`
	SMTPUTF8     bool     `json:"smtputf8"`
	DSN          bool     `json:"dsn"`
	Chunking     bool     `json:"chunking"`
	StartTLS     bool     `json:"starttls"`
	Enhanced     bool     `json:"enhancedstatuscodes"`
	Auth         []string `json:"auth"` // from AUTH and AUTH= lines, upper case
	// Keywords lists every keyword with its parameters, as "KEYWORD params".
	Keywords []string `json:"keywords"`
}

func newCapabilities(ext map[string]string, mechs []string) *Capabilities {
	if ext == nil {
		return nil
	}
	c := &Capabilities{Auth: append([]string{}, mechs...)}
	for k, v := range ext {
		kw := k
		if v != "" {
			kw += " " + v
		}
		c.Keywords = append(c.Keywords, kw)
		switch k {
		case "SIZE":
			c.SizeOffered = true
			c.Size, _ = strconv.ParseInt(v, 10, 64)
		case "PIPELINING":
			c.Pipelining = true
		case "8BITMIME":
			c.EightBitMIME = true
		case "SMTPUTF8":
			c.SMTPUTF8 = true
		case "DSN":
			c.DSN = true
		case "CHUNKING":
			c.Chunking = true
		case "STARTTLS":
			c.StartTLS = true
		case "ENHANCEDSTATUSCODES":
			c.Enhanced = true
		}
	}
	sort.Strings(c.Keywords)
	return c
}

// ProbeResult is what [Probe] found. Fields are nil when the session did not
// get that far.
type ProbeResult struct {
	Endpoint string `json:"endpoint"`
	// Banner is the greeting.
	Banner *Reply `json:"banner,omitempty"`
	// Clear is the EHLO reply before TLS (nil with implicit TLS);
	// Secure the one inside TLS (nil without TLS).
	Clear  *Capabilities `json:"ehlo_clear,omitempty"`
	Secure *Capabilities `json:"ehlo_tls,omitempty"`
	// TLS describes the TLS connection and the server's certificate; it is
	// filled in from the handshake even when the certificate was refused.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Auth is the mechanism a login was tried with ("" = none tried), and
	// AuthOK whether it succeeded.
	Auth   string `json:"auth,omitempty"`
	AuthOK bool   `json:"auth_ok"`
	// Error is why the probe failed, nil when everything worked.
	Error *Error `json:"error,omitempty"`
	// Elapsed is how long the probe took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Probe is a health check for `mailscript probe`: it connects as Dial does
// (TLS as configured), reads the banner, sends EHLO (and again after
// STARTTLS), describes the TLS connection and certificate, tries a login
// when cfg.Mechanism is set, and sends QUIT. Nothing is sent beyond that
// (cfg.QuitAfter is ignored).
//
// The result is filled in as far as the session got, also on error; the
// error (also in ProbeResult.Error) is an [*Error].
func Probe(ctx context.Context, cfg Config) (*ProbeResult, error) {
	start := time.Now()
	cfg.QuitAfter = ""
	if cfg.Mechanism == "" {
		cfg.QuitAfter = StageTLS
	}
	now := time.Now
	if cfg.now != nil {
		now = cfg.now
	}
	res := &ProbeResult{Endpoint: cfg.Endpoint.String()}
	c, err := dial(ctx, cfg)
	if c != nil {
		res.Banner = c.greeting
		if c.clearExt != nil {
			res.Clear = newCapabilities(c.clearExt, c.clearMech)
		}
		if c.c.tlsConn != nil {
			res.TLS = newTLSInfo(c.c.tlsConn.ConnectionState(), c.c.tlsSetup, now())
			res.Secure = newCapabilities(c.ext, c.mechs)
		}
		if cfg.Mechanism != "" && c.authMech != "" {
			res.Auth, res.AuthOK = c.authMech, true
		}
	}
	if err != nil {
		var e *Error
		errors.As(err, &e)
		res.Error = e
		if cfg.Mechanism != "" && e.Stage == StageAuth {
			res.Auth = strings.ToUpper(cfg.Mechanism)
			if c != nil && c.authTried != "" {
				res.Auth = c.authTried // what AUTO chose
			}
		}
		// A refused certificate is still worth describing.
		var cv *tls.CertificateVerificationError
		if res.TLS == nil && errors.As(err, &cv) && len(cv.UnverifiedCertificates) > 0 {
			setup, _ := tlsConfig(cfg)
			res.TLS = newTLSInfo(tls.ConnectionState{PeerCertificates: cv.UnverifiedCertificates}, setup, now())
			res.TLS.Version, res.TLS.Cipher, res.TLS.Verified = "", "", "failed"
			res.TLS.ChainError = cv.Err.Error()
		}
		res.Elapsed = time.Since(start)
		return res, err
	}
	err = c.Close()
	res.Elapsed = time.Since(start)
	if err != nil {
		var e *Error
		errors.As(err, &e)
		res.Error = e
		return res, err
	}
	return res, nil
}
