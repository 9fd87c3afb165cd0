package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Replies of the mail transaction.
var (
	errAuthRequired = &smtp.SMTPError{
		Code:         530,
		EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message:      "Authentication required",
	}
	errShuttingDown = &smtp.SMTPError{
		Code:         421,
		EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message:      "Server shutting down",
	}
	errTimeout = &smtp.SMTPError{
		Code:         421,
		EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message:      "Timeout while receiving the message, closing connection",
	}
	errAborted = &smtp.SMTPError{
		Code:         451,
		EnhancedCode: smtp.EnhancedCode{4, 4, 0},
		Message:      "Message transfer aborted",
	}
	errTooLongWireLine = &smtp.SMTPError{
		Code:         500,
		EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message:      "Line too long",
	}
	errNoSpace = &smtp.SMTPError{
		Code:         452,
		EnhancedCode: smtp.EnhancedCode{4, 3, 1},
		Message:      "Insufficient system storage",
	}
	errBadSender = &smtp.SMTPError{
		Code:         553,
		EnhancedCode: smtp.EnhancedCode{5, 1, 7},
		Message:      "Bad sender address syntax: control character in the address",
	}
	errBadRecipient = &smtp.SMTPError{
		Code:         553,
		EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message:      "Bad recipient address syntax: control character in the address",
	}
	errLocal = &smtp.SMTPError{
		Code:         451,
		EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message:      "Local error: cannot store the message",
	}
)

// backend creates a session per EHLO (go-smtp creates a fresh one after
// STARTTLS).
type backend struct{ s *Server }

// NewSession implements smtp.Backend.
func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{
		srv:    b.s,
		conn:   c,
		remote: c.Conn().RemoteAddr().String(),
		tls:    isTLS,
	}, nil
}

// session is one client's state between EHLO and QUIT (or STARTTLS).
type session struct {
	srv    *Server
	conn   *smtp.Conn
	remote string
	tls    bool

	// mu guards what follows: with BDAT, go-smtp calls Data on a goroutine
	// of its own while the connection's goroutine may call Reset.
	mu   sync.Mutex
	user string // authenticated login
	mech string // its mechanism; "" = not authenticated
	from string
	to   []string
}

// AuthMechanisms implements smtp.AuthSession.
func (s *session) AuthMechanisms() []string {
	if s.srv.cfg.RequireTLS && !s.tls {
		return nil
	}
	return mechanisms
}

// Auth implements smtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.srv.cfg.RequireTLS && !s.tls {
		s.srv.logf("auth refused %s mech=%s: not encrypted", s.remote, mech)
		return nil, errEncryptionRequired
	}
	db := userDB(s.srv.cfg.Users)
	var m mechServer
	switch mech {
	case MechPlain:
		m = newPlainServer(db)
	case MechLogin:
		m = newLoginServer(db)
	case MechCRAMMD5:
		m = newCRAMServer(db, s.srv.cfg.challenge())
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return &authWatch{s: s, mech: mech, m: m}, nil
}

// authWatch records and logs the outcome of a SASL exchange.
type authWatch struct {
	s    *session
	mech string
	m    mechServer
}

// Next implements sasl.Server.
func (a *authWatch) Next(response []byte) (challenge []byte, done bool, err error) {
	challenge, done, err = a.m.Next(response)
	switch {
	case err != nil:
		reason := err.Error()
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			reason = se.Message
		}
		a.s.srv.logf("auth failed %s mech=%s user=%s: %s", a.s.remote, a.mech, strconv.Quote(a.m.login()), reason)
	case done:
		a.s.mu.Lock()
		a.s.user, a.s.mech = a.m.login(), a.mech
		a.s.mu.Unlock()
		a.s.srv.logf("auth ok %s mech=%s user=%s", a.s.remote, a.mech, strconv.Quote(a.m.login()))
	}
	return challenge, done, err
}

// Reset implements smtp.Session.
func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.to = "", nil
}

// Logout implements smtp.Session. There is nothing to free.
func (s *session) Logout() error { return nil }

// Mail implements smtp.Session.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv.cfg.RequireAuth && s.mech == "" {
		return errAuthRequired
	}
	if hasControl(from) {
		// go-smtp unquotes a quoted local part: "a\rX"@x arrives with a
		// bare CR, which would end up in the stored header and the log.
		s.srv.logf("refused %s from=%s: control character", s.remote, strconv.Quote(from))
		return errBadSender
	}
	s.from, s.to = from, nil
	return nil
}

// Rcpt implements smtp.Session.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hasControl(to) {
		s.srv.logf("refused %s to=%s: control character", s.remote, strconv.Quote(to))
		return errBadRecipient
	}
	s.to = append(s.to, to)
	return nil
}

// hasControl reports whether addr has an ASCII control character (below
// 0x20, or DEL), which no address may carry (RFC 5321 §4.1.2: qtextSMTP
// and quoted-pairSMTP exclude them).
func hasControl(addr string) bool {
	for i := 0; i < len(addr); i++ {
		if addr[i] < 0x20 || addr[i] == 0x7f {
			return true
		}
	}
	return false
}

