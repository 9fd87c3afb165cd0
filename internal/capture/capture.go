// Package capture is a local SMTP server that accepts every message and
// stores it in a Maildir instead of delivering it: mailscript's built-in
// default target, the standalone `mailscript capture` tool (in the spirit of
// Postfix's smtp-sink or mailpit) and the in-process server of the tests.
//
// It is built on the server side of github.com/emersion/go-smtp and speaks
// ESMTP (RFC 5321) with PIPELINING (RFC 2920), 8BITMIME (RFC 6152), SIZE
// (RFC 1870), ENHANCEDSTATUSCODES (RFC 2034, RFC 3463), SMTPUTF8 (RFC 6531),
// CHUNKING (RFC 3030, always on in go-smtp), STARTTLS (RFC 3207) or implicit TLS (RFC 8314), and
// AUTH (RFC 4954) with PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login)
// and CRAM-MD5 (RFC 2195).
//
// Messages are stored in the Maildir format (https://cr.yp.to/proto/maildir.html):
// streamed into tmp/, synced, and renamed into new/ under a unique name
// <unixtime>.M<usec>P<pid>Q<seq>R<queueid>.<host>. One file is written per
// message, whatever the number of recipients; the stored file is
//
//	Return-Path: <sender>
//	X-Original-To: <recipient>      (one line per RCPT, in order)
//	<the message exactly as received, dot-unstuffed>
//
// with a local part that needs quoting quoted again ("john smith"@x; go-smtp
// hands it over unquoted). An envelope address with a control character
// (below 0x20, or DEL), which would otherwise reach these lines and the log,
// is refused with 553 5.1.7 (sender) or 553 5.1.3 (recipient).
//
// The server is also a strict test oracle: a message containing a bare CR or
// a bare LF (the raw material of SMTP smuggling, CVE-2023-51764 and friends)
// or a line longer than 998 octets (RFC 5322 §2.1.1) is refused with
// 550 5.6.0 and not stored.
package capture

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Defaults applied by Start to zero Config fields.
const (
	DefaultAddr            = "127.0.0.1:0"
	DefaultDomain          = "mailscript-capture"
	DefaultMaxMessageBytes = 50 << 20 // 50 MiB, advertised as SIZE
	DefaultMaxRecipients   = 1000
	DefaultMaxLineLength   = 998 // RFC 5322 §2.1.1, without CRLF
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = time.Minute
)

// shutdownGrace is how long Serve lets sessions finish after its context is
// done before cutting them.
const shutdownGrace = 5 * time.Second

// wireLineLimit is go-smtp's own limit on a line as read from the wire. It is
// far above MaxLineLength so that a long line in DATA is refused by this
// package (cleanly, the connection stays usable) rather than by go-smtp,
// which drops the connection.
const wireLineLimit = 64 << 10

