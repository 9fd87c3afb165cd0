package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Outgoing is one message for [Client.SendMany].
type Outgoing struct {
	From string
	To   []string
	// Body is the message (RFC 5322 text with CRLF or LF line ends), read
	// from its current offset to EOF, typically a spool file or a
	// *bytes.Reader. A message up to maxBuffered (1 MiB) is read once into
	// the client's buffer; a larger one is read twice (scanned, rewound with
	// Seek, sent). It is left at an unspecified offset.
	Body io.ReadSeeker
	// Size is the length of Body in octets when known (0 = unknown): a
	// buffering hint, and the SIZE= declared for a Checked message too large
	// to buffer. Otherwise SIZE= is what the scan counted.
	Size int64
	// Checked says the caller guarantees that Body has CRLF line ends only
	// (no bare CR, no bare LF), no line over 998 octets, and that EightBit
	// tells whether it has a byte ≥ 0x80: the scan is skipped and the body
	// is only dot-stuffed. Set it only for output that is correct by
	// construction, such as the template renderer's (which emits CRLF only
	// and encodes long or 8-bit lines); a wrong Checked message can carry a
	// bare CR to the server (SMTP smuggling). The scan costs about 0.5 µs
	// per 2 KB message (BenchmarkScan), so leaving Checked unset is cheap.
	Checked bool
	// EightBit is used only with Checked: the body has bytes ≥ 0x80, so
	// BODY=8BITMIME is declared (and the message is refused when the server
	// does not offer 8BITMIME).
	EightBit bool
	Opts     *SendOptions
}

// Outcome is what happened to one message of [Client.SendMany].
type Outcome struct {
	// Result holds the replies about the message: per recipient, and to
	// the final dot with the queue id when the server gave one. It is nil
	// when nothing of the message was sent (a bad address or message, or a
	// connection already lost); when Err is set too it holds the replies
	// that came (a refused DATA, a 4xx or 5xx after the dot).
	Result *SendResult
	// Err is nil when the server accepted the message, for at least one
	// recipient: recipients refused at RCPT (or, over LMTP, after the dot)
	// are in Result.Recipients and Result.Refused(). Otherwise it is an
	// [*Error]: Temporary() for a 4xx reply or a network failure before
	// the final dot, Ambiguous() when the final dot was written and no
	// reply came (the server may have the message, RFC 1047), and
	// errors.Is(Err, ErrBroken) when the connection was lost (or closed by
	// a 421 reply, or ctx ended) before the server answered anything about
	// the message: send it again on a new connection.
	Err error
	// DotWritten: the final "." of the message was handed to the
	// connection. From then on a lost connection means "uncertain", not
	// "not sent". It stays false for a message that was refused before its
	// content went out.
	DotWritten bool
}

// SendHooks are the optional callbacks of [Client.SendMany].
type SendHooks struct {
	// BeforeDot is called with the message's index right before its final
	// dot is written, after its whole content was written (part of it may
	// already be on the wire, but not the dot, so the server cannot have
	// accepted the message yet). A journal makes its "sending" record
	// durable here. When it returns an error the message is abandoned: the
	// connection is closed without the dot (so that the server discards
	// the message), the message's Err is an [*Error] at [StageData]
	// wrapping that error, and the later messages are not sent
	// (ErrBroken). It is not called for a message that never got to its
	// content. A caller that journals the whole group before calling
	// SendMany (one fsync for the group) leaves it nil.
	BeforeDot func(i int) error
	// Done is called once per message, in index order, as soon as the
	// outcome of that message and of every earlier one is final (for a
	// message sent with pipelining: when the reply to its dot is read, while
	// the next message is in flight). It is where a journal records
	// "sent", "failed" or "uncertain". The Outcome is also returned by
	// SendMany.
	Done func(i int, o Outcome)
}

// maxBuffered is the largest message SendMany reads into memory in one
// piece; a larger one is streamed in chunks of this size. (A variable for
// the tests.)
var maxBuffered = 1 << 20

