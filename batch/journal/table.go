package journal

import (
	"encoding/binary"
	"math"
)

// Table is the compact state of every row of a journal: one byte of state and
// one of attempts per row number, one bit for a row sent with some
// recipients refused (allocated when the first one is recorded), and the
// Message-IDs of the rows in flight (sending, uncertain, deferred) in one
// byte arena. A million rows take about 2 MiB. A Table is not safe for
// concurrent use; a Journal guards its own.
type Table struct {
	states   []State
	attempts []uint8
	partial  []uint64         // a bit per row: "sent" with Refused recipients
	partials int              // rows with that bit
	ids      map[int32]uint32 // row → offset in arena of uvarint length + Message-ID
	arena    []byte
	garbage  int
	counts   [numStates]int
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{ids: make(map[int32]uint32)} }

// inFlight reports whether a row in this state keeps its Message-ID.
func inFlight(s State) bool { return s == Sending || s == Uncertain || s == Deferred }

// Apply records a state change. The record must be valid (row in 1..MaxRow,
// a known state other than None).
func (t *Table) Apply(r *Record) {
	if r.Row >= len(t.states) {
		n := max(r.Row+1, 2*len(t.states), 1024)
		n = min(n, MaxRow+1)
		t.states = append(t.states, make([]State, n-len(t.states))...)
		t.attempts = append(t.attempts, make([]uint8, n-len(t.attempts))...)
	}
	old := t.states[r.Row]
	if old != None {
		t.counts[old]--
	}
	t.states[r.Row] = r.State
	t.counts[r.State]++
	if r.Attempt > int(t.attempts[r.Row]) {
		t.attempts[r.Row] = uint8(min(r.Attempt, 255))
	}
	t.setPartial(r.Row, r.State == Sent && len(r.Refused) > 0)
	switch {
	case !inFlight(r.State):
		t.dropID(r.Row)
	case r.MessageID != "":
		t.dropID(r.Row)
		need := len(t.arena) + binary.MaxVarintLen64 + len(r.MessageID)
		if need > math.MaxUint32 && t.garbage > 0 {
			t.compact()
			need = len(t.arena) + binary.MaxVarintLen64 + len(r.MessageID)
		}
		if need > math.MaxUint32 {
			return // beyond 4 GiB of Message-IDs in flight: not kept
		}
		t.ids[int32(r.Row)] = uint32(len(t.arena))
		t.arena = binary.AppendUvarint(t.arena, uint64(len(r.MessageID)))
		t.arena = append(t.arena, r.MessageID...)
	}
}

// setPartial sets or clears a row's partial bit.
func (t *Table) setPartial(row int, p bool) {
	w, bit := row/64, uint64(1)<<(row%64)
	if w >= len(t.partial) {
		if !p {
			return
		}
		t.partial = append(t.partial, make([]uint64, max(w+1, len(t.states)/64+1)-len(t.partial))...)
	}
	switch was := t.partial[w]&bit != 0; {
	case p && !was:
		t.partial[w] |= bit
		t.partials++
	case !p && was:
		t.partial[w] &^= bit
		t.partials--
	}
}

// Partial reports whether a row's last record is "sent" with refused
// recipients: the message went to some of its recipients only.
func (t *Table) Partial(row int) bool {
	w := row / 64
	return row >= 0 && w < len(t.partial) && t.partial[w]&(1<<(row%64)) != 0
}

// Partials returns the number of rows for which Partial is true.
func (t *Table) Partials() int { return t.partials }

func (t *Table) dropID(row int) {
	off, ok := t.ids[int32(row)]
	if !ok {
		return
	}
	delete(t.ids, int32(row))
	n, w := binary.Uvarint(t.arena[off:])
	t.garbage += w + int(n)
	if t.garbage > 1<<20 && t.garbage > len(t.arena)/2 {
		t.compact()
	}
}

// compact rewrites the arena without the Message-IDs no longer referenced.
func (t *Table) compact() {
	arena := make([]byte, 0, len(t.arena)-t.garbage)
	for row, off := range t.ids {
		n, w := binary.Uvarint(t.arena[off:])
		t.ids[row] = uint32(len(arena))
		arena = append(arena, t.arena[off:off+uint32(w)+uint32(n)]...)
	}
	t.arena, t.garbage = arena, 0
}

// settle turns the rows left in Sending into Uncertain: after a replay,
// nobody is sending them any more. It returns those rows in order.
func (t *Table) settle() []int {
	var rows []int
	for row, s := range t.states {
		if s == Sending {
			t.states[row] = Uncertain
			t.counts[Sending]--
			t.counts[Uncertain]++
			rows = append(rows, row)
		}
	}
	return rows
}

// State returns the state of a row (None when it has no record).
func (t *Table) State(row int) State {
	if row < 1 || row >= len(t.states) {
		return None
	}
	return t.states[row]
}

// Attempts returns the highest attempt number recorded for a row (saturating
// at 255).
func (t *Table) Attempts(row int) int {
	if row < 1 || row >= len(t.attempts) {
		return 0
	}
	return int(t.attempts[row])
}

// MessageID returns the Message-ID of a row that is sending, uncertain or
// deferred, so that a re-send carries the same one; "" otherwise.
func (t *Table) MessageID(row int) string {
	off, ok := t.ids[int32(row)]
	if !ok {
		return ""
	}
	n, w := binary.Uvarint(t.arena[off:])
	return string(t.arena[int(off)+w : int(off)+w+int(n)])
}

// Counts returns how many rows are in each state; Counts()[None] is 0.
func (t *Table) Counts() Counts { return t.counts }

// Rows returns the highest row number with a record, or 0.
func (t *Table) Rows() int {
	for i := len(t.states) - 1; i > 0; i-- {
		if t.states[i] != None {
			return i
		}
	}
	return 0
}

// Counts holds a number of rows per State.
type Counts [numStates]int

// Total returns the number of rows with a record.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// positions maps a row to the offset of its last record in the journal file,
// as Replay read it: 4 bytes per row, and a map for the rare rows whose
// record lies beyond 4 GiB.
type positions struct {
	near []uint32 // offset+1; 0 = no record, or in far
	far  map[int32]int64
}

func (p *positions) set(row int, off int64) {
	if row >= len(p.near) {
		n := min(max(row+1, 2*len(p.near), 1024), MaxRow+1)
		p.near = append(p.near, make([]uint32, n-len(p.near))...)
	}
	if off < math.MaxUint32 {
		p.near[row] = uint32(off + 1)
		if p.far != nil {
			delete(p.far, int32(row))
		}
		return
	}
	p.near[row] = 0
	if p.far == nil {
		p.far = make(map[int32]int64)
	}
	p.far[int32(row)] = off
}

// get returns the offset of a row's last record.
func (p *positions) get(row int) (int64, bool) {
	if row < 1 || row >= len(p.near) {
		return 0, false
	}
	if v := p.near[row]; v != 0 {
		return int64(v) - 1, true
	}
	off, ok := p.far[int32(row)]
	return off, ok
}
