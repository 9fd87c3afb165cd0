package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxReplyLine bounds one reply line (RFC 5321 allows 512 octets; servers
// exceed it, so be generous but finite).
const maxReplyLine = 4096

// conn is the line-level SMTP connection: buffered writes flushed once per
// command burst, reply parsing, deadlines, and the transcript.
type conn struct {
	raw        net.Conn  // the TCP connection
	nc         net.Conn  // raw, or the TLS connection on top of it
	tlsConn    *tls.Conn // nil before TLS
	tlsSetup   *tlsSetup // how tlsConn was set up and verified
	br         *bufio.Reader
	bw         *bufio.Writer
	tr         *transcript
	scrub      *scrubber
	cmdTimeout time.Duration
	// lastRaw is the text of the last reply as received, before scrubbing
	// and with any enhanced codes: EHLO keywords and SASL challenges are
	// read from it. It is kept out of Reply so that no print form of a
	// Reply can show it.
	lastRaw string
}

func newConn(raw net.Conn, tr *transcript, scrub *scrubber, cmdTimeout time.Duration) *conn {
	c := &conn{raw: raw, tr: tr, scrub: scrub, cmdTimeout: cmdTimeout}
	c.setConn(raw)
	return c
}

func (c *conn) setConn(nc net.Conn) {
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, maxReplyLine)
	c.bw = bufio.NewWriterSize(deadlineWriter{c}, 32*1024)
}

// deadlineWriter sets a write deadline before each write, so that a server
// that stops reading (after 354, say) cannot block the client for longer
// than the command timeout.
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.c.nc.SetWriteDeadline(time.Now().Add(w.c.cmdTimeout))
	return w.c.nc.Write(p)
}

// startTLS runs the TLS handshake over the raw connection and switches to
// it. The certificate is verified by the chain (crypto/tls), by a pin
// (setup.pinned, in VerifyConnection) or, when setup.skip, not at all, which
// the transcript says loudly.
func (c *conn) startTLS(ctx context.Context, setup *tlsSetup, timeout time.Duration) error {
	tc := tls.Client(c.raw, setup.config)
	c.raw.SetDeadline(time.Now().Add(timeout))
	err := tc.HandshakeContext(ctx)
	c.raw.SetDeadline(time.Time{})
	if err != nil {
		return err
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 && !setup.pinned && !setup.skip {
		return errors.New("tls: server certificate was not verified")
	}
	c.tlsConn = tc
	c.tlsSetup = setup
	c.setConn(tc)
	c.tr.setTLS(true)
	var peer = st.PeerCertificates
	if len(peer) > 0 {
		c.tr.notef("%s", tlsNote(st.Version, st.CipherSuite, peer[0]))
	} else {
		c.tr.notef("%s", tlsNote(st.Version, st.CipherSuite, nil))
	}
	switch {
	case setup.pinned:
		c.tr.notef("certificate verified by its pinned SHA-256 fingerprint %s (chain not checked)", Fingerprint(peer[0]))
	case setup.skip:
		c.tr.write(markError, "WARNING: the server certificate was NOT verified (insecure skip verify): anyone on the path can read and change this session", true)
	}
	return nil
}

// queue buffers one command line. shown is what the transcript shows
// instead of the line ("" shows the line itself).
func (c *conn) queue(line, shown string) error {
	if strings.ContainsAny(line, "\r\n") {
		return errors.New("command contains CR or LF")
	}
	if shown == "" {
		shown = line
	}
	c.tr.client(shown)
	c.bw.WriteString(line)
	_, err := c.bw.WriteString("\r\n")
	return err
}

// flush writes the buffered lines.
func (c *conn) flush() error { return c.bw.Flush() }

// cmd sends one command line and reads the reply.
func (c *conn) cmd(line, shown string) (*Reply, error) {
	if err := c.queue(line, shown); err != nil {
		return nil, err
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	return c.readReply(c.cmdTimeout)
}

// readReply reads one possibly multi-line reply within timeout, logging each
// line. A malformed reply is an error.
func (c *conn) readReply(timeout time.Duration) (*Reply, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer c.nc.SetReadDeadline(time.Time{})
	var (
		code  int
		lines []string
	)
	for {
		raw, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("reply line longer than %d octets", maxReplyLine)
		}
		if err != nil {
			if len(raw) > 0 {
				c.tr.server(string(raw))
			}
			return nil, err
		}
		line := string(bytes.TrimRight(raw, "\r\n"))
		c.tr.server(line)
		if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return nil, fmt.Errorf("malformed reply line %q", c.scrub.String(line))
		}
		n, err := strconv.Atoi(line[:3])
		if err != nil || n < 200 || n > 599 {
			return nil, fmt.Errorf("malformed reply code in %q", c.scrub.String(line))
		}
		if code != 0 && n != code {
			return nil, fmt.Errorf("reply code changed from %d to %d within a reply", code, n)
		}
		code = n
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		lines = append(lines, text)
		if len(line) == 3 || line[3] == ' ' {
			break
		}
	}
	c.lastRaw = strings.Join(lines, "\n")
	return newReply(code, lines, c.scrub), nil
}

// newReply builds a Reply, taking the enhanced status code (RFC 2034) off
// the start of each line when the first line has one.
func newReply(code int, lines []string, scrub *scrubber) *Reply {
	r := &Reply{Code: code}
	if first := lines[0]; code/100 != 3 {
		enh, _, _ := strings.Cut(first, " ")
		if isEnhanced(enh, code) {
			r.Enhanced = enh
			for i, l := range lines {
				if l == enh {
					lines[i] = ""
				} else {
					lines[i] = strings.TrimPrefix(l, enh+" ")
				}
			}
		}
	}
	r.Text = scrub.String(strings.Join(lines, "\n"))
	return r
}

// isEnhanced reports whether s is an RFC 3463 status code whose class
// matches the reply code's first digit.
func isEnhanced(s string, code int) bool {
	// class "." subject "." detail, each 1 to 3 digits, without allocating.
	if len(s) < 5 || s[0] != byte('0'+code/100) || s[1] != '.' {
		return false
	}
	parts, n := 0, 0
	for i := 2; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if n < 1 || n > 3 {
				return false
			}
			parts++
			n = 0
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n++
	}
	return parts == 2
}

func (c *conn) close() error { return c.raw.Close() }