// SendMany sends msgs in order on this connection and returns one Outcome
// per message. It is the batch sender's hot path.
//
// When the server offers PIPELINING (RFC 2920), MAIL, every RCPT and DATA
// of a message go out in one write, and the final dot of a message goes
// out in the same write as the MAIL, RCPT and DATA of the next one (RFC
// 2920 §3.1 allows the message content as the first "command" of a
// group), so that a message costs about one round trip. Otherwise the
// commands are sent one at a time (one write and one reply each) on the
// same connection. Either way no EHLO is repeated and no RSET follows a
// successful message.
//
// Unlike [Client.Send], a recipient refused at RCPT does not stop the
// message: it goes to the recipients accepted, and the refusals are in the
// Result. When every recipient is refused the message fails at [StageRcpt]
// with a [*RcptError]: with pipelining the server then refuses DATA (the
// reply is still read, RFC 2920 §3.1; a server that answers 354 anyway
// gets an empty message, a lone "."), and the transaction is reset (RSET,
// written with the next message). A reply 421 at any point, a network
// failure or the end of ctx makes the connection unusable: the message in
// flight fails (Ambiguous when its dot was written) and the later ones are
// not sent (errors.Is(err, ErrBroken)); the client must then be closed and
// a new one dialled. A message that fails the checks before MAIL (a bad
// address, a bare CR, a line over 998 octets, 8-bit data for a server
// without 8BITMIME, over the SIZE limit) fails alone, nothing of it sent.
//
// The message content is checked as [Client.Send] checks it (unless
// Outgoing.Checked); SIZE= is declared when the server offers SIZE, and
// BODY=8BITMIME only for 8-bit content.
//
// hooks may be nil; see [SendHooks] for the journaling contract. With a
// Transcript the session is logged as by Send (which makes it slower); with
// none the hot path builds no log lines.
func (c *Client) SendMany(ctx context.Context, msgs []Outgoing, hooks *SendHooks) []Outcome {
	m := &many{c: c, ctx: ctx, msgs: msgs, out: make([]Outcome, len(msgs)), final: make([]bool, len(msgs))}
	if hooks != nil {
		m.hooks = *hooks
	}
	if err := c.usable(StageMail); err != nil {
		m.rest(err.(*Error))
		return m.out
	}
	_, m.has8 = c.ext["8BITMIME"]
	_, m.hasUTF8 = c.ext["SMTPUTF8"]
	m.sizeParam, m.hasSize = c.ext["SIZE"]
	if m.hasSize {
		m.sizeLimit, _ = strconv.ParseInt(m.sizeParam, 10, 64)
	}
	_, pipelining := c.ext["PIPELINING"]
	stop := context.AfterFunc(ctx, func() { c.c.raw.Close() })
	defer stop()
	if pipelining {
		m.pipelined()
	} else {
		m.sequential()
	}
	cause := c.brokenError()
	if cause == nil && ctx.Err() != nil {
		cause = &Error{Stage: StageMail, Err: ctx.Err()}
	}
	m.rest(cause)
	return m.out
}

// many is the state of one SendMany call.
type many struct {
	c     *Client
	ctx   context.Context
	msgs  []Outgoing
	out   []Outcome
	final []bool
	next  int // the next outcome to hand to hooks.Done
	hooks SendHooks

	has8, hasUTF8, hasSize bool
	sizeParam              string
	sizeLimit              int64
}

// job is a message that passed the checks and is ready for MAIL.
type job struct {
	idx       int
	m         *Outgoing
	dsn       *DSN
	size      int64 // CRLF octets, when sizeKnown
	sizeKnown bool
	eightBit  bool
	utf8      bool
	inBuf     bool  // the whole body is in Client.buf[:n]
	n         int   // its length
	start     int64 // Body's offset at the start, for streaming
	fast      bool  // CRLF only: dot-stuffing alone makes it DATA
	// After the commands were written:
	res      *SendResult
	accepted int
	dw       *dotWriter // the slow path's writer, for the transcript's last lines
}

