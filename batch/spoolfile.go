package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
)

// Spool holds the messages of a batch rendered once, by Validate, for Run
// to send: one append-only temporary file where each valid row's entry is
// its envelope (sender, recipients, key, Message-ID, SHA-256) followed by
// the message, and an index of 16 bytes per row in memory (a million rows:
// 16 MiB). Every row is thus expanded once, and every attempt sends the
// same bytes.
//
// A Spool is filled by one Validate call and then read by one Run call; its
// methods are not meant for other concurrent use. Close removes the file.
type Spool struct {
	f     *os.File
	name  string
	mu    sync.Mutex // guards size and index while Validate appends
	size  int64
	index []spoolEntry // sorted by row once Validate returns
	runID string       // the run id Validate rendered with (Message-IDs, boundaries)
	done  bool         // Validate finished: index is sorted
	pos   int          // Run's cursor in index (rows come in file order)
	win   []byte       // Run's window on the file: rows are read in large pieces
	wOff  int64        // the window's offset in the file
}

// Run reads the spool through a window of spoolWindow bytes: one read for
// hundreds of rows. Rows are spooled in batches of consecutive rows by
// parallel workers, so a row may lie a little before the one read last:
// the window starts spoolBack bytes before the row that needs it.
const (
	spoolWindow = 1 << 20
	spoolBack   = 256 << 10
)

// spoolEntry locates one row's entry in the file: the header at off, hdr
// bytes long, then the message (its length is in the header).
type spoolEntry struct {
	off int64
	row int32
	hdr uint32
}

// NewSpool creates an empty spool file in dir ("" = the system's temporary
// directory). The file is unlinked at once where the system allows it, so
// that a crash leaves nothing behind; Close removes it otherwise.
func NewSpool(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, "mailscript-spool-*")
	if err != nil {
		return nil, fmt.Errorf("creating the spool file: %w", err)
	}
	s := &Spool{f: f, name: f.Name()}
	if runtime.GOOS != "windows" && os.Remove(s.name) == nil {
		s.name = ""
	}
	return s, nil
}

// Close closes and removes the spool file.
func (s *Spool) Close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.f.Close()
	if s.name != "" {
		os.Remove(s.name)
	}
	s.f = nil
	s.index = nil
	return err
}

// Len returns the number of messages in the spool.
func (s *Spool) Len() int { return len(s.index) }

// Size returns the spool file's size in bytes.
func (s *Spool) Size() int64 { return s.size }

// RunID returns the run id the messages were rendered with.
func (s *Spool) RunID() string { return s.runID }