// Config configures a capture server. Only Maildir is required.
type Config struct {
	// Addr is the TCP address to listen on; "" means "127.0.0.1:0" (a free
	// port on loopback, see Server.Addr).
	Addr string
	// Maildir is the root of the Maildir that receives the messages. Its
	// tmp/, new/ and cur/ directories are created (mode 0700) at the first
	// delivery, so that a server that received nothing leaves nothing behind.
	Maildir string
	// Users maps logins to passwords. If it is nil or empty any credentials
	// are accepted, but every mechanism's response must still be well formed.
	Users map[string]string
	// TLSConfig is the server's TLS configuration. If nil, the server makes a
	// throwaway self-signed certificate for localhost, 127.0.0.1 and ::1
	// (ECDSA P-256, valid 90 days); see Server.RootCAs and Server.CertPEM.
	TLSConfig *tls.Config
	// ImplicitTLS makes the server speak TLS from the first byte (smtps,
	// RFC 8314) instead of offering STARTTLS.
	ImplicitTLS bool
	// RequireAuth refuses MAIL before a successful AUTH with 530 5.7.0.
	RequireAuth bool
	// RequireTLS refuses AUTH before STARTTLS with 538 5.7.11 (RFC 4954 §6)
	// and hides the AUTH capability until then. MAIL without AUTH is not
	// affected (combine with RequireAuth for that).
	RequireTLS bool
	// Domain is the server's name in the greeting and EHLO reply and in
	// CRAM-MD5 challenges; "" means "mailscript-capture".
	Domain string
	// Log receives one line per event (connect, disconnect, auth ok/failed
	// with the mechanism and login but never a password, message stored with
	// its path, message refused, internal errors). Writes are serialised.
	// nil means silent.
	Log io.Writer
	// OnDeliver, if set, is called after each message has been stored (the
	// file is in new/) and before the client gets the 250 reply. It is called
	// from the session's goroutine, concurrently for concurrent sessions, and
	// Close waits for calls in progress.
	OnDeliver func(Delivery)

	// MaxMessageBytes is the largest message accepted, advertised as SIZE;
	// 0 means 50 MiB. Larger messages get 552 5.3.4.
	MaxMessageBytes int64
	// MaxRecipients is the largest number of RCPT per message; 0 means 1000.
	// Further RCPTs get 452 4.5.3.
	MaxRecipients int
	// MaxLineLength is the longest line of message text accepted, in octets
	// without the CRLF; 0 means 998 (RFC 5322 §2.1.1).
	MaxLineLength int
	// ReadTimeout is an idle timeout: how long the server waits for the
	// client to send anything (a command, the next piece of a message, a TLS
	// handshake message); 0 means 5 minutes. It does not bound a whole
	// transfer that keeps moving. A timeout closes the connection; inside
	// DATA it stores nothing.
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply; 0 means 1 minute.
	WriteTimeout time.Duration

	// Injectable for tests.
	challenge func() string    // CRAM-MD5 challenge; nil = defaultChallenge
	now       func() time.Time // clock for Maildir names; nil = time.Now
}

// Delivery describes one stored message.
type Delivery struct {
	// Path is the message file in the Maildir's new/ directory, joined to
	// Config.Maildir (so relative if that is).
	Path string
	// From is the envelope sender (MAIL FROM), "" for the null sender.
	From string
	// To lists the envelope recipients (RCPT TO) in order.
	To []string
	// Size is the size of the message as received (after dot-unstuffing),
	// without the lines the server prepended.
	Size int64
	// QueueID is the ID in the "250 2.0.0 Ok: queued as <QueueID>" reply.
	QueueID string
	// User is the login the client authenticated as, "" if it did not.
	User string
	// Mechanism is the SASL mechanism of that login, "" if none.
	Mechanism string
	// TLS reports whether the message came over TLS (STARTTLS or implicit).
	TLS bool
}

// Server is a running capture server. Its methods are safe for concurrent
// use.
type Server struct {
	cfg     Config
	srv     *smtp.Server
	ln      net.Listener // the raw listener, wrapped in trackedListener (and TLS)
	md      *maildir
	rootCAs *x509.CertPool
	certPEM []byte

	logMu sync.Mutex

	mu      sync.Mutex
	closing bool // no new connections
	stopped bool // no new deliveries
	conns   map[*trackedConn]struct{}
	inData  int
	changed chan struct{}

	closeOnce sync.Once
	closeErr  error
	serveDone chan struct{}
	serveErr  error
}

