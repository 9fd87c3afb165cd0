package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DSN holds the delivery status notification options of RFC 3461. They
// are sent only when the server offers DSN (the transcript notes when they
// are dropped).
type DSN struct {
	// Notify is NOTIFY= for every recipient: any of "SUCCESS", "FAILURE",
	// "DELAY", or "NEVER" alone; empty = not sent (the server's default).
	Notify []string
	// Ret is RET=: "FULL" (the whole message in a bounce) or "HDRS"
	// (headers only); "" = not sent.
	Ret string
	// EnvID is ENVID=, an envelope identifier returned in the DSNs
	// (printable ASCII; xtext-encoded on the wire).
	EnvID string
	// ORCPT sends ORCPT=rfc822;ADDRESS for every recipient.
	ORCPT bool
}

// check validates the options.
func (d *DSN) check() error {
	if d == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, n := range d.Notify {
		n = strings.ToUpper(strings.TrimSpace(n))
		switch n {
		case "SUCCESS", "FAILURE", "DELAY", "NEVER":
		default:
			return fmt.Errorf("bad DSN NOTIFY value %q (want SUCCESS, FAILURE, DELAY or NEVER)", n)
		}
		seen[n] = true
	}
	if seen["NEVER"] && len(seen) > 1 {
		return errors.New("DSN NOTIFY=NEVER cannot be combined with other values")
	}
	switch strings.ToUpper(d.Ret) {
	case "", "FULL", "HDRS":
	default:
		return fmt.Errorf("bad DSN RET value %q (want FULL or HDRS)", d.Ret)
	}
	for _, c := range []byte(d.EnvID) {
		if c < 0x20 || c > 0x7e {
			return errors.New("DSN ENVID must be printable ASCII")
		}
	}
	if len(d.EnvID) > 100 {
		return errors.New("DSN ENVID is longer than 100 characters")
	}
	return nil
}

