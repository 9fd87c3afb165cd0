package journal

import (
	"encoding/binary"
	"math"
)

// Table is the compact state of every row of a journal: one byte of state and
// one of attempts per row number, and the Message-IDs of the rows in flight
// (sending, uncertain, deferred) in one byte arena. A million rows take about
// 2 MiB. A Table is not safe for concurrent use; a Journal guards its own.
type Table struct {
	states   []State
	attempts []uint8
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
// nobody is sending them any more.
func (t *Table) settle() {
	for row, s := range t.states {
		if s == Sending {
			t.states[row] = Uncertain
			t.counts[Sending]--
			t.counts[Uncertain]++
		}
	}
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
