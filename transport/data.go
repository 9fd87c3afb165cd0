package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxLine is the longest line SMTP allows, without its CRLF (RFC 5321
// §4.5.3.1.6).
const maxLine = 998

// messageInfo is what a scan of the message found.
type messageInfo struct {
	complete bool  // the whole message was scanned: the fields below are exact
	size     int64 // octets with CRLF line ends, before dot-stuffing
	eightBit bool  // a byte ≥ 0x80 was seen (in the scanned part)
}

// scanLimit is how much of a message that cannot seek is read ahead to
// learn its size and whether it is 8-bit. Longer ones are streamed with
// BODY=8BITMIME declared when offered, as the safe choice.
const scanLimit = 1 << 20

// prepare scans msg before MAIL, so that a bad message fails before anything
// is sent and SIZE and BODY can be declared. A seekable reader (a spool file)
// is scanned in full and rewound; another reader is read ahead up to
// scanLimit. It returns the reader to send from.
func prepare(msg io.Reader) (io.Reader, messageInfo, error) {
	if rs, ok := msg.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			info, err := scan(rs, true)
			if err != nil {
				return nil, info, err
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, info, err
			}
			return rs, info, nil
		}
	}
	var head bytes.Buffer
	n, err := io.Copy(&head, io.LimitReader(msg, scanLimit))
	if err != nil {
		return nil, messageInfo{}, fmt.Errorf("reading message: %w", err)
	}
	complete := n < scanLimit
	info, err := scan(bytes.NewReader(head.Bytes()), complete)
	if err != nil {
		return nil, info, err
	}
	if complete {
		return bytes.NewReader(head.Bytes()), info, nil
	}
	return io.MultiReader(bytes.NewReader(head.Bytes()), msg), info, nil
}

// scan runs the message through the same checks DATA applies, without
// sending it, in one cheap pass (see lineScanner). A partial scan does not
// complain about an unfinished line.
func scan(r io.Reader, complete bool) (messageInfo, error) {
	var s lineScanner
	if _, err := io.Copy(scanWriter{&s}, r); err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return messageInfo{}, we.err
		}
		return messageInfo{}, fmt.Errorf("reading message: %w", err)
	}
	if complete {
		if err := s.finish(); err != nil {
			return messageInfo{}, err
		}
	}
	return messageInfo{complete: complete, size: s.size, eightBit: s.eightBit}, nil
}

// scanWriter feeds a lineScanner as an io.Writer (so that io.Copy uses the
// reader's WriteTo when it has one). Content errors are *writeError.
type scanWriter struct{ s *lineScanner }

func (w scanWriter) Write(p []byte) (int, error) {
	if err := w.s.feed(p); err != nil {
		return 0, &writeError{err}
	}
	return len(p), nil
}

// writeError marks an error from the message's content (not from the
// network) inside io.Copy.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// dotWriter turns a message into the DATA encoding (RFC 5321 §4.5.2): bare
// LF becomes CRLF, a leading "." is doubled, and the message ends with
// ".\r\n". It refuses a bare CR (SMTP smuggling) and lines over 998
// octets, and logs the header lines to the transcript, eliding the body.
type dotWriter struct {
	w        io.Writer
	tr       *transcript
	line     []byte // the current line, without its line end
	cr       bool   // the previous byte was a CR
	size     int64
	eightBit bool
	inBody   bool
	body     int // body lines seen
	// refuse8Bit makes an 8-bit byte a content error (ErrNo8BitMIME): the
	// server did not offer 8BITMIME.
	refuse8Bit bool
}

func newDotWriter(w io.Writer, tr *transcript) *dotWriter {
	return &dotWriter{w: w, tr: tr, line: make([]byte, 0, 256)}
}

// Write implements io.Writer. Content errors are returned as *writeError.
func (d *dotWriter) Write(p []byte) (int, error) {
	for i, b := range p {
		if d.cr {
			d.cr = false
			if b != '\n' {
				return i, &writeError{ErrBareCR}
			}
			if err := d.endLine(); err != nil {
				return i, err
			}
			continue
		}
		switch b {
		case '\r':
			d.cr = true
		case '\n':
			if err := d.endLine(); err != nil {
				return i, err
			}
		default:
			if b >= 0x80 {
				if d.refuse8Bit {
					return i, &writeError{ErrNo8BitMIME}
				}
				d.eightBit = true
			}
			if len(d.line) >= maxLine {
				return i, &writeError{ErrLineTooLong}
			}
			d.line = append(d.line, b)
		}
	}
	return len(p), nil
}

func (d *dotWriter) endLine() error {
	d.size += int64(len(d.line)) + 2
	if d.tr != nil {
		switch {
		case d.inBody && d.tr.body:
			d.tr.client(string(d.line))
		case d.inBody:
			d.body++
		case len(d.line) == 0:
			d.inBody = true
			d.tr.client("")
		default:
			d.tr.client(string(d.line))
		}
	}
	var err error
	if len(d.line) > 0 && d.line[0] == '.' {
		_, err = d.w.Write([]byte{'.'})
	}
	if err == nil {
		d.line = append(d.line, '\r', '\n')
		_, err = d.w.Write(d.line)
	}
	d.line = d.line[:0]
	return err
}

// finish ends the last line if it had no line end and, when dot is set,
// writes the terminating ".".
func (d *dotWriter) finish(dot bool) error {
	if d.cr {
		return ErrBareCR
	}
	if len(d.line) > 0 {
		if err := d.endLine(); err != nil {
			return err
		}
	}
	if !dot {
		return nil
	}
	if d.tr != nil {
		if d.body > 0 {
			d.tr.client(fmt.Sprintf("[... %d body lines elided ...]", d.body))
		}
		d.tr.client(".")
	}
	_, err := d.w.Write([]byte(".\r\n"))
	return err
}
