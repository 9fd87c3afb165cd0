package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/transport/auth"
)

// Default timeouts, used when Config.Timeout is zero.
const (
	DefaultConnectTimeout = 30 * time.Second // DNS, TCP and implicit TLS handshake
	DefaultCommandTimeout = 5 * time.Minute  // each command's reply, each write (RFC 5321 §4.5.3.2)
	DefaultDotTimeout     = 10 * time.Minute // the reply to the final dot (RFC 5321 §4.5.3.2.6), when neither Timeout nor DataTimeout is set
)

// MechanismAuto as Config.Mechanism picks the strongest mechanism the server
// offers (see [auth.Choose]).
const MechanismAuto = "AUTO"

// Config says where and how to connect.
type Config struct {
	Endpoint Endpoint       // the server, from ParseURL
	TLS      TLSMode        // "" = Endpoint.TLS (and STARTTLS when that is empty too)
	RootCAs  *x509.CertPool // nil = the system roots
	// ServerName is the name the certificate is checked against and sent
	// in SNI; "" = Endpoint.Host.
	ServerName string
	// MinTLSVersion is the lowest TLS version accepted, e.g.
	// tls.VersionTLS13; 0 = TLS 1.2.
	MinTLSVersion uint16
	// ClientCerts are presented when the server asks for a certificate
	// (see LoadClientCert); EXTERNAL authenticates with it.
	ClientCerts []tls.Certificate
	// PinSHA256 lists accepted SHA-256 fingerprints of the server's leaf
	// certificate (hex, with or without colons). When set, the pin is
	// verified instead of the chain: for self-signed servers.
	PinSHA256 []string
	// InsecureSkipVerify accepts any certificate. It is an explicit opt-in
	// and the transcript says so loudly ("***").
	InsecureSkipVerify bool

	// Mechanism is the SASL mechanism: "" = no AUTH; MechanismAuto
	// ("AUTO") = the strongest the server offers that the credentials
	// given allow (never a cleartext one without TLS); or one of
	// auth.Mechanisms() (any case).
	Mechanism string
	Username  string
	Password  secret.Secret
	// Token is the OAuth 2.0 access token for XOAUTH2 and OAUTHBEARER.
	Token secret.Secret
	// Authzid is the SASL authorization identity ("" = the user's own).
	Authzid string
	// Domain is the NTLM user domain (or give Username as `DOMAIN\user`).
	Domain string
	// Trace is the ANONYMOUS trace information.
	Trace string
	// ChannelBinding forces the SCRAM-*-PLUS channel binding type
	// ("tls-exporter" or "tls-server-end-point"); "" = by TLS version.
	ChannelBinding string
	// AllowInsecureAuth allows AUTH over a connection without TLS to a
	// host that is not loopback. (To loopback it is always allowed.)
	AllowInsecureAuth bool

	// LocalName is the EHLO name. "" = the machine's fully qualified name,
	// or an address literal such as "[192.0.2.1]" when it has none.
	LocalName string
	// LocalAddr is the source address to bind: an IP address, or IP:port.
	LocalAddr string
	// QuitAfter stops Dial after a stage and leaves the client there:
	// StageConnect (after the greeting), StageEHLO (the first EHLO),
	// "tls" / StageStartTLS (after STARTTLS and the second EHLO, or the
	// EHLO inside implicit TLS), StageAuth; "" = the whole session. For
	// StageMail and StageRcpt use Client.Verify. Close sends QUIT.
	QuitAfter Stage
	// DSN asks for delivery status notifications (RFC 3461) for every
	// message, when the server offers DSN; SendOptions.DSN overrides it.
	DSN *DSN

	// Transcript receives a human-readable log of the session (nil = none):
	// "->"/"<-" client/server lines in clear, "~>"/"<~" inside TLS, "==="
	// notes, "***" errors, and "##" below each SASL line its decoded form
	// with secrets masked. The message body is elided after its headers
	// unless TranscriptBody. The password and token never appear in it, in
	// clear or in base64.
	Transcript io.Writer
	// TranscriptBody logs the message body too.
	TranscriptBody bool
	// Timestamps prefixes each transcript line with the time (HH:MM:SS.mmm).
	Timestamps bool
	// Timeout bounds connecting, each command and each write (0 =
	// DefaultConnectTimeout and DefaultCommandTimeout), and also the wait
	// for the reply to the final dot unless DataTimeout is set.
	Timeout time.Duration
	// DataTimeout bounds the wait for the reply to the final dot, when the
	// server may be scanning the message (0 = Timeout when that is set,
	// else DefaultDotTimeout, the 10 minutes of RFC 5321 §4.5.3.2.6).
	DataTimeout time.Duration

	// dial replaces net.Dialer.DialContext in tests.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// now replaces time.Now in tests.
	now func() time.Time
}