// finish records message i's outcome and hands the final outcomes to
// hooks.Done in order.
func (m *many) finish(i int, err *Error) {
	if err != nil {
		m.out[i].Err = err
		m.c.fail(err)
	}
	m.final[i] = true
	for m.next < len(m.out) && m.final[m.next] {
		if m.hooks.Done != nil {
			m.hooks.Done(m.next, m.out[m.next])
		}
		m.next++
	}
}

// rest fails every message without an outcome yet: the connection was
// lost (cause) before it was started.
func (m *many) rest(cause *Error) {
	for i := range m.out {
		if m.final[i] {
			continue
		}
		e := &Error{Stage: StageMail, Err: ErrBroken}
		if cause != nil {
			e.Err = fmt.Errorf("%w: %w", ErrBroken, cause)
			if cause.Reply != nil && cause.Reply.Code == 421 {
				e.Reply = cause.Reply
			}
		}
		m.out[i].Err = e
		m.final[i] = true
	}
	if len(m.out) > 0 {
		m.finish(len(m.out)-1, nil)
	}
}

// prepare checks message i and reads (and scans) its body. It returns nil
// when the message failed (its outcome is recorded).
func (m *many) prepare(i int) *job {
	msg := &m.msgs[i]
	c := m.c
	fail := func(stage Stage, err error) *job {
		m.finish(i, &Error{Stage: stage, Err: err})
		return nil
	}
	if err := checkAddr(msg.From, true); err != nil {
		return fail(StageMail, err)
	}
	if len(msg.To) == 0 {
		return fail(StageRcpt, errors.New("no recipients"))
	}
	for _, rcpt := range msg.To {
		if err := checkAddr(rcpt, false); err != nil {
			return fail(StageRcpt, err)
		}
	}
	j := &job{idx: i, m: msg, dsn: c.dsn}
	if msg.Opts != nil && msg.Opts.DSN != nil {
		j.dsn = msg.Opts.DSN
	}
	if err := j.dsn.check(); err != nil {
		return fail(StageMail, err)
	}
	if msg.Body == nil {
		return fail(StageData, errors.New("no message body"))
	}
	start, err := msg.Body.Seek(0, io.SeekCurrent)
	if err != nil {
		return fail(StageData, fmt.Errorf("reading message: %w", err))
	}
	j.start = start
	buf, complete, err := c.load(msg.Body, msg.Size)
	if err != nil {
		return fail(StageData, fmt.Errorf("reading message: %w", err))
	}
	j.inBuf, j.n = complete, len(buf)
	if msg.Checked {
		j.eightBit, j.fast = msg.EightBit, true
		switch {
		case complete:
			j.size, j.sizeKnown = int64(len(buf)), true
			if len(buf) > 0 && buf[len(buf)-1] != '\n' {
				j.size += 2
			}
		case msg.Size > 0:
			j.size, j.sizeKnown = msg.Size, true
		}
	} else {
		var s lineScanner
		err := s.feed(buf)
		for err == nil && !complete {
			var n int
			n, err = io.ReadFull(msg.Body, c.buf[:cap(c.buf)])
			switch err {
			case io.EOF, io.ErrUnexpectedEOF:
				complete, err = true, nil
			case nil:
			default:
				err = fmt.Errorf("reading message: %w", err)
			}
			if err == nil {
				err = s.feed(c.buf[:n])
			}
		}
		if err == nil {
			err = s.finish()
		}
		if err != nil {
			return fail(StageData, err)
		}
		j.size, j.sizeKnown, j.eightBit, j.fast = s.size, true, s.eightBit, !s.bareLF
	}
	if j.eightBit && !m.has8 {
		return fail(StageMail, ErrNo8BitMIME)
	}
	if m.hasSize && j.sizeKnown && m.sizeLimit > 0 && j.size > m.sizeLimit {
		return fail(StageMail, fmt.Errorf("%w (%d octets, limit %d)", ErrTooBig, j.size, m.sizeLimit))
	}
	if !isASCII(msg.From) || !allASCII(msg.To) {
		if !m.hasUTF8 {
			return fail(StageMail, ErrSMTPUTF8)
		}
		j.utf8 = true
	}
	if c.tr != nil {
		j.fast = false // the slow path logs the headers
	}
	return j
}

