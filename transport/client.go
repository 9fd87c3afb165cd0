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

// Config says where and how to connect.
type Config struct {
	Endpoint Endpoint       // the server, from ParseURL
	TLS      TLSMode        // "" = Endpoint.TLS (and STARTTLS when that is empty too)
	RootCAs  *x509.CertPool // nil = the system roots
	// Mechanism is the SASL mechanism: "" = no AUTH; "PLAIN", "LOGIN",
	// "CRAM-MD5" or "CRAM-SHA1" (any case).
	Mechanism string
	Username  string
	Password  secret.Secret
	// AllowInsecureAuth allows AUTH over a connection without TLS to a
	// host that is not loopback. (To loopback it is always allowed.)
	AllowInsecureAuth bool
	// LocalName is the EHLO name. "" = the machine's fully qualified name,
	// or an address literal such as "[192.0.2.1]" when it has none.
	LocalName string
	// Transcript receives a human-readable log of the session (nil = none):
	// "->"/"<-" client/server lines in clear, "~>"/"<~" inside TLS, "==="
	// notes, "***" errors, and "##" below each SASL line its decoded form
	// with secrets masked. The message body is elided after its headers.
	// The password never appears in it, in clear or in base64.
	Transcript io.Writer
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
}

// Client is a connection to an SMTP server, ready to send messages one at a
// time. It is not safe for concurrent use.
type Client struct {
	c          *conn
	tr         *transcript
	ext        map[string]string // EHLO keywords (upper case) and parameters
	mechs      []string          // AUTH mechanisms offered, upper case, in order
	cmdTimeout time.Duration
	dotTimeout time.Duration
	broken     error // set when the connection can no longer be used
	closed     bool
}

// Dial connects to the server and prepares the session: it reads the
// greeting, sends EHLO, runs STARTTLS when the TLS mode is STARTTLS
// (failing before any credential is sent when the server does not offer it)
// and EHLO again, then authenticates when Config.Mechanism is set. AUTH is
// refused, before anything is sent, over a connection without TLS to a
// host that is not loopback (unless Config.AllowInsecureAuth) and when the
// server does not offer the mechanism ([*MechanismError]).
//
// ctx bounds Dial only; the Client outlives it. Every error is an [*Error].
// On error the connection is closed (after QUIT when it is still usable).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
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
	if cfg.Endpoint.Host == "" || cfg.Endpoint.Port == "" {
		return nil, &Error{Stage: StageConnect, Err: errors.New("no server host and port")}
	}
	if strings.ContainsAny(cfg.LocalName, " \t\r\n") {
		return nil, &Error{Stage: StageEHLO, Err: fmt.Errorf("bad EHLO name %q", cfg.LocalName)}
	}
	var sc sasl.Client
	if cfg.Mechanism != "" {
		var err error
		if sc, err = auth.New(cfg.Mechanism, cfg.Username, cfg.Password); err != nil {
			return nil, &Error{Stage: StageAuth, Err: err}
		}
	}

	connectTimeout, cmdTimeout, dotTimeout := DefaultConnectTimeout, DefaultCommandTimeout, DefaultDotTimeout
	if cfg.Timeout > 0 {
		connectTimeout, cmdTimeout, dotTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout
	}
	if cfg.DataTimeout > 0 {
		dotTimeout = cfg.DataTimeout
	}
	scrub := newScrubber(cfg.Password)
	tr := newTranscript(cfg.Transcript, scrub)

	addr := cfg.Endpoint.Addr()
	tr.notef("Trying %s...", addr)
	dial := cfg.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: connectTimeout}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	raw, err := dial(dctx, "tcp", addr)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		e := &Error{Stage: StageConnect, Err: err}
		tr.error(e)
		return nil, e
	}
	tr.notef("Connected to %s", raw.RemoteAddr())

	c := &Client{
		c:          newConn(raw, tr, scrub, cmdTimeout),
		tr:         tr,
		cmdTimeout: cmdTimeout,
		dotTimeout: dotTimeout,
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	err = c.open(ctx, cfg, mode, sc, connectTimeout)
	if !stop() && err == nil {
		err = &Error{Stage: StageAuth, Err: ctx.Err()}
		c.broken = err
	}
	if err != nil {
		c.fail(err)
		c.Close()
		return nil, err
	}
	return c, nil
}