// Start validates cfg, listens on cfg.Addr and serves in the background until
// Close or Shutdown.
func Start(cfg Config) (*Server, error) {
	if cfg.Maildir == "" {
		return nil, errors.New("capture: no Maildir given")
	}
	if fi, err := os.Stat(cfg.Maildir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("capture: Maildir %s exists and is not a directory", cfg.Maildir)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.MaxLineLength <= 0 {
		cfg.MaxLineLength = DefaultMaxLineLength
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.challenge == nil {
		domain := cfg.Domain
		cfg.challenge = func() string { return defaultChallenge(domain) }
	}

	s := &Server{
		cfg:       cfg,
		md:        newMaildir(cfg.Maildir, cfg.now),
		conns:     make(map[*trackedConn]struct{}),
		changed:   make(chan struct{}),
		serveDone: make(chan struct{}),
	}

	tlsConfig := cfg.TLSConfig
	if tlsConfig == nil {
		cert, pool, certPEM, err := newSelfSigned(time.Now(), defaultCertHosts)
		if err != nil {
			return nil, err
		}
		tlsConfig = &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		}
		s.rootCAs, s.certPEM = pool, certPEM
	}

	raw, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	s.ln = raw
	var ln net.Listener = &trackedListener{Listener: raw, srv: s}
	if cfg.ImplicitTLS {
		ln = tls.NewListener(ln, tlsConfig)
	}

	srv := smtp.NewServer(backend{s})
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = max(wireLineLimit, cfg.MaxLineLength+3)
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	// AUTH before TLS is decided per session (Config.RequireTLS), not by
	// go-smtp, which would answer 523 and hide nothing.
	srv.AllowInsecureAuth = true
	// Internationalised addresses are stored as they come, as Postfix does.
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s}
	if !cfg.ImplicitTLS {
		srv.TLSConfig = tlsConfig // advertises STARTTLS
	}
	s.srv = srv

	go func() {
		defer close(s.serveDone)
		err := srv.Serve(ln)
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			err = nil
		}
		s.serveErr = err
	}()
	return s, nil
}

// Addr returns the address the server listens on, as host:port with the
// actual port when Config.Addr asked for port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// RootCAs returns a pool that trusts the server's throwaway certificate, for
// a client's tls.Config.RootCAs; nil if Config.TLSConfig was given.
func (s *Server) RootCAs() *x509.CertPool { return s.rootCAs }

// CertPEM returns the server's throwaway certificate in PEM form (what a CLI
// user passes to --tls-ca); nil if Config.TLSConfig was given.
func (s *Server) CertPEM() []byte { return s.certPEM }

// Close stops listening, cuts every connection and waits until every session
// has ended, including deliveries and OnDeliver calls in progress. A message
// whose transfer was cut leaves no file in new/; after Close returns nothing
// more is stored and OnDeliver is not called again. Close is idempotent; it
// returns the error of closing the listener, if any.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing, s.stopped = true, true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	s.closeListener()
	for _, c := range conns {
		// Close the raw connection only: the session's goroutine notices,
		// cleans up and unregisters the connection itself.
		c.Conn.Close()
	}
	<-s.serveDone
	s.waitIdle(context.Background())
	return s.closeErr
}

// Shutdown stops listening and waits for the open sessions to end by
// themselves (the clients' QUIT, or the read timeout). If ctx is done first,
// it calls Close and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()

	s.closeListener()
	<-s.serveDone
	if err := s.waitIdle(ctx); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

func (s *Server) closeListener() {
	s.closeOnce.Do(func() {
		if err := s.ln.Close(); err != nil {
			s.closeErr = fmt.Errorf("capture: %w", err)
		}
	})
}

// Wait blocks until the server stops accepting connections, that is until
// Close or Shutdown is called or the listener fails. It returns nil after
// Close or Shutdown, or the listener's error; in that case the caller should
// still call Close.
func (s *Server) Wait() error {
	<-s.serveDone
	return s.serveErr
}

// Serve blocks until ctx is done or the listener fails (for the standalone
// command: Start, then Serve with a context cancelled by SIGINT). When ctx is
// done it stops accepting, gives the open sessions 5 seconds to end, cuts
// the rest and returns nil. When the listener fails it closes the server and
// returns the listener's error.
func (s *Server) Serve(ctx context.Context) error {
	select {
	case <-ctx.Done():
		gctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		s.Shutdown(gctx)
		return nil
	case <-s.serveDone:
		s.Close()
		return s.serveErr
	}
}

// logf writes one event line to Config.Log.
func (s *Server) logf(format string, args ...any) {
	if s.cfg.Log == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	line = strings.TrimRight(line, "\n") + "\n"
	s.logMu.Lock()
	defer s.logMu.Unlock()
	io.WriteString(s.cfg.Log, line)
}

// errorLog routes go-smtp's internal errors to Config.Log.
type errorLog struct{ s *Server }

func (l errorLog) Printf(format string, v ...any) { l.s.logf("error "+format, v...) }
func (l errorLog) Println(v ...any)               { l.s.logf("error %s", fmt.Sprintln(v...)) }