// load reads r to EOF into the client's buffer, up to maxBuffered octets.
// complete reports whether it got to EOF.
func (c *Client) load(r io.Reader, hint int64) (buf []byte, complete bool, err error) {
	b := c.buf[:0]
	if hint > 0 && hint < int64(maxBuffered) && int64(cap(b)) <= hint {
		// Room to spare, so that slowly growing messages do not reallocate.
		b = make([]byte, 0, min(max(hint+hint/2+1, int64(2*cap(b))), int64(maxBuffered)))
	}
	for {
		if len(b) == cap(b) {
			if cap(b) >= maxBuffered {
				c.buf = b
				return b, false, nil
			}
			nb := make([]byte, len(b), min(max(2*cap(b), 8192), maxBuffered))
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			c.buf = b
			return b, true, nil
		}
		if err != nil {
			c.buf = b
			return nil, false, err
		}
	}
}

// writeCmd buffers one command line held in c.line (without CRLF).
func (c *Client) writeCmd() {
	if c.tr != nil {
		c.tr.client(string(c.line))
	}
	c.line = append(c.line, '\r', '\n')
	c.c.bw.Write(c.line)
}

// writeTransaction buffers MAIL, the RCPTs and DATA of j.
func (m *many) writeTransaction(j *job) {
	c := m.c
	m.mailLine(j)
	c.writeCmd()
	var b []byte
	for _, rcpt := range j.m.To {
		b = append(c.line[:0], "RCPT TO:<"...)
		b = append(b, rcpt...)
		b = append(b, '>')
		if j.dsn != nil {
			b = append(b, c.dsnRcpt(j.dsn, rcpt)...)
		}
		c.line = b
		c.writeCmd()
	}
	c.line = append(c.line[:0], "DATA"...)
	c.writeCmd()
}