// StageTLS is the QuitAfter value "tls": stop once TLS is up.
const StageTLS Stage = "tls"

// Client is a connection to an SMTP (or LMTP) server, ready to send
// messages one at a time. It is not safe for concurrent use.
type Client struct {
	c          *conn
	tr         *transcript
	lmtp       bool
	ext        map[string]string // EHLO keywords (upper case) and parameters
	mechs      []string          // AUTH mechanisms offered, upper case, in order
	cmdTimeout time.Duration
	dotTimeout time.Duration
	dsn        *DSN
	broken     error // set when the connection can no longer be used
	closed     bool
	buf        []byte // SendMany's message buffer, reused
	line       []byte // SendMany's command line, reused

	// What the session showed, for Probe.
	greeting  *Reply
	clearExt  map[string]string // EHLO before TLS (nil with implicit TLS)
	clearMech []string
	authMech  string // the mechanism used, after AUTH
	authTried string // the mechanism AUTH was attempted with (AUTO resolved)
	stopped   Stage  // the QuitAfter stage Dial stopped at
}

// Dial connects to the server and prepares the session: it reads the
// greeting, sends EHLO (LHLO for LMTP), runs STARTTLS when the TLS mode is
// STARTTLS (failing before any credential is sent when the server does not
// offer it) and EHLO again, then authenticates when Config.Mechanism is set.
// AUTH is refused, before anything is sent, over a connection without TLS
// to a host that is not loopback (unless Config.AllowInsecureAuth) and when
// the server does not offer the mechanism ([*MechanismError]). With
// Config.QuitAfter it stops after that stage.
//
// ctx bounds Dial only; the Client outlives it. Every error is an [*Error].
// On error the connection is closed (after QUIT when it is still usable).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// dial is Dial, returning the (closed) client on error too, for Probe.
func dial(ctx context.Context, cfg Config) (*Client, error) {
	mode := cfg.TLS
	if mode == "" {
		mode = cfg.Endpoint.TLS
	}
	if mode == "" {
		mode = TLSStartTLS
	}
	if _, err := ParseTLSMode(string(mode)); err != nil {
		return nil, &Error{Stage: StageConnect, Err: err}
	}
	if cfg.Endpoint.Socket == "" && (cfg.Endpoint.Host == "" || cfg.Endpoint.Port == "") {
		return nil, &Error{Stage: StageConnect, Err: errors.New("no server host and port")}
	}
	if strings.ContainsAny(cfg.LocalName, " \t\r\n") {
		return nil, &Error{Stage: StageEHLO, Err: fmt.Errorf("bad EHLO name %q", cfg.LocalName)}
	}
	switch cfg.QuitAfter {
	case "", StageConnect, StageEHLO, StageTLS, StageStartTLS, StageAuth, StageMail, StageRcpt:
	default:
		return nil, &Error{Stage: StageConnect, Err: fmt.Errorf("bad quit-after stage %q (want connect, ehlo, tls, auth, mail or rcpt)", cfg.QuitAfter)}
	}
	if err := cfg.DSN.check(); err != nil {
		return nil, &Error{Stage: StageMail, Err: err}
	}
	if err := checkMechanism(cfg, mode); err != nil {
		return nil, &Error{Stage: StageAuth, Err: err}
	}
	setup, err := tlsConfig(cfg)
	if err != nil {
		return nil, &Error{Stage: StageConnect, Err: err}
	}
	var localAddr net.Addr
	if cfg.LocalAddr != "" {
		if localAddr, err = parseLocalAddr(cfg.LocalAddr); err != nil {
			return nil, &Error{Stage: StageConnect, Err: err}
		}
	}

	connectTimeout, cmdTimeout, dotTimeout := DefaultConnectTimeout, DefaultCommandTimeout, DefaultDotTimeout
	if cfg.Timeout > 0 {
		connectTimeout, cmdTimeout, dotTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout
	}
	if cfg.DataTimeout > 0 {
		dotTimeout = cfg.DataTimeout
	}
	scrub := newScrubber(cfg.Password, cfg.Token)
	tr := newTranscript(cfg.Transcript, scrub)
	if tr != nil {
		tr.body = cfg.TranscriptBody
		if cfg.Timestamps {
			tr.now = time.Now
			if cfg.now != nil {
				tr.now = cfg.now
			}
		}
	}

	addr := cfg.Endpoint.Addr()
	network := cfg.Endpoint.network()
	tr.notef("Trying %s...", addr)
	dialFn := cfg.dial
	if dialFn == nil {
		dialFn = (&net.Dialer{Timeout: connectTimeout, LocalAddr: localAddr}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	raw, err := dialFn(dctx, network, addr)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		e := &Error{Stage: StageConnect, Err: err}
		tr.error(e)
		return nil, e
	}
	tr.notef("Connected to %s", remoteName(raw.RemoteAddr(), addr))

	c := &Client{
		c:          newConn(raw, tr, scrub, cmdTimeout),
		tr:         tr,
		lmtp:       cfg.Endpoint.LMTP(),
		cmdTimeout: cmdTimeout,
		dotTimeout: dotTimeout,
		dsn:        cfg.DSN,
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	err = c.open(ctx, cfg, mode, setup, connectTimeout)
	if !stop() && err == nil {
		err = &Error{Stage: StageAuth, Err: ctx.Err()}
		c.broken = err
	}
	if err != nil {
		c.fail(err)
		c.Close()
		return c, err
	}
	return c, nil
}

// checkMechanism refuses, before connecting, a mechanism that is unknown or
// lacks the inputs it needs.
func checkMechanism(cfg Config, mode TLSMode) error {
	mech := strings.ToUpper(cfg.Mechanism)
	switch {
	case mech == "":
		return nil
	case mech == MechanismAuto:
		if cfg.Password.IsZero() && cfg.Token.IsZero() && len(cfg.ClientCerts) == 0 {
			return errors.New("AUTO needs a password, a token or a client certificate")
		}
		return nil
	case strings.HasSuffix(mech, "-PLUS"):
		if mode == TLSNone {
			return fmt.Errorf("%s needs TLS (channel binding)", mech)
		}
		if auth.Known(mech) {
			mech = strings.TrimSuffix(mech, "-PLUS") // the channel is checked once TLS is up
		}
	}
	if _, err := auth.NewClient(mech, authOptions(cfg, nil)); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "auth: "))
	}
	return nil
}