// appendHeader encodes a row's envelope: the message length, the key, the
// Message-ID, the hash, the sender and the recipients.
func appendHeader(b []byte, it *rendered) []byte {
	b = binary.AppendUvarint(b, uint64(it.spool.size))
	b = appendStr(b, it.key)
	b = appendStr(b, it.msgID)
	b = appendStr(b, it.spool.hash)
	b = appendStr(b, it.from)
	b = binary.AppendUvarint(b, uint64(len(it.to)))
	for _, a := range it.to {
		b = appendStr(b, a)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errSpoolCorrupt = errors.New("spool: corrupt entry")

// spoolHeader is a decoded entry header.
type spoolHeader struct {
	size                   int64
	key, msgID, hash, from string
	to                     []string
}

func decodeHeader(b []byte) (h spoolHeader, err error) {
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = errSpoolCorrupt
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() string {
		n := uv()
		if n > uint64(len(b)) {
			err = errSpoolCorrupt
			b = nil
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	h.size = int64(uv())
	h.key, h.msgID, h.hash, h.from = str(), str(), str(), str()
	n := uv()
	if n > uint64(len(b)) {
		return h, errSpoolCorrupt
	}
	h.to = make([]string, 0, n)
	for range n {
		h.to = append(h.to, str())
	}
	return h, err
}

// spoolChunk collects the entries of one render worker, written to the
// file in one piece (one write per about 64 KiB instead of one per row).
type spoolChunk struct {
	s       *Spool
	buf     []byte
	entries []spoolEntry // offsets relative to buf
}

const spoolChunkSize = 64 << 10

// add appends a rendered row's entry.
func (c *spoolChunk) add(it *rendered) error {
	start := len(c.buf)
	c.buf = appendHeader(c.buf, it)
	e := spoolEntry{off: int64(start), row: int32(it.row.Num), hdr: uint32(len(c.buf) - start)}
	if it.spool.file == nil {
		c.buf = append(c.buf, it.spool.buf.Bytes()...)
		c.entries = append(c.entries, e)
		if len(c.buf) >= spoolChunkSize {
			return c.flush()
		}
		return nil
	}
	// A large message (spilled to its own file): the chunk so far, then
	// the header and the message straight from that file.
	hdr := c.buf[start:]
	c.buf = c.buf[:start]
	if err := c.flush(); err != nil {
		return err
	}
	rd, err := it.spool.reader()
	if err != nil {
		return err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	e.off = s.size
	if _, err := s.f.Write(hdr); err != nil {
		return fmt.Errorf("writing the spool: %w", err)
	}
	n, err := io.Copy(s.f, rd)
	s.size += int64(len(hdr)) + n
	if err != nil {
		return fmt.Errorf("writing the spool: %w", err)
	}
	if n != it.spool.size {
		return fmt.Errorf("writing the spool: %d bytes of a %d-byte message", n, it.spool.size)
	}
	s.index = append(s.index, e)
	return nil
}

// flush writes the chunk to the file.
func (c *spoolChunk) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.f.Write(c.buf)
	base := s.size
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing the spool: %w", err)
	}
	for _, e := range c.entries {
		e.off += base
		s.index = append(s.index, e)
	}
	c.buf = c.buf[:0]
	c.entries = c.entries[:0]
	return nil
}

// finish sorts the index by row once Validate is done.
func (s *Spool) finish(runID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.SortFunc(s.index, func(a, b spoolEntry) int { return int(a.row) - int(b.row) })
	s.index = slices.Clip(s.index)
	s.runID = runID
	s.done = true
}

// lookup returns the spooled message of a row, or nil when the spool has
// none (an invalid row: Run renders it again and reports it). Rows must
// come in increasing order.
func (s *Spool) lookup(num int) (*rendered, error) {
	for s.pos < len(s.index) && int(s.index[s.pos].row) < num {
		s.pos++
	}
	if s.pos == len(s.index) || int(s.index[s.pos].row) != num {
		return nil, nil
	}
	e := s.index[s.pos]
	s.pos++
	hdrEnd := e.off + int64(e.hdr)
	if e.off < s.wOff || hdrEnd > s.wOff+int64(len(s.win)) {
		if err := s.slide(e.off); err != nil {
			return nil, err
		}
		if hdrEnd > s.wOff+int64(len(s.win)) {
			// A header larger than the window (thousands of recipients).
			b := make([]byte, e.hdr)
			if _, err := s.f.ReadAt(b, e.off); err != nil {
				return nil, fmt.Errorf("reading the spool: %w", err)
			}
			return s.entry(b, e, nil)
		}
	}
	return s.entry(s.win[e.off-s.wOff:hdrEnd-s.wOff], e, s.win[hdrEnd-s.wOff:])
}

// slide reads the window for an entry at off. The old window stays in
// memory as long as the messages taken from it do.
func (s *Spool) slide(off int64) error {
	start := max(0, off-spoolBack)
	n := min(int64(spoolWindow), s.size-start)
	s.win, s.wOff = nil, start
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, start); err != nil {
		return fmt.Errorf("reading the spool: %w", err)
	}
	s.win = b
	return nil
}

// entry decodes an entry's header; rest is what follows it in memory: the
// message when it is all there, else the message is read from the file.
func (s *Spool) entry(hdr []byte, e spoolEntry, rest []byte) (*rendered, error) {
	h, err := decodeHeader(hdr)
	if err != nil {
		return nil, err
	}
	it := &rendered{key: h.key, msgID: h.msgID, from: h.from, to: h.to}
	if rest != nil && h.size <= int64(len(rest)) {
		it.spool.mem = rest[:h.size:h.size]
	} else {
		it.spool.sec = io.NewSectionReader(s.f, e.off+int64(e.hdr), h.size)
	}
	it.spool.size = h.size
	it.spool.hash = h.hash
	return it, nil
}