// writeBody buffers the message content of j, without the final dot. An
// error is a content or read error: the message must be abandoned.
func (m *many) writeBody(j *job) error {
	c := m.c
	allow8 := m.has8
	if !j.fast {
		dw := newDotWriter(c.c.bw, c.tr)
		dw.refuse8Bit = !allow8
		j.dw = dw
		if j.inBuf {
			if _, err := dw.Write(c.buf[:j.n]); err != nil {
				return err
			}
			return dw.finish(false)
		}
		if _, err := j.m.Body.Seek(j.start, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyBuffer(dw, j.m.Body, c.buf[:cap(c.buf)]); err != nil {
			return err
		}
		return dw.finish(false)
	}
	atStart := true
	if j.inBuf {
		atStart = dotStuff(c.c.bw, c.buf[:j.n], atStart)
	} else {
		if _, err := j.m.Body.Seek(j.start, io.SeekStart); err != nil {
			return err
		}
		// Streamed again: scan again, since the file may have changed.
		var s lineScanner
		for done := false; !done; {
			n, err := io.ReadFull(j.m.Body, c.buf[:cap(c.buf)])
			switch err {
			case io.EOF, io.ErrUnexpectedEOF:
				done = true
			case nil:
			default:
				return err
			}
			chunk := c.buf[:n]
			if !j.m.Checked {
				if err := s.feed(chunk); err != nil {
					return err
				}
				if s.bareLF || (s.eightBit && !allow8) {
					return errors.New("message changed while it was being sent")
				}
			}
			atStart = dotStuff(c.c.bw, chunk, atStart)
		}
		if !j.m.Checked {
			if err := s.finish(); err != nil {
				return err
			}
		}
	}
	if !atStart {
		c.c.bw.WriteString("\r\n")
	}
	return nil
}

var nlDot = []byte("\n.")

// dotStuff writes p doubling the "." that starts a line (RFC 5321
// §4.5.2); p has CRLF line ends only. atStart says p starts a line; it
// returns whether the next byte starts one.
func dotStuff(w *bufio.Writer, p []byte, atStart bool) bool {
	if len(p) == 0 {
		return atStart
	}
	if atStart && p[0] == '.' {
		w.WriteByte('.')
	}
	for {
		i := bytes.Index(p, nlDot)
		if i < 0 {
			break
		}
		w.Write(p[:i+1])
		w.WriteByte('.')
		p = p[i+1:]
	}
	w.Write(p)
	return p[len(p)-1] == '\n'
}

// writeDot buffers the final dot of j, after calling hooks.BeforeDot. It
// returns false when the hook refused (the message is then abandoned).
func (m *many) writeDot(j *job) bool {
	if m.hooks.BeforeDot != nil {
		if err := m.hooks.BeforeDot(j.idx); err != nil {
			m.finish(j.idx, m.c.abort(m.ctx, fmt.Errorf("before the final dot: %w", err)))
			return false
		}
	}
	m.out[j.idx].DotWritten = true
	if j.dw != nil {
		j.dw.finish(true) // logs the elided lines and the dot
		return true
	}
	m.c.c.bw.WriteString(".\r\n")
	return true
}

// readDot reads the reply (LMTP: the replies) to j's final dot and
// records the outcome. It returns false when the connection is gone.
func (m *many) readDot(j *job) bool {
	c := m.c
	res := j.res
	if !c.lmtp {
		r, err := c.c.readReply(c.dotTimeout)
		if err != nil {
			m.finish(j.idx, c.error(m.ctx, StageDot, nil, err))
			return false
		}
		res.Reply = r
		if r.Code != 250 {
			m.finish(j.idx, c.error(m.ctx, StageDot, r, nil))
			return r.Code != 421
		}
		res.QueueID = QueueID(r)
		m.finish(j.idx, nil)
		return true
	}
	re := &RcptError{Total: len(res.Recipients), AfterDot: true}
	var worst *Reply
	delivered := 0
	for i := range res.Recipients {
		if !res.Recipients[i].Accepted() {
			continue
		}
		r, err := c.c.readReply(c.dotTimeout)
		if err != nil {
			m.finish(j.idx, c.error(m.ctx, StageDot, nil, err))
			return false
		}
		res.Recipients[i].Delivery = r
		res.Reply = r
		if r.Code/100 == 2 {
			delivered++
			if res.QueueID == "" {
				res.QueueID = QueueID(r)
			}
		} else {
			re.Refused = append(re.Refused, RefusedRecipient{Addr: res.Recipients[i].Addr, Reply: r})
			worst = worse(worst, r)
		}
		if r.Code == 421 {
			m.finish(j.idx, c.error(m.ctx, StageDot, r, re))
			return false
		}
	}
	if delivered == 0 {
		m.finish(j.idx, c.error(m.ctx, StageDot, worst, re))
		return true
	}
	m.finish(j.idx, nil)
	return true
}

// judge decides, from the replies to MAIL, RCPT and DATA, what to do with
// j. It returns the error of a message that will not be sent (nil when
// DATA was accepted with recipients) and whether the transaction is open
// and needs RSET.
func judge(j *job, mail *Reply, data *Reply) (*Error, bool) {
	if mail.Code != 250 {
		return &Error{Stage: StageMail, Reply: mail, Err: mail.smtpError()}, false
	}
	if j.accepted == 0 {
		re := &RcptError{Total: len(j.res.Recipients)}
		var worst *Reply
		for _, r := range j.res.Recipients {
			re.Refused = append(re.Refused, RefusedRecipient{Addr: r.Addr, Reply: r.Rcpt})
			worst = worse(worst, r.Rcpt)
		}
		return &Error{Stage: StageRcpt, Reply: worst, Err: re}, true
	}
	if data != nil && data.Code != 354 {
		return &Error{Stage: StageData, Reply: data, Err: data.smtpError()}, true
	}
	return nil, false
}

// closing records a 421 (or network) failure of j at stage: the
// connection is gone.
func (m *many) closing(j *job, stage Stage, r *Reply, err error) {
	m.finish(j.idx, m.c.error(m.ctx, stage, r, err))
}

// pipelined is SendMany with RFC 2920 pipelining: each write is [the dot
// of the previous message] [RSET] MAIL RCPT... DATA, then the replies are
// read in order.
func (m *many) pipelined() {
	c := m.c
	var (
		pend      *job // content written, dot not yet
		emptyDot  *job // DATA got 354 without a recipient: a lone dot is owed
		needReset bool
	)
	for i := 0; ; {
		var next *job
		for ; next == nil && i < len(m.msgs) && m.ctx.Err() == nil; i++ {
			next = m.prepare(i)
		}
		if m.ctx.Err() != nil {
			next = nil
		}
		if pend != nil && m.ctx.Err() != nil {
			m.finish(pend.idx, c.abort(m.ctx, m.ctx.Err()))
			return
		}
		if pend != nil && !m.writeDot(pend) {
			return
		}
		if emptyDot != nil {
			if c.tr != nil {
				c.tr.client(".")
			}
			c.c.bw.WriteString(".\r\n")
		}
		if needReset {
			c.line = append(c.line[:0], "RSET"...)
			c.writeCmd()
		}
		if next != nil {
			m.writeTransaction(next)
		}
		if pend == nil && emptyDot == nil && !needReset && next == nil {
			return
		}
		if err := c.c.flush(); err != nil {
			switch {
			case pend != nil:
				// Some of the dot may have gone: uncertain.
				m.finish(pend.idx, c.error(m.ctx, StageDot, nil, err))
			case emptyDot != nil:
				m.finish(emptyDot.idx, m.out[emptyDot.idx].Err.(*Error))
				c.error(m.ctx, StageData, nil, err)
			default:
				c.error(m.ctx, StageMail, nil, err)
			}
			if next != nil {
				m.finish(next.idx, c.error(m.ctx, StageMail, nil, err))
			}
			return
		}
		if pend != nil {
			ok := m.readDot(pend)
			pend = nil
			if !ok {
				if next != nil {
					m.closingAfter(next)
				}
				return
			}
		}
		if emptyDot != nil {
			j := emptyDot
			emptyDot = nil
			m.finish(j.idx, m.out[j.idx].Err.(*Error))
			var r *Reply
			var err error
			if !c.lmtp { // LMTP answers once per accepted recipient: none
				r, err = c.c.readReply(c.dotTimeout)
			}
			if err != nil || (r != nil && r.Code == 421) {
				c.error(m.ctx, StageDot, r, err)
				if next != nil {
					m.closingAfter(next)
				}
				return
			}
		}
		if needReset {
			needReset = false
			r, err := c.c.readReply(c.cmdTimeout)
			if err != nil || r.Code != 250 {
				if err == nil && r.Code != 421 {
					err = fmt.Errorf("RSET refused: %s", r)
					r = nil
				}
				c.error(m.ctx, StageMail, r, err)
				if next != nil {
					m.closingAfter(next)
				}
				return
			}
		}
		if next == nil {
			continue
		}
		j := next
		j.res = &SendResult{Recipients: make([]RcptResult, 0, len(j.m.To))}
		m.out[j.idx].Result = j.res
		mail, err := c.c.readReply(c.cmdTimeout)
		if err != nil || mail.Code == 421 {
			m.closing(j, StageMail, mail, err)
			return
		}
		for _, rcpt := range j.m.To {
			r, err := c.c.readReply(c.cmdTimeout)
			if err != nil || r.Code == 421 {
				m.closing(j, StageRcpt, r, err)
				return
			}
			j.res.Recipients = append(j.res.Recipients, RcptResult{Addr: rcpt, Rcpt: r})
			if r.Code == 250 || r.Code == 251 {
				j.accepted++
			}
		}
		data, err := c.c.readReply(c.cmdTimeout)
		if err != nil || data.Code == 421 {
			m.closing(j, StageData, data, err)
			return
		}
		e, reset := judge(j, mail, data)
		if e == nil {
			if err := m.writeBody(j); err != nil {
				m.finish(j.idx, c.abort(m.ctx, err))
				return
			}
			pend = j
			continue
		}
		m.out[j.idx].Err = e
		if data.Code == 354 {
			// RFC 2920 §3.1: DATA accepted without a recipient; end the
			// (empty) message. The dot ends the transaction.
			emptyDot = j
			continue
		}
		needReset = reset
		m.finish(j.idx, e)
	}
}

// closingAfter fails j, whose commands were written, when the connection
// was lost (or closed with 421) before their replies were read.
func (m *many) closingAfter(j *job) {
	cause := m.c.brokenError()
	e := &Error{Stage: StageMail, Err: ErrBroken}
	if cause != nil {
		e.Err = fmt.Errorf("%w: %w", ErrBroken, cause)
		e.Reply = cause.Reply
		if e.Reply != nil && e.Reply.Code != 421 {
			e.Reply = nil
		}
	}
	m.finish(j.idx, e)
}

// sequential is SendMany without pipelining: one command, one reply.
func (m *many) sequential() {
	c := m.c
	cmd := func() (*Reply, error) {
		c.writeCmd()
		if err := c.c.flush(); err != nil {
			return nil, err
		}
		return c.c.readReply(c.cmdTimeout)
	}
	for i := 0; i < len(m.msgs) && c.broken == nil && m.ctx.Err() == nil; i++ {
		j := m.prepare(i)
		if j == nil {
			continue
		}
		j.res = &SendResult{Recipients: make([]RcptResult, 0, len(j.m.To))}
		m.out[j.idx].Result = j.res
		// MAIL: build it as writeTransaction does, one command at a time.
		m.mailLine(j)
		mail, err := cmd()
		if err != nil || mail.Code == 421 {
			m.closing(j, StageMail, mail, err)
			return
		}
		if mail.Code != 250 {
			m.finish(j.idx, &Error{Stage: StageMail, Reply: mail, Err: mail.smtpError()})
			continue
		}
		for _, rcpt := range j.m.To {
			c.line = append(append(append(c.line[:0], "RCPT TO:<"...), rcpt...), '>')
			if j.dsn != nil {
				c.line = append(c.line, c.dsnRcpt(j.dsn, rcpt)...)
			}
			r, err := cmd()
			if err != nil || r.Code == 421 {
				m.closing(j, StageRcpt, r, err)
				return
			}
			j.res.Recipients = append(j.res.Recipients, RcptResult{Addr: rcpt, Rcpt: r})
			if r.Code == 250 || r.Code == 251 {
				j.accepted++
			}
		}
		if e, _ := judge(j, mail, nil); e != nil {
			m.finish(j.idx, e)
			c.reset(m.ctx)
			continue
		}
		c.line = append(c.line[:0], "DATA"...)
		data, err := cmd()
		if err != nil || data.Code == 421 {
			m.closing(j, StageData, data, err)
			return
		}
		if e, _ := judge(j, mail, data); e != nil {
			m.finish(j.idx, e)
			c.reset(m.ctx)
			continue
		}
		if err := m.writeBody(j); err != nil {
			m.finish(j.idx, c.abort(m.ctx, err))
			return
		}
		if !m.writeDot(j) {
			return
		}
		if err := c.c.flush(); err != nil {
			m.finish(j.idx, c.error(m.ctx, StageDot, nil, err))
			return
		}
		if !m.readDot(j) {
			return
		}
	}
}

// mailLine puts j's MAIL command in c.line.
func (m *many) mailLine(j *job) {
	c := m.c
	b := append(c.line[:0], "MAIL FROM:<"...)
	b = append(b, j.m.From...)
	b = append(b, '>')
	if j.eightBit {
		b = append(b, " BODY=8BITMIME"...)
	}
	if m.hasSize && j.sizeKnown {
		b = append(b, " SIZE="...)
		b = strconv.AppendInt(b, j.size, 10)
	}
	if j.utf8 {
		b = append(b, " SMTPUTF8"...)
	}
	if j.dsn != nil {
		b = append(b, c.dsnMail(j.dsn)...)
	}
	c.line = b
}

// Refused returns the recipients refused, at RCPT or (LMTP) after the dot.
func (r *SendResult) Refused() []RefusedRecipient {
	if r == nil {
		return nil
	}
	var out []RefusedRecipient
	for _, rc := range r.Recipients {
		if !rc.Accepted() {
			reply := rc.Rcpt
			if rc.Delivery != nil {
				reply = rc.Delivery
			}
			out = append(out, RefusedRecipient{Addr: rc.Addr, Reply: reply})
		}
	}
	return out
}

// QueueID returns the server's queue identifier from a reply to the final
// dot, when the text has a known form: "queued as ID" (Postfix, go-smtp
// based servers), "id=ID" (Exim), "ID Message accepted for delivery"
// (sendmail); "" otherwise.
func QueueID(r *Reply) string {
	if r == nil || r.Code/100 != 2 {
		return ""
	}
	text := r.Text
	word := func(s string) string {
		end := strings.IndexAny(s, " \t\n;,)")
		if end >= 0 {
			s = s[:end]
		}
		return strings.TrimRight(s, ".")
	}
	if i := strings.Index(strings.ToLower(text), "queued as "); i >= 0 {
		return word(text[i+len("queued as "):])
	}
	if i := strings.Index(text, "id="); i >= 0 && (i == 0 || text[i-1] == ' ') {
		return word(text[i+3:])
	}
	if first, rest, ok := strings.Cut(text, " "); ok && strings.HasPrefix(rest, "Message accepted for delivery") {
		return first
	}
	return ""
}

// lineScanner checks a message in one pass, chunk by chunk, for what DATA
// cannot carry (a bare CR, a line over 998 octets) and learns what MAIL
// declares (its size with CRLF line ends, 8-bit bytes), whether it has bare
// LFs (to be made CRLF on the slow path) and lines starting with ".".
type lineScanner struct {
	lineLen  int  // octets of the current line so far, without its end
	cr       bool // the last chunk ended with a CR
	size     int64
	eightBit bool
	bareLF   bool
}

func (s *lineScanner) feed(p []byte) error {
	if !s.eightBit && has8Bit(p) {
		s.eightBit = true
	}
	for len(p) > 0 {
		if s.cr {
			if p[0] != '\n' {
				return ErrBareCR
			}
			s.cr = false
			s.size += int64(s.lineLen) + 2
			s.lineLen = 0
			p = p[1:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line = p[:i]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
			if i < 0 {
				s.cr = true // a CR at the end of the chunk: LF must come next
			}
		} else if i >= 0 {
			s.bareLF = true
		}
		// The first fault in the text wins, as in dotWriter: a bare CR
		// followed by a byte that would make the line too long is a bare CR.
		if cr := bytes.IndexByte(line, '\r'); cr >= 0 && s.lineLen+cr <= maxLine {
			return ErrBareCR
		}
		s.lineLen += len(line)
		if s.lineLen > maxLine {
			return ErrLineTooLong
		}
		if i < 0 {
			break
		}
		s.size += int64(s.lineLen) + 2
		s.lineLen = 0
		p = p[i+1:]
	}
	return nil
}

// finish ends the scan: a last line without its end counts with CRLF.
func (s *lineScanner) finish() error {
	if s.cr {
		return ErrBareCR
	}
	if s.lineLen > 0 {
		s.size += int64(s.lineLen) + 2
		s.lineLen = 0
	}
	return nil
}

// has8Bit reports whether p has a byte ≥ 0x80, eight bytes at a time.
func has8Bit(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&0x8080808080808080 != 0 {
			return true
		}
		p = p[8:]
	}
	for _, b := range p {
		if b >= 0x80 {
			return true
		}
	}
	return false
}

// brokenError is what made the connection unusable, as an *Error (nil
// when it is usable).
func (c *Client) brokenError() *Error {
	var e *Error
	if c.broken != nil && !errors.As(c.broken, &e) {
		e = &Error{Stage: StageMail, Err: c.broken}
	}
	return e
}