func authOptions(cfg Config, st *tls.ConnectionState) auth.Options {
	port, _ := strconv.Atoi(cfg.Endpoint.Port)
	host := cfg.ServerName
	if host == "" {
		host = cfg.Endpoint.Host
	}
	return auth.Options{
		Username: cfg.Username, Password: cfg.Password, Token: cfg.Token, Authzid: cfg.Authzid,
		Host: host, Port: port, Domain: cfg.Domain, Trace: cfg.Trace,
		TLS: st, ChannelBinding: cfg.ChannelBinding,
	}
}

func parseLocalAddr(s string) (net.Addr, error) {
	host, port := s, "0"
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	n, err := strconv.Atoi(port)
	if ip == nil || err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("bad local address %q: want an IP address or IP:port", s)
	}
	return &net.TCPAddr{IP: ip, Port: n}, nil
}

func remoteName(a net.Addr, fallback string) string {
	if a == nil || a.String() == "" || a.String() == "@" {
		return fallback
	}
	return a.String()
}

// stopAt reports whether Dial stops after stage s.
func stopAt(cfg Config, s Stage) bool {
	q := cfg.QuitAfter
	if q == StageStartTLS {
		q = StageTLS
	}
	return q == s
}

// open runs the session up to and including AUTH.
func (c *Client) open(ctx context.Context, cfg Config, mode TLSMode, setup *tlsSetup, connectTimeout time.Duration) error {
	if mode == TLSImplicit {
		if err := c.c.startTLS(ctx, setup, connectTimeout); err != nil {
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) {
				if looksLikeSMTP(rh.RecordHeader[:]) {
					err = fmt.Errorf("%w (%w: the server answered in clear text %q: this port expects STARTTLS or no TLS, use smtp:// / --tls starttls)", err, ErrTLSModeMismatch, rh.RecordHeader[:])
				} else {
					err = fmt.Errorf("%w (%w: the server answered in clear text: this port may expect STARTTLS, use smtp:// / --tls starttls)", err, ErrTLSModeMismatch)
				}
			}
			return c.error(ctx, StageConnect, nil, err)
		}
	}

	r, err := c.c.readReply(c.cmdTimeout)
	if err != nil {
		var ne net.Error
		if mode != TLSImplicit && errors.As(err, &ne) && ne.Timeout() {
			hint := "the port may expect implicit TLS"
			if cfg.dial == nil && cfg.Endpoint.Socket == "" && speaksTLS(ctx, cfg, connectTimeout) {
				hint = "this port speaks TLS from the first byte: use smtps:// / --tls implicit"
				err = fmt.Errorf("%w (%w: no greeting: %s)", err, ErrTLSModeMismatch, hint)
			} else {
				err = fmt.Errorf("%w (no greeting: %s)", err, hint)
			}
		}
		return c.error(ctx, StageGreeting, nil, err)
	}
	c.greeting = r
	if r.Code != 220 {
		return c.error(ctx, StageGreeting, r, nil)
	}
	if stopAt(cfg, StageConnect) {
		c.stopped = StageConnect
		return nil
	}

	name := cfg.LocalName
	if name == "" {
		name = defaultLocalName(c.c.raw.LocalAddr())
	}
	if err := c.hello(ctx, name); err != nil {
		return err
	}
	if mode != TLSImplicit {
		c.clearExt, c.clearMech = c.ext, c.mechs
	}
	if stopAt(cfg, StageEHLO) {
		c.stopped = StageEHLO
		return nil
	}

	if mode == TLSStartTLS {
		if _, ok := c.ext["STARTTLS"]; !ok {
			return &Error{Stage: StageStartTLS, Err: ErrNoStartTLS}
		}
		r, err := c.c.cmd("STARTTLS", "")
		if err != nil {
			return c.error(ctx, StageStartTLS, nil, err)
		}
		if r.Code != 220 {
			return c.error(ctx, StageStartTLS, r, nil)
		}
		if c.c.br.Buffered() > 0 {
			return c.error(ctx, StageStartTLS, nil, ErrSTARTTLSInjection)
		}
		if err := c.c.startTLS(ctx, setup, c.cmdTimeout); err != nil {
			return c.error(ctx, StageStartTLS, nil, err)
		}
		if err := c.hello(ctx, name); err != nil {
			return err
		}
	}
	if stopAt(cfg, StageTLS) {
		c.stopped = StageTLS
		return nil
	}

	if cfg.Mechanism != "" {
		if err := c.authenticate(ctx, cfg); err != nil {
			return err
		}
	}
	if stopAt(cfg, StageAuth) {
		c.stopped = StageAuth
	}
	return nil
}