// xtext encodes s as RFC 3461 §4 xtext: "+", "=" and characters outside
// "!".."~" as +HH.
func xtext(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// SendOptions are per-message options of [Client.SendMessage].
type SendOptions struct {
	DSN *DSN // overrides Config.DSN for this message
}

// RcptResult is what the server said about one recipient.
type RcptResult struct {
	Addr string `json:"address"`
	// Rcpt is the reply to RCPT TO.
	Rcpt *Reply `json:"rcpt"`
	// Delivery is LMTP's reply for this recipient after the final dot
	// (RFC 2033 §4.2); nil for SMTP, and for a recipient refused at RCPT.
	Delivery *Reply `json:"delivery,omitempty"`
}

// Accepted reports whether the recipient was accepted at RCPT and, for
// LMTP, delivered.
func (r RcptResult) Accepted() bool {
	ok := r.Rcpt != nil && (r.Rcpt.Code == 250 || r.Rcpt.Code == 251)
	if r.Delivery != nil {
		ok = ok && r.Delivery.Code/100 == 2
	}
	return ok
}

// SendResult is the outcome of [Client.SendMessage].
type SendResult struct {
	// Reply is the reply to the final dot (for LMTP, the last recipient's).
	Reply *Reply `json:"reply,omitempty"`
	// Recipients holds every recipient's replies, in the order given.
	Recipients []RcptResult `json:"recipients"`
	// QueueID is the server's queue identifier for the message, from the
	// reply to the final dot when it has a known form (see [QueueID]).
	QueueID string `json:"queue_id,omitempty"`
}

// Send sends one message: MAIL FROM, RCPT TO for each recipient, DATA, the
// message read from msg, and the final dot. It returns the server's reply
// to the final dot. It is [Client.SendMessage] without options.
//
// The message is checked before MAIL (in full when msg is an io.Seeker,
// such as a spool file; its first megabyte otherwise): a bare CR or a line
// over 998 octets is refused at stage data. Bare LFs become CRLF. SIZE is
// declared when the size is known and the server offers it (and a message
// over the server's limit is refused before MAIL); BODY=8BITMIME only when
// the message has 8-bit bytes (or was too long to scan) and the server
// offers it; SMTPUTF8 only for non-ASCII addresses, and a non-ASCII address
// to a server that does not offer SMTPUTF8 is refused before MAIL
// ([ErrSMTPUTF8]). A message with 8-bit bytes to a server that does not
// offer 8BITMIME is refused before MAIL ([ErrNo8BitMIME] at stage mail), or,
// when they lie beyond the part scanned, abandoned as below (at stage data).
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
func (c *Client) Send(ctx context.Context, from string, to []string, msg io.Reader) (*Reply, error) {
	res, err := c.SendMessage(ctx, from, to, msg, nil)
	if err != nil {
		return nil, err
	}
	return res.Reply, nil
}

// SendMessage is [Client.Send] with options, returning every recipient's
// replies. Over LMTP the server answers the final dot once per accepted
// recipient (RFC 2033 §4.2): when some of those replies are failures the
// message was delivered to the others, and the error (at [StageDot], cause
// a [*RcptError] with AfterDot set) comes with the result. Otherwise the
// result is nil on error.
func (c *Client) SendMessage(ctx context.Context, from string, to []string, msg io.Reader, opts *SendOptions) (res *SendResult, err error) {
	defer func() {
		if err != nil {
			c.fail(err)
		}
	}()
	if err := c.usable(StageMail); err != nil {
		return nil, err
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
	dsn := c.dsn
	if opts != nil && opts.DSN != nil {
		dsn = opts.DSN
	}
	if err := dsn.check(); err != nil {
		return nil, &Error{Stage: StageMail, Err: err}
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
	utf8 := !isASCII(from) || !allASCII(to)
	if utf8 {
		if _, ok := c.ext["SMTPUTF8"]; !ok {
			return nil, &Error{Stage: StageMail, Err: ErrSMTPUTF8}
		}
		mail += " SMTPUTF8"
	}
	mail += c.dsnMail(dsn)

	stop := context.AfterFunc(ctx, func() { c.c.raw.Close() })
	defer stop()
	return c.send(ctx, mail, to, body, has8BitMIME, dsn)
}

// usable returns the error of a call on a closed or broken client.
func (c *Client) usable(stage Stage) error {
	if c.closed {
		return &Error{Stage: stage, Err: fmt.Errorf("%w: client closed", ErrBroken)}
	}
	if c.broken != nil {
		return &Error{Stage: stage, Err: ErrBroken}
	}
	return nil
}

// dsnMail returns the MAIL parameters of dsn, when the server offers DSN.
func (c *Client) dsnMail(dsn *DSN) string {
	if dsn == nil {
		return ""
	}
	if _, ok := c.ext["DSN"]; !ok {
		c.tr.notef("the server does not offer DSN: the DSN options are not sent")
		return ""
	}
	s := ""
	if dsn.Ret != "" {
		s += " RET=" + strings.ToUpper(dsn.Ret)
	}
	if dsn.EnvID != "" {
		s += " ENVID=" + xtext(dsn.EnvID)
	}
	return s
}

// dsnRcpt returns the RCPT parameters of dsn for addr.
func (c *Client) dsnRcpt(dsn *DSN, addr string) string {
	if dsn == nil {
		return ""
	}
	if _, ok := c.ext["DSN"]; !ok {
		return ""
	}
	s := ""
	if len(dsn.Notify) > 0 {
		var n []string
		for _, v := range dsn.Notify {
			n = append(n, strings.ToUpper(strings.TrimSpace(v)))
		}
		s += " NOTIFY=" + strings.Join(n, ",")
	}
	if dsn.ORCPT && isASCII(addr) {
		s += " ORCPT=rfc822;" + xtext(addr)
	}
	return s
}

// send runs the transaction. When allow8Bit is false, an 8-bit byte found
// while streaming (past the part prepare scanned) abandons the message.
func (c *Client) send(ctx context.Context, mail string, to []string, body io.Reader, allow8Bit bool, dsn *DSN) (*SendResult, error) {
	r, err := c.c.cmd(mail, "")
	if err != nil {
		return nil, c.error(ctx, StageMail, nil, err)
	}
	if r.Code != 250 {
		return nil, c.error(ctx, StageMail, r, nil)
	}

	res := &SendResult{}
	re := &RcptError{Total: len(to)}
	var worst *Reply
	for _, rcpt := range to {
		r, err := c.c.cmd("RCPT TO:<"+rcpt+">"+c.dsnRcpt(dsn, rcpt), "")
		if err != nil {
			return nil, c.error(ctx, StageRcpt, nil, err)
		}
		if r.Code == 421 {
			return nil, c.error(ctx, StageRcpt, r, nil)
		}
		res.Recipients = append(res.Recipients, RcptResult{Addr: rcpt, Rcpt: r})
		if r.Code != 250 && r.Code != 251 {
			re.Refused = append(re.Refused, RefusedRecipient{Addr: rcpt, Reply: r})
			worst = worse(worst, r)
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
	if c.lmtp {
		return c.lmtpReplies(ctx, res)
	}
	r, err = c.c.readReply(c.dotTimeout)
	if err != nil {
		return nil, c.error(ctx, StageDot, nil, err)
	}
	if r.Code != 250 {
		return nil, c.error(ctx, StageDot, r, nil)
	}
	res.Reply = r
	res.QueueID = QueueID(r)
	return res, nil
}

// lmtpReplies reads LMTP's reply per recipient after the final dot.
func (c *Client) lmtpReplies(ctx context.Context, res *SendResult) (*SendResult, error) {
	re := &RcptError{Total: len(res.Recipients), AfterDot: true}
	var worst *Reply
	for i := range res.Recipients {
		r, err := c.c.readReply(c.dotTimeout)
		if err != nil {
			// Some recipients may have got the message already.
			return res, c.error(ctx, StageDot, nil, err)
		}
		res.Recipients[i].Delivery = r
		res.Reply = r
		if r.Code/100 != 2 {
			re.Refused = append(re.Refused, RefusedRecipient{Addr: res.Recipients[i].Addr, Reply: r})
			worst = worse(worst, r)
		}
	}
	if len(re.Refused) > 0 {
		return res, c.error(ctx, StageDot, worst, re)
	}
	return res, nil
}

// worse returns the worse of two replies: a 5xx over a 4xx, else the first.
func worse(have, r *Reply) *Reply {
	if have == nil || (have.Code/100 == 4 && r.Code/100 == 5) {
		return r
	}
	return have
}

// Verify runs MAIL FROM and, for each recipient, RCPT TO, collects every
// reply, and resets the transaction (RSET): nothing is sent. It is what
// Config.QuitAfter "mail" (with no recipients) and "rcpt" do; the caller
// then calls Close. The error is for MAIL or for a failure that ends the
// session (a network error, 421); refused recipients are reported in the
// results, not as an error. Every error is an [*Error].
func (c *Client) Verify(ctx context.Context, from string, to []string) (results []RcptResult, err error) {
	defer func() {
		if err != nil {
			c.fail(err)
		}
	}()
	if err := c.usable(StageMail); err != nil {
		return nil, err
	}
	if err := checkAddr(from, true); err != nil {
		return nil, &Error{Stage: StageMail, Err: err}
	}
	for _, rcpt := range to {
		if err := checkAddr(rcpt, false); err != nil {
			return nil, &Error{Stage: StageRcpt, Err: err}
		}
	}
	stop := context.AfterFunc(ctx, func() { c.c.raw.Close() })
	defer stop()
	mail := "MAIL FROM:<" + from + ">"
	if !isASCII(from) || !allASCII(to) {
		if _, ok := c.ext["SMTPUTF8"]; !ok {
			return nil, &Error{Stage: StageMail, Err: ErrSMTPUTF8}
		}
		mail += " SMTPUTF8"
	}
	r, err := c.c.cmd(mail, "")
	if err != nil {
		return nil, c.error(ctx, StageMail, nil, err)
	}
	if r.Code != 250 {
		e := c.error(ctx, StageMail, r, nil)
		c.reset(ctx)
		return nil, e
	}
	for _, rcpt := range to {
		r, err := c.c.cmd("RCPT TO:<"+rcpt+">", "")
		if err != nil {
			return results, c.error(ctx, StageRcpt, nil, err)
		}
		results = append(results, RcptResult{Addr: rcpt, Rcpt: r})
		if r.Code == 421 {
			return results, c.error(ctx, StageRcpt, r, nil)
		}
	}
	c.reset(ctx)
	if c.broken != nil {
		return results, c.broken
	}
	return results, nil
}