// open runs the session up to and including AUTH.
func (c *Client) open(ctx context.Context, cfg Config, mode TLSMode, sc sasl.Client, connectTimeout time.Duration) error {
	tlsConfig := &tls.Config{
		ServerName: cfg.Endpoint.Host,
		RootCAs:    cfg.RootCAs,
		MinVersion: tls.VersionTLS12,
	}
	if mode == TLSImplicit {
		if err := c.c.startTLS(ctx, tlsConfig, connectTimeout); err != nil {
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) {
				err = fmt.Errorf("%w (the server answered in clear text: this port may expect STARTTLS, not implicit TLS)", err)
			}
			return c.error(ctx, StageConnect, nil, err)
		}
	}

	r, err := c.c.readReply(c.cmdTimeout)
	if err != nil {
		var ne net.Error
		if mode != TLSImplicit && errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w (no greeting: the port may expect implicit TLS)", err)
		}
		return c.error(ctx, StageGreeting, nil, err)
	}
	if r.Code != 220 {
		return c.error(ctx, StageGreeting, r, nil)
	}

	name := cfg.LocalName
	if name == "" {
		name = defaultLocalName(c.c.raw.LocalAddr())
	}
	if err := c.hello(ctx, name); err != nil {
		return err
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
		if err := c.c.startTLS(ctx, tlsConfig, c.cmdTimeout); err != nil {
			return c.error(ctx, StageStartTLS, nil, err)
		}
		if err := c.hello(ctx, name); err != nil {
			return err
		}
	}

	if sc != nil {
		return c.auth(ctx, cfg, sc)
	}
	return nil
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