// looksLikeSMTP reports whether the first bytes a server sent look like an
// SMTP reply ("220", "421", "554") rather than a TLS record.
func looksLikeSMTP(b []byte) bool {
	return len(b) >= 3 && b[0] >= '2' && b[0] <= '5' && b[1] >= '0' && b[1] <= '9' && b[2] >= '0' && b[2] <= '9'
}

// speaksTLS checks, on a new connection, whether the port answers a TLS
// handshake: the reason a plain connection got no greeting. Nothing but a
// ClientHello is sent; the certificate is not judged.
func speaksTLS(ctx context.Context, cfg Config, timeout time.Duration) bool {
	timeout = min(timeout, 5*time.Second)
	d := &net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, cfg.Endpoint.network(), cfg.Endpoint.Addr())
	if err != nil {
		return false
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(timeout))
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: cfg.Endpoint.Host})
	return tc.HandshakeContext(ctx) == nil
}

// error builds the Error for a failure at stage: from a reply when r is
// set, from err otherwise, from the context when it ended. Every failure
// that is not a reply leaves the connection unusable (a 421 reply too);
// checks of ours that send nothing build their Error directly.
func (c *Client) error(ctx context.Context, stage Stage, r *Reply, err error) *Error {
	e := &Error{Stage: stage, Reply: r, Err: err}
	if r != nil {
		if err == nil {
			e.Err = r.smtpError()
		}
		if r.Code == 421 {
			c.broken = e
		}
		return e
	}
	if ctx.Err() != nil {
		e.Err = ctx.Err()
	}
	c.broken = e
	return e
}