// formatAddr writes an address as received (go-smtp unquotes the local
// part) in the form of RFC 5321 §4.1.2, quoting the local part again when
// it is not a dot-string: "john smith"@example.com. The domain follows the
// last "@". The null sender stays "".
func formatAddr(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if addr == "" || at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	if isDotString(local) {
		return addr
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + domain
}

// isDotString reports whether s is an RFC 5321 Dot-string: atoms of atext
// (UTF-8 allowed, RFC 6531) joined by single dots.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Data implements smtp.Session: it streams the message into the Maildir and
// answers "250 2.0.0 Ok: queued as <ID>". go-smtp has no other way to set
// the success text than returning it as an *smtp.SMTPError with code 250,
// which it writes verbatim.
func (s *session) Data(r io.Reader) error {
	srv := s.srv
	if !srv.beginData() {
		return errShuttingDown
	}
	defer srv.endData()

	s.mu.Lock()
	d := Delivery{
		From:      s.from,
		To:        append([]string(nil), s.to...),
		QueueID:   newQueueID(),
		User:      s.user,
		Mechanism: s.mech,
		TLS:       s.tls,
	}
	s.mu.Unlock()

	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "Return-Path: <%s>\r\n", formatAddr(d.From))
	for _, rcpt := range d.To {
		fmt.Fprintf(&hdr, "X-Original-To: <%s>\r\n", formatAddr(rcpt))
	}
	body := &lineChecker{
		r:       r,
		maxLine: srv.cfg.MaxLineLength,
	}

	path, n, err := srv.md.deliver(d.QueueID, hdr.Bytes(), body)
	if err != nil {
		return s.refuse(d, err)
	}
	d.Path, d.Size = path, n
	srv.logf("stored %s queue=%s from=<%s> to=%s size=%d path=%s",
		s.remote, d.QueueID, formatAddr(d.From), joinAddrs(d.To), d.Size, d.Path)
	if srv.cfg.OnDeliver != nil {
		srv.cfg.OnDeliver(d)
	}
	return &smtp.SMTPError{
		Code:         250,
		EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message:      "Ok: queued as " + d.QueueID,
	}
}

// refuse turns a failed delivery into the reply and logs it.
func (s *session) refuse(d Delivery, err error) error {
	var (
		reply  *smtp.SMTPError
		se     *storeError
		ne     net.Error
		hangUp bool
	)
	switch {
	case errors.As(err, &se):
		s.srv.logf("error %s queue=%s: %v", s.remote, d.QueueID, err)
		if errors.Is(err, syscall.ENOSPC) {
			reply = errNoSpace
		} else {
			reply = errLocal
		}
	case errors.As(err, &reply):
		// Refused by the checks or go-smtp's size limit.
	case errors.Is(err, smtp.ErrTooLongLine):
		// go-smtp drops the connection after this one.
		reply = errTooLongWireLine
	case errors.As(err, &ne) && ne.Timeout():
		// go-smtp would go on reading the rest of the message as commands.
		reply, hangUp = errTimeout, true
	default:
		// The client went away (io.ErrUnexpectedEOF), sent RSET during BDAT
		// (smtp.ErrDataReset), or Close cut the connection.
		reply = errAborted
	}
	s.srv.logf("refused %s queue=%s from=<%s> to=%s: %d %d.%d.%d %s",
		s.remote, d.QueueID, formatAddr(d.From), joinAddrs(d.To), reply.Code,
		reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2], reply.Message)
	if hangUp {
		s.conn.Close()
	}
	return reply
}

func joinAddrs(addrs []string) string {
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("<" + formatAddr(a) + ">")
	}
	return b.String()
}

// lineChecker passes a message through and fails on a bare CR, a bare LF or
// a line longer than maxLine octets (without its CRLF).
type lineChecker struct {
	r       io.Reader
	maxLine int

	line   int  // current line number, from 0
	col    int  // octets in the current line so far, CR excluded
	prevCR bool // the previous octet was a CR
}

// contentError refuses a message for its content.
func contentError(format string, args ...any) *smtp.SMTPError {
	return &smtp.SMTPError{
		Code:         550,
		EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message:      fmt.Sprintf(format, args...),
	}
}

func (lc *lineChecker) Read(p []byte) (int, error) {
	n, err := lc.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case lc.prevCR && c != '\n':
			return i, contentError("Message refused: bare CR in line %d (only CRLF ends a line)", lc.line+1)
		case c == '\n' && !lc.prevCR:
			return i, contentError("Message refused: bare LF in line %d (only CRLF ends a line)", lc.line+1)
		case c == '\n':
			lc.line++
			lc.col = 0
		case c != '\r':
			lc.col++
			if lc.col > lc.maxLine {
				return i, contentError("Message refused: line %d is longer than %d octets", lc.line+1, lc.maxLine)
			}
		}
		lc.prevCR = c == '\r'
	}
	if err == io.EOF && lc.prevCR {
		return n, contentError("Message refused: bare CR in line %d (only CRLF ends a line)", lc.line+1)
	}
	return n, err
}