// hello sends EHLO, falling back to HELO when the server does not know
// EHLO, and records the extensions offered.
func (c *Client) hello(ctx context.Context, name string) error {
	r, err := c.c.cmd("EHLO "+name, "")
	if err != nil {
		return c.error(ctx, StageEHLO, nil, err)
	}
	if r.Code == 500 || r.Code == 502 {
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

// auth runs the SASL exchange (RFC 4954), logging each step base64 and
// decoded with the secret masked.
func (c *Client) auth(ctx context.Context, cfg Config, sc sasl.Client) error {
	if c.c.tlsConn == nil && !cfg.AllowInsecureAuth && !isLoopback(c.c.raw.RemoteAddr()) {
		return &Error{Stage: StageAuth, Err: ErrInsecureAuth}
	}
	mech := strings.ToUpper(cfg.Mechanism)
	offered := false
	for _, m := range c.mechs {
		offered = offered || m == mech
	}
	if !offered {
		return &Error{Stage: StageAuth, Err: &MechanismError{Mechanism: mech, Offered: c.mechs}}
	}

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
		return &Error{Stage: StageAuth, Err: err}
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
		switch r.Code {
		case 235:
			return nil
		case 334:
		default:
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

// Send sends one message: MAIL FROM, RCPT TO for each recipient, DATA, the
// message read from msg, and the final dot. It returns the server's reply
// to the final dot.
//
// The message is checked before MAIL (in full when msg is an io.Seeker,
// such as a spool file; its first megabyte otherwise): a bare CR or a line
// over 998 octets is refused at stage data. Bare LFs become CRLF. SIZE is
// declared when the size is known and the server offers it (and a message
// over the server's limit is refused before MAIL); BODY=8BITMIME only when
// the message has 8-bit bytes (or was too long to scan) and the server
// offers it; SMTPUTF8 only for non-ASCII addresses. A message with 8-bit
// bytes to a server that does not offer 8BITMIME is refused before MAIL
// ([ErrNo8BitMIME] at stage mail), or, when they lie beyond the part
// scanned, abandoned as below (at stage data).
//
// If any recipient is refused, Send resets the transaction (RSET), sends
// nothing, and returns an error whose cause is a [*RcptError] listing every
// refused recipient with its reply. If a problem is found in the message
// while it is being sent, the connection is closed without the final dot,
// so that the server discards what it got.
//
// ctx bounds this call: when it ends the connection is closed. Every error
// is an [*Error]; after one that leaves the connection unusable, later
// calls fail with [ErrBroken].
func (c *Client) Send(ctx context.Context, from string, to []string, msg io.Reader) (reply *Reply, err error) {
	defer func() {
		if err != nil {
			c.fail(err)
		}
	}()
	if c.closed {
		return nil, &Error{Stage: StageMail, Err: fmt.Errorf("%w: client closed", ErrBroken)}
	}
	if c.broken != nil {
		return nil, &Error{Stage: StageMail, Err: ErrBroken}
	}
	if err := checkAddr(from, true); err != nil {
		return nil, &Error{Stage: StageMail, Err: err}
	}
	if len(to) == 0 {
		return nil, &Error{Stage: StageRcpt, Err: errors.New("no recipients")}
	}
	for _, rcpt := range to {
		if err := checkAddr(rcpt, false); err != nil {
			return nil, &Error{Stage: StageRcpt, Err: err}
		}
	}
	body, info, err := prepare(msg)
	if err != nil {
		return nil, &Error{Stage: StageData, Err: err}
	}

	mail := "MAIL FROM:<" + from + ">"
	_, has8BitMIME := c.ext["8BITMIME"]
	switch {
	case has8BitMIME && (info.eightBit || !info.complete):
		mail += " BODY=8BITMIME"
	case info.eightBit:
		// RFC 6152 §3: no 8-bit data to a server that did not offer it.
		return nil, &Error{Stage: StageMail, Err: ErrNo8BitMIME}
	}
	if v, ok := c.ext["SIZE"]; ok && info.complete {
		if limit, err := strconv.ParseInt(v, 10, 64); err == nil && limit > 0 && info.size > limit {
			return nil, &Error{Stage: StageMail, Err: fmt.Errorf("%w (%d octets, limit %d)", ErrTooBig, info.size, limit)}
		}
		mail += " SIZE=" + strconv.FormatInt(info.size, 10)
	}
	if !isASCII(from) || !allASCII(to) {
		if _, ok := c.ext["SMTPUTF8"]; !ok {
			return nil, &Error{Stage: StageMail, Err: ErrSMTPUTF8}
		}
		mail += " SMTPUTF8"
	}

	stop := context.AfterFunc(ctx, func() { c.c.raw.Close() })
	defer stop()
	return c.send(ctx, mail, to, body, has8BitMIME)
}

// send runs the transaction. When allow8Bit is false, an 8-bit byte found
// while streaming (past the part prepare scanned) abandons the message.
func (c *Client) send(ctx context.Context, mail string, to []string, body io.Reader, allow8Bit bool) (*Reply, error) {
	r, err := c.c.cmd(mail, "")
	if err != nil {
		return nil, c.error(ctx, StageMail, nil, err)
	}
	if r.Code != 250 {
		return nil, c.error(ctx, StageMail, r, nil)
	}

	re := &RcptError{Total: len(to)}
	var worst *Reply
	for _, rcpt := range to {
		r, err := c.c.cmd("RCPT TO:<"+rcpt+">", "")
		if err != nil {
			return nil, c.error(ctx, StageRcpt, nil, err)
		}
		if r.Code == 421 {
			return nil, c.error(ctx, StageRcpt, r, nil)
		}
		if r.Code != 250 && r.Code != 251 {
			re.Refused = append(re.Refused, RefusedRecipient{Addr: rcpt, Reply: r})
			if worst == nil || (worst.Code/100 == 4 && r.Code/100 == 5) {
				worst = r
			}
		}
	}
	if len(re.Refused) > 0 {
		e := c.error(ctx, StageRcpt, worst, re)
		c.reset(ctx)
		return nil, e
	}

	r, err = c.c.cmd("DATA", "")
	if err != nil {
		return nil, c.error(ctx, StageData, nil, err)
	}
	if r.Code != 354 {
		e := c.error(ctx, StageData, r, nil)
		c.reset(ctx)
		return nil, e
	}
	dw := newDotWriter(c.c.bw, c.tr)
	dw.refuse8Bit = !allow8Bit
	if _, err := io.Copy(dw, body); err != nil {
		return nil, c.abort(ctx, err)
	}
	if err := dw.finish(true); err != nil {
		return nil, c.abort(ctx, err)
	}
	if err := c.c.flush(); err != nil {
		return nil, c.abort(ctx, err)
	}
	r, err = c.c.readReply(c.dotTimeout)
	if err != nil {
		return nil, c.error(ctx, StageDot, nil, err)
	}
	if r.Code != 250 {
		return nil, c.error(ctx, StageDot, r, nil)
	}
	return r, nil
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