// fail logs err to the transcript.
func (c *Client) fail(err error) { c.tr.error(err) }

// hello sends EHLO (LHLO for LMTP), falling back to HELO when an SMTP
// server does not know EHLO, and records the extensions offered.
func (c *Client) hello(ctx context.Context, name string) error {
	verb := "EHLO "
	if c.lmtp {
		verb = "LHLO "
	}
	r, err := c.c.cmd(verb+name, "")
	if err != nil {
		return c.error(ctx, StageEHLO, nil, err)
	}
	if !c.lmtp && (r.Code == 500 || r.Code == 502) {
		r, err = c.c.cmd("HELO "+name, "")
		if err != nil {
			return c.error(ctx, StageEHLO, nil, err)
		}
		if r.Code != 250 {
			return c.error(ctx, StageEHLO, r, nil)
		}
		c.ext, c.mechs = map[string]string{}, nil
		return nil
	}
	if r.Code != 250 {
		return c.error(ctx, StageEHLO, r, nil)
	}
	c.ext, c.mechs = parseEHLO(c.c.lastRaw)
	return nil
}

// parseEHLO reads the keywords of an EHLO reply (its first line is the
// server's name). AUTH mechanisms are gathered from both "AUTH a b" and
// the old "AUTH=a b" lines.
func parseEHLO(text string) (map[string]string, []string) {
	ext := map[string]string{}
	var mechs []string
	seen := map[string]bool{}
	lines := strings.Split(text, "\n")
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		key := strings.ToUpper(fields[0])
		params := fields[1:]
		if rest, ok := strings.CutPrefix(key, "AUTH="); ok {
			key = "AUTH"
			params = append([]string{rest}, params...)
		}
		if key == "AUTH" {
			for _, m := range params {
				m = strings.ToUpper(m)
				if m != "" && !seen[m] {
					seen[m] = true
					mechs = append(mechs, m)
				}
			}
			ext[key] = strings.Join(mechs, " ")
			continue
		}
		ext[key] = strings.Join(params, " ")
	}
	return ext, mechs
}

// authenticate picks the mechanism (AUTO) or checks the one asked for,
// builds its client with the TLS state, and runs AUTH.
func (c *Client) authenticate(ctx context.Context, cfg Config) error {
	if c.c.tlsConn == nil && !cfg.AllowInsecureAuth && !isLoopback(c.c.raw.RemoteAddr()) {
		return &Error{Stage: StageAuth, Err: ErrInsecureAuth}
	}
	mech := strings.ToUpper(cfg.Mechanism)
	var st *tls.ConnectionState
	if c.c.tlsConn != nil {
		s := c.c.tlsConn.ConnectionState()
		st = &s
	}
	if mech == MechanismAuto {
		m, err := auth.Choose(c.mechs, auth.Choice{
			TLS:            st != nil,
			AllowCleartext: cfg.AllowInsecureAuth,
			Password:       !cfg.Password.IsZero(),
			Token:          !cfg.Token.IsZero(),
			ClientCert:     len(cfg.ClientCerts) > 0,
		})
		if err != nil {
			if len(c.mechs) == 0 {
				err = &MechanismError{Mechanism: MechanismAuto}
			}
			return &Error{Stage: StageAuth, Err: err}
		}
		c.tr.notef("AUTH AUTO: chose %s (offered: %s)", m, strings.Join(c.mechs, " "))
		mech = m
	}
	offered := false
	for _, m := range c.mechs {
		offered = offered || m == mech
	}
	if !offered {
		return &Error{Stage: StageAuth, Err: &MechanismError{Mechanism: mech, Offered: c.mechs}}
	}
	if strings.HasSuffix(mech, "-PLUS") && st == nil {
		return &Error{Stage: StageAuth, Err: fmt.Errorf("auth: %s needs TLS (channel binding)", mech)}
	}
	sc, err := auth.NewClient(mech, authOptions(cfg, st))
	if err != nil {
		return &Error{Stage: StageAuth, Err: err}
	}
	c.authTried = mech
	if err := c.auth(ctx, mech, sc); err != nil {
		return err
	}
	c.authMech = mech
	return nil
}

