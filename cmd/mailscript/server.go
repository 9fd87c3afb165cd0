package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/mailscript/mailscript/internal/capture"
	"github.com/mailscript/mailscript/transport"
	"github.com/mailscript/mailscript/transport/auth"
)

// connectHint is the hint for a server that could not be reached.
const connectHint = "is the server running and the port right? smtp:// means STARTTLS (587), smtps:// implicit TLS (465)"

// untrustedCert reports whether err is a failure to verify the server's
// certificate.
func untrustedCert(err error) bool {
	return errors.As(err, new(x509.UnknownAuthorityError)) || errors.As(err, new(x509.HostnameError)) || errors.As(err, new(x509.CertificateInvalidError))
}

// unknownMechanism is the usage error for an --auth mechanism that the
// client does not know.
func unknownMechanism(given string) error {
	return usageErrorf("--auth: unknown mechanism %q (known: auto, %s)", given, strings.ToLower(strings.Join(auth.Mechanisms(), ", ")))
}

// startLocalCapture starts the built-in capture server on a loopback port,
// storing messages in maildir, and points cfg at it: STARTTLS verified
// against the server's throwaway certificate. onDeliver (may be nil) is
// called for each stored message. stop shuts the server down.
func startLocalCapture(cfg *transport.Config, maildir string, onDeliver func(capture.Delivery)) (stop func(), err error) {
	srv, err := capture.Start(capture.Config{
		Addr:      "127.0.0.1:0",
		Maildir:   maildir,
		OnDeliver: onDeliver,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the local capture server: %w", err)
	}
	cfg.Endpoint, _ = transport.ParseURL("smtp://" + srv.Addr())
	cfg.TLS = transport.TLSStartTLS
	cfg.RootCAs = srv.RootCAs()
	cfg.PinSHA256 = nil
	cfg.InsecureSkipVerify = false
	return func() { srv.Close() }, nil
}

// openSession readies cfg for a session of "send" or "batch": when local,
// it starts the built-in capture server (storing into maildir, calling
// onDeliver) and points cfg at it; then it opens the transcript and prints
// the TLS flags' warnings. done closes the transcript, then stops the
// capture server.
func (o *sendOptions) openSession(e *env, cfg *transport.Config, local bool, maildir string, onDeliver func(capture.Delivery)) (done func(), err error) {
	stop := func() {}
	if local {
		if stop, err = startLocalCapture(cfg, maildir, onDeliver); err != nil {
			return nil, err
		}
	}
	closeTranscript, err := o.openTranscript(e, cfg)
	if err != nil {
		stop()
		return nil, err
	}
	o.tls.warn(e.stderr)
	return func() {
		closeTranscript()
		stop()
	}, nil
}