// auth runs the SASL exchange (RFC 4954), logging each step base64 and
// decoded with the secret masked.
func (c *Client) auth(ctx context.Context, mech string, sc sasl.Client) error {
	d, _ := sc.(auth.Describer)
	describe := func(step int, fromServer bool, data []byte) (string, bool) {
		if d != nil {
			return d.Describe(step, fromServer, data)
		}
		if fromServer {
			return auth.Printable(data), false
		}
		return secret.Redacted, true
	}
	name, ir, err := sc.Start()
	if err != nil {
		return &Error{Stage: StageAuth, Err: fmt.Errorf("%s: %w", mech, err)}
	}
	line, shown, text := "AUTH "+name, "", ""
	if ir != nil {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		var hasSecret bool
		text, hasSecret = describe(0, false, ir)
		if hasSecret {
			shown = line + " " + secret.Redacted
			c.c.scrub.addWire(ir)
		}
		line += " " + enc
	}
	if err := c.c.queue(line, shown); err != nil {
		return c.error(ctx, StageAuth, nil, err)
	}
	if ir != nil {
		c.tr.decoded(text)
	}
	for step := 1; ; step++ {
		if err := c.c.flush(); err != nil {
			return c.error(ctx, StageAuth, nil, err)
		}
		r, err := c.c.readReply(c.cmdTimeout)
		if err != nil {
			return c.error(ctx, StageAuth, nil, err)
		}
		switch {
		case r.Code/100 == 2:
			// RFC 4954 says 235; a few servers (Postfix's smtp-sink among
			// them) answer 250. Any positive completion is a success.
			if r.Code != 235 {
				c.tr.notef("the server answered AUTH with %d instead of 235: taken as success", r.Code)
			}
			if v, ok := sc.(auth.Verifier); ok {
				if err := v.Verified(); err != nil {
					// The server let us in without proving itself: it may not
					// be the server we think.
					return &Error{Stage: StageAuth, Err: fmt.Errorf("%s: %w", mech, err)}
				}
			}
			return nil
		case r.Code == 334:
		default:
			if se, ok := sc.(auth.ServerErrorer); ok && se.ServerError() != nil {
				return c.error(ctx, StageAuth, r, fmt.Errorf("%s: %w", r, se.ServerError()))
			}
			return c.error(ctx, StageAuth, r, nil)
		}
		challenge := decodeChallenge(c.c.lastRaw)
		text, _ := describe(step, true, challenge)
		c.tr.decoded(text)
		resp, err := sc.Next(challenge)
		if err != nil {
			// Cancel the exchange (RFC 4954 §4) and leave the connection usable.
			if _, cerr := c.c.cmd("*", ""); cerr != nil {
				c.error(ctx, StageAuth, nil, cerr)
			}
			return &Error{Stage: StageAuth, Err: fmt.Errorf("%s: %w", mech, err)}
		}
		enc := base64.StdEncoding.EncodeToString(resp)
		text, hasSecret := describe(step, false, resp)
		shown := ""
		if hasSecret {
			shown = secret.Redacted
			c.c.scrub.addWire(resp)
		}
		if err := c.c.queue(enc, shown); err != nil {
			return c.error(ctx, StageAuth, nil, err)
		}
		c.tr.decoded(text)
	}
}

// decodeChallenge decodes a 334 challenge leniently: base64 (padded or
// not; of the first word when the server added more), or else the text as
// it is, for servers that prompt in plain text ("334 Username:").
func decodeChallenge(text string) []byte {
	text = strings.TrimSpace(text)
	if b, err := base64.StdEncoding.DecodeString(text); err == nil {
		return b
	}
	if b, err := base64.RawStdEncoding.DecodeString(text); err == nil {
		return b
	}
	if first, _, ok := strings.Cut(text, " "); ok {
		if b, err := base64.StdEncoding.DecodeString(first); err == nil {
			return b
		}
	}
	return []byte(text)
}

// isLoopback reports whether addr is on this machine: a loopback IP
// address or a Unix socket.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// hostFQDN is the machine's fully qualified name, or "" when it has none.
var hostFQDN = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return ""
	}
	h = strings.TrimSuffix(h, ".")
	if strings.Contains(h, ".") {
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if cname, err := net.DefaultResolver.LookupCNAME(ctx, h); err == nil {
		if cname = strings.TrimSuffix(cname, "."); strings.Contains(cname, ".") && !strings.HasPrefix(cname, "localhost") {
			return cname
		}
	}
	return ""
})

// defaultLocalName is the EHLO name when none is configured: the machine's
// fully qualified name, else an address literal of the connection's local
// address (RFC 5321 §4.1.3), else the short host name, else "localhost".
func defaultLocalName(local net.Addr) string {
	return localName(hostFQDN(), os.Hostname, local)
}

func localName(fqdn string, hostname func() (string, error), local net.Addr) string {
	if fqdn != "" {
		return fqdn
	}
	if a, ok := local.(*net.TCPAddr); ok && a.IP != nil {
		if ip4 := a.IP.To4(); ip4 != nil {
			return "[" + ip4.String() + "]"
		}
		return "[IPv6:" + a.IP.String() + "]"
	}
	if h, err := hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \t\r\n") {
		return h
	}
	return "localhost"
}

// Extension reports whether the server offered the EHLO keyword name (any
// case), and its parameters.
func (c *Client) Extension(name string) (string, bool) {
	p, ok := c.ext[strings.ToUpper(name)]
	return p, ok
}

// AuthMechanisms returns the SASL mechanisms the server offered (from both
// "AUTH" and "AUTH=" lines), upper case, in the server's order.
func (c *Client) AuthMechanisms() []string { return append([]string(nil), c.mechs...) }

// TLSState returns the TLS connection state, and false when the connection
// is not encrypted.
func (c *Client) TLSState() (tls.ConnectionState, bool) {
	if c.c.tlsConn == nil {
		return tls.ConnectionState{}, false
	}
	return c.c.tlsConn.ConnectionState(), true
}

// abort ends a DATA that cannot be completed: the connection is closed
// without the final dot, so the server discards the partial message.
func (c *Client) abort(ctx context.Context, err error) *Error {
	var we *writeError
	if errors.As(err, &we) {
		err = we.err
	}
	e := c.error(ctx, StageData, nil, err)
	c.tr.notef("closing the connection without the final dot: the message is abandoned")
	c.c.close()
	return e
}

// reset sends RSET after a failed transaction; a failure of RSET leaves
// the connection unusable.
func (c *Client) reset(ctx context.Context) {
	if c.broken != nil {
		return
	}
	r, err := c.c.cmd("RSET", "")
	if err != nil || r.Code != 250 {
		c.broken = &Error{Stage: StageMail, Reply: r, Err: err}
	}
}

// Close sends QUIT (when the connection is still usable) and closes the
// connection, whatever QUIT gives. It returns an [*Error] at [StageQuit]
// when QUIT fails. Calling Close again does nothing.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var err error
	if c.broken == nil {
		c.c.cmdTimeout = min(c.cmdTimeout, 30*time.Second)
		r, qerr := c.c.cmd("QUIT", "")
		switch {
		case qerr != nil:
			err = &Error{Stage: StageQuit, Err: qerr}
		case r.Code != 221:
			err = &Error{Stage: StageQuit, Reply: r, Err: r.smtpError()}
		}
	}
	c.c.close()
	c.tr.notef("Connection closed")
	return err
}

// checkAddr refuses an address that would break the command line.
func checkAddr(addr string, isFrom bool) error {
	if addr == "" && !isFrom {
		return errors.New("empty recipient address")
	}
	if strings.ContainsAny(addr, "\r\n\x00<>") {
		return fmt.Errorf("bad address %q: contains CR, LF, NUL or angle brackets", addr)
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
