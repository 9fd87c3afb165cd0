package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func clock() func() time.Time { return func() time.Time { return t0 } }

func create(t testing.TB, opts Options) (*Journal, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "batch.journal")
	j, err := Create(p, Header{Template: "t.eml", TemplateSHA256: "aa", Data: "d.csv", DataSHA256: "bb", RunID: "run1"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return j, p
}

func TestCreateWritesHeaderAndRecords(t *testing.T) {
	j, p := create(t, Options{Now: clock()})
	recs := []Record{
		{Row: 1, Key: "a@x", Recipients: []string{"a@x"}, State: Rendered, Hash: "sha256:00", MessageID: "<1@x>"},
		{Row: 1, State: Sending, MessageID: "<1@x>", Attempt: 1},
		{Row: 1, State: Sent, Attempt: 1, Code: 250, Enhanced: "2.0.0", Reply: "Ok: queued as ABC", QueueID: "ABC"},
	}
	for _, r := range recs {
		if err := j.Commit(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	want := `{"mailscript_journal":1,"run_id":"run1","time":"2025-01-02T03:04:05Z","template":"t.eml","template_sha256":"aa","data":"d.csv","data_sha256":"bb"}
{"time":"2025-01-02T03:04:05Z","row":1,"key":"a@x","rcpt":["a@x"],"state":"rendered","hash":"sha256:00","message_id":"<1@x>"}
{"time":"2025-01-02T03:04:05Z","row":1,"state":"sending","message_id":"<1@x>","attempt":1}
{"time":"2025-01-02T03:04:05Z","row":1,"state":"sent","attempt":1,"code":250,"enhanced":"2.0.0","reply":"Ok: queued as ABC","queue_id":"ABC"}
`
	if string(b) != want {
		t.Errorf("journal:\n%s\nwant:\n%s", b, want)
	}
	if _, err := Create(p, Header{}, Options{}); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create over an existing journal: %v", err)
	}
}

func TestAppendValidates(t *testing.T) {
	j, _ := create(t, Options{NoSync: true})
	defer j.Close()
	for _, r := range []Record{{Row: 0, State: Sent}, {Row: MaxRow + 1, State: Sent}, {Row: 1}, {Row: 1, State: 99}} {
		if err := j.Append(r); err == nil {
			t.Errorf("Append(%+v) accepted", r)
		}
	}
}

// write creates a journal file from lines (the header first).
func write(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "j.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const hdr = `{"mailscript_journal":1,"run_id":"r","template":"t.eml","template_sha256":"aa","data":"d.csv","data_sha256":"bb"}` + "\n"

func rec(row int, state, extra string) string {
	return fmt.Sprintf(`{"row":%d,"state":%q%s}`+"\n", row, state, extra)
}

func TestOpenReplay(t *testing.T) {
	p := write(t, hdr,
		rec(1, "sending", `,"message_id":"<1@x>","attempt":1`), rec(1, "sent", `,"attempt":1`),
		rec(2, "sending", `,"message_id":"<2@x>","attempt":1`), // crash before the reply: uncertain
		rec(3, "sending", `,"message_id":"<3@x>","attempt":1`), rec(3, "deferred", `,"attempt":1,"code":451`),
		rec(4, "rendered", `,"message_id":"<4@x>"`),
		rec(5, "sending", `,"message_id":"<5@x>","attempt":2`), rec(5, "failed", `,"code":550`),
		rec(7, "skipped", ""),
	)
	j, err := Open(p, OpenOptions{TemplateSHA256: "aa", DataSHA256: "bb"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	want := []struct {
		state    State
		id       string
		attempts int
	}{
		1: {Sent, "", 1}, 2: {Uncertain, "<2@x>", 1}, 3: {Deferred, "<3@x>", 1}, 4: {Rendered, "", 0},
		5: {Failed, "", 2}, 6: {None, "", 0}, 7: {Skipped, "", 0}, 8: {None, "", 0},
	}
	for row := 1; row < len(want); row++ {
		w := want[row]
		if s, id, a := j.State(row), j.MessageID(row), j.Attempts(row); s != w.state || id != w.id || a != w.attempts {
			t.Errorf("row %d: %v %q %d, want %v %q %d", row, s, id, a, w.state, w.id, w.attempts)
		}
	}
	c := j.Counts()
	if c[Sent] != 1 || c[Uncertain] != 1 || c[Deferred] != 1 || c[Sending] != 0 || c.Total() != 6 {
		t.Errorf("counts %v", c)
	}
	if j.Rows() != 7 || len(j.Warnings()) != 0 || j.Header().RunID != "r" {
		t.Errorf("Rows %d, warnings %q, header %+v", j.Rows(), j.Warnings(), j.Header())
	}
	// The uncertain row is re-sent with the same Message-ID and succeeds.
	if err := j.Commit(Record{Row: 2, State: Sent, Attempt: 2}); err != nil {
		t.Fatal(err)
	}
	if j.State(2) != Sent || j.MessageID(2) != "" {
		t.Errorf("row 2 after re-send: %v %q", j.State(2), j.MessageID(2))
	}
}

func TestOpenTornLastLine(t *testing.T) {
	for _, torn := range []string{
		`{"row":2,"state":"sen`,          // cut mid-line
		"{\"row\":2,\"state\":\"sent\"}", // complete JSON but no newline: not durable as a line
		"\x00\x00\x00\x00",               // a block of zeros after a crash
		`{"row":2,"state":"sent"` + "\n", // bad JSON with a newline, last
	} {
		p := write(t, hdr, rec(1, "sent", ""), rec(2, "sending", `,"message_id":"<2@x>"`), torn)
		j, err := Open(p, OpenOptions{})
		if err != nil {
			t.Fatalf("%q: %v", torn, err)
		}
		if len(j.Warnings()) != 1 || !strings.Contains(j.Warnings()[0], ":4: ignored the torn last line") {
			t.Errorf("%q: warnings %q", torn, j.Warnings())
		}
		if j.State(2) != Uncertain || j.MessageID(2) != "<2@x>" {
			t.Errorf("%q: row 2 %v", torn, j.State(2))
		}
		// New records go after the cut, so the file reads back cleanly.
		if err := j.Commit(Record{Row: 3, State: Sent}); err != nil {
			t.Fatal(err)
		}
		j.Close()
		j, err = Open(p, OpenOptions{})
		if err != nil || len(j.Warnings()) != 0 || j.State(3) != Sent {
			t.Fatalf("%q: reopen: %v, %q", torn, err, j.Warnings())
		}
		j.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		opts  OpenOptions
		check func(error) bool
	}{
		{"empty", nil, OpenOptions{}, func(err error) bool { return err == ErrNoHeader }},
		{"torn header", []string{`{"mailscript_jou`}, OpenOptions{}, func(err error) bool { return err == ErrNoHeader }},
		{"not a journal", []string{"{\"a\":1}\n", rec(1, "sent", "")}, OpenOptions{}, func(err error) bool {
			var ce *CorruptError
			return errors.As(err, &ce) && ce.Line == 1
		}},
		{"corrupt middle line", []string{hdr, rec(1, "sent", ""), "garbage\n", rec(2, "sent", "")}, OpenOptions{}, func(err error) bool {
			var ce *CorruptError
			return errors.As(err, &ce) && ce.Line == 3
		}},
		{"unknown state", []string{hdr, rec(1, "lost", ""), rec(2, "sent", "")}, OpenOptions{}, func(err error) bool {
			var ce *CorruptError
			return errors.As(err, &ce) && ce.Line == 2
		}},
		{"newer version", []string{`{"mailscript_journal":9}` + "\n", rec(1, "sent", "")}, OpenOptions{}, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "newer")
		}},
		{"template changed", []string{hdr}, OpenOptions{TemplateSHA256: "cc"}, func(err error) bool {
			var me *MismatchError
			return errors.As(err, &me) && me.What == "template" && me.Current == "cc"
		}},
		{"data changed", []string{hdr}, OpenOptions{TemplateSHA256: "aa", DataSHA256: "dd"}, func(err error) bool {
			var me *MismatchError
			return errors.As(err, &me) && me.What == "data"
		}},
	}
	for _, tt := range tests {
		p := write(t, tt.lines...)
		j, err := Open(p, tt.opts)
		if !tt.check(err) {
			t.Errorf("%s: error %v", tt.name, err)
		}
		if j != nil {
			j.Close()
		}
	}
}

func TestForceAndReadOnlyAndLock(t *testing.T) {
	p := write(t, hdr)
	j, err := Open(p, OpenOptions{DataSHA256: "dd", Force: true})
	if err != nil || len(j.Warnings()) != 1 {
		t.Fatalf("forced: %v %q", err, j.Warnings())
	}
	if _, err := Open(p, OpenOptions{}); err != ErrLocked {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	ro, err := Open(p, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open while locked: %v", err)
	}
	if err := ro.Append(Record{Row: 1, State: Sent}); err == nil {
		t.Error("read-only journal accepted a record")
	}
	ro.Close()
	j.Close()
	if err := j.Append(Record{Row: 1, State: Sent}); err != ErrClosed {
		t.Errorf("Append after Close: %v", err)
	}
}

func TestGroupCommitConcurrent(t *testing.T) {
	j, p := create(t, Options{})
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				row := w*each + i + 1
				if err := j.Commit(Record{Row: row, State: Sending, MessageID: fmt.Sprintf("<%d@x>", row)}); err != nil {
					t.Error(err)
					return
				}
				if err := j.Append(Record{Row: row, State: Sent}); err != nil {
					t.Error(err)
				}
				_ = j.State(row)
			}
		}(w)
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := Open(p, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := j.Counts(); c[Sent] != workers*each || c.Total() != workers*each {
		t.Errorf("counts after replay: %v", c)
	}
}

func TestWriteAhead(t *testing.T) {
	// Many records without Flush are written out as the buffer fills, and
	// all are there after Close.
	j, p := create(t, Options{NoSync: true})
	for i := 1; i <= 20000; i++ {
		if err := j.Append(Record{Row: i, State: Rendered, MessageID: fmt.Sprintf("<%d@example.org>", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(j.buf) >= writeAhead {
		t.Errorf("buffer holds %d bytes", len(j.buf))
	}
	j.Close()
	r, err := Open(p, OpenOptions{ReadOnly: true})
	if err != nil || r.Counts()[Rendered] != 20000 {
		t.Fatalf("%v %v", err, r.Counts())
	}
}

func TestTableMessageIDArena(t *testing.T) {
	tb := NewTable()
	// Churn: many rows go through deferred and then sent, forcing compaction.
	for round := 0; round < 3; round++ {
		for row := 1; row <= 50000; row++ {
			tb.Apply(&Record{Row: row, State: Deferred, MessageID: fmt.Sprintf("<%d.%d@example.org>", row, round)})
		}
		for row := 1; row <= 50000; row += 2 {
			tb.Apply(&Record{Row: row, State: Sent})
		}
	}
	if got := tb.MessageID(2); got != "<2.2@example.org>" {
		t.Errorf("MessageID(2) = %q", got)
	}
	if tb.MessageID(1) != "" || len(tb.ids) != 25000 {
		t.Errorf("ids %d", len(tb.ids))
	}
	if len(tb.arena) > 4<<20 {
		t.Errorf("arena not compacted: %d bytes", len(tb.arena))
	}
	// A deferred record without a Message-ID keeps the one from "sending".
	tb.Apply(&Record{Row: 9, State: Sending, MessageID: "<keep@x>"})
	tb.Apply(&Record{Row: 9, State: Deferred})
	if tb.MessageID(9) != "<keep@x>" {
		t.Errorf("MessageID(9) = %q", tb.MessageID(9))
	}
}

func TestStateText(t *testing.T) {
	for s := None; s < numStates; s++ {
		b, _ := s.MarshalText()
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v round trip: %v %v", s, back, err)
		}
	}
	if _, err := ParseState("lost"); err == nil {
		t.Error("ParseState(lost) accepted")
	}
	if !Sent.Final() || Deferred.Final() || State(99).String() != "State(99)" {
		t.Error("Final/String")
	}
}

func TestHashFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	got, err := HashFile(p)
	if err != nil || got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashFile = %s, %v", got, err)
	}
}

// BenchmarkCommit measures one record made durable per fsync: the cost of
// the "sending" record before each message's final dot without grouping.
func BenchmarkCommit(b *testing.B) {
	j, _ := create(b, Options{})
	defer j.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := j.Commit(Record{Row: i%MaxRow + 1, State: Sending, MessageID: "<0123456789abcdef@example.org>", Attempt: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupCommit64 measures records made durable 64 per fsync (ns/op is
// per record).
func BenchmarkGroupCommit64(b *testing.B) {
	j, _ := create(b, Options{})
	defer j.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := j.Append(Record{Row: i%MaxRow + 1, State: Sent, Attempt: 1, Code: 250, QueueID: "4Xyz1234"}); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			if err := j.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	j.Flush()
}

// BenchmarkCommitParallel measures Commit from many goroutines at once
// (workers sharing fsyncs through group commit).
func BenchmarkCommitParallel(b *testing.B) {
	j, _ := create(b, Options{})
	defer j.Close()
	b.SetParallelism(4) // 4 × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := j.Commit(Record{Row: 1, State: Sending, MessageID: "<0123456789abcdef@example.org>"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendNoSync measures encoding a record alone.
func BenchmarkAppendNoSync(b *testing.B) {
	j, _ := create(b, Options{NoSync: true})
	defer j.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j.Append(Record{Row: i%MaxRow + 1, State: Sent, Attempt: 1, Code: 250, QueueID: "4Xyz1234"})
	}
}

// TestOpenRecordsRowsLeftSending opens a journal that ends in "sending"
// records (a run killed between the final dots and their replies): Open
// appends a durable "uncertain" record for each with the reason and the
// Message-ID, lists them, and a second Open finds nothing more to settle.
func TestOpenRecordsRowsLeftSending(t *testing.T) {
	p := write(t, hdr,
		rec(1, "rendered", `,"message_id":"<1@x>"`),
		rec(1, "sending", `,"message_id":"<1@x>","attempt":1`), rec(1, "sent", `,"attempt":1,"code":250`),
		rec(2, "rendered", `,"message_id":"<2@x>"`),
		rec(3, "sending", `,"message_id":"<3@x>","attempt":2`),
		rec(4, "sending", `,"message_id":"<4@x>","attempt":1`),
	)
	tests := []struct {
		name     string
		opts     OpenOptions
		found    []int
		appended int // uncertain records in the file afterwards
	}{
		{"read-only changes nothing", OpenOptions{ReadOnly: true}, []int{3, 4}, 0},
		{"first open records them", OpenOptions{Now: clock()}, []int{3, 4}, 2},
		{"second open has nothing to do", OpenOptions{}, nil, 2},
	}
	for _, tt := range tests {
		j, err := Open(p, tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := j.FoundUncertain(); fmt.Sprint(got) != fmt.Sprint(tt.found) {
			t.Errorf("%s: FoundUncertain = %v, want %v", tt.name, got, tt.found)
		}
		for row, want := range map[int]State{1: Sent, 2: Rendered, 3: Uncertain, 4: Uncertain} {
			if got := j.State(row); got != want {
				t.Errorf("%s: row %d is %v, want %v", tt.name, row, got, want)
			}
		}
		if j.MessageID(3) != "<3@x>" || j.Attempts(3) != 2 {
			t.Errorf("%s: row 3 lost its Message-ID or attempts: %q %d", tt.name, j.MessageID(3), j.Attempts(3))
		}
		j.Close()
		b, _ := os.ReadFile(p)
		if got := strings.Count(string(b), `"state":"uncertain"`); got != tt.appended {
			t.Errorf("%s: %d uncertain records in the file, want %d", tt.name, got, tt.appended)
		}
	}
	b, _ := os.ReadFile(p)
	want := `{"time":"2025-01-02T03:04:05Z","row":3,"state":"uncertain","message_id":"<3@x>","attempt":2,"error":"` + FoundAtResume + `"}`
	if !strings.Contains(string(b), want+"\n") {
		t.Errorf("journal lacks\n%s\n:\n%s", want, b)
	}
}

// TestPartialRows checks the bit kept for rows sent with refused recipients:
// set by a "sent" record with Refused, cleared by any later record, kept
// across a replay.
func TestPartialRows(t *testing.T) {
	j, p := create(t, Options{NoSync: true})
	refused := []Refusal{{Rcpt: "b@x", Code: 550, Enhanced: "5.1.1", Reply: "no such user"}}
	steps := []struct {
		r        Record
		partials int
	}{
		{Record{Row: 1, State: Sent, Refused: refused}, 1},
		{Record{Row: 200, State: Sent, Refused: refused}, 2},
		{Record{Row: 3, State: Sent}, 2},
		{Record{Row: 200, State: Sending}, 1},
		{Record{Row: 200, State: Sent}, 1},
		{Record{Row: 5000, State: Failed}, 1},
	}
	for i, s := range steps {
		if err := j.Append(s.r); err != nil {
			t.Fatal(err)
		}
		if got := j.Partials(); got != s.partials {
			t.Errorf("step %d: %d partial rows, want %d", i, got, s.partials)
		}
	}
	check := func(j *Journal, when string) {
		for row, want := range map[int]bool{0: false, 1: true, 2: false, 3: false, 200: false, 5000: false, 99999: false} {
			if got := j.Partial(row); got != want {
				t.Errorf("%s: Partial(%d) = %v", when, row, got)
			}
		}
	}
	check(j, "appended")
	j.Close()
	j, err := Open(p, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	check(j, "replayed")
	if j.State(1) != Sent || j.Partials() != 1 {
		t.Errorf("replayed: row 1 %v, %d partial", j.State(1), j.Partials())
	}
}

// TestLastRecord reads back each row's last record as Open found it, the
// "uncertain" one Open appended for a row left sending included; records
// appended after Open are not "last" for it, and without Positions there is
// nothing to read.
func TestLastRecord(t *testing.T) {
	long := strings.Repeat("x", 5000) // a line longer than one read
	p := write(t, hdr,
		rec(1, "sending", `,"message_id":"<1@x>","attempt":1`),
		rec(1, "sent", `,"attempt":1,"code":250,"enhanced":"2.0.0","reply":"Ok: queued as Q1","queue_id":"Q1","refused":[{"rcpt":"b@x","code":550,"enhanced":"5.1.1","reply":"no"}]`),
		rec(2, "failed", `,"attempt":1,"code":550,"enhanced":"5.7.1","reply":"`+long+`"`),
		rec(3, "sending", `,"message_id":"<3@x>","attempt":1`),
	)
	j, err := Open(p, OpenOptions{Positions: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Commit(Record{Row: 4, State: Sent}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		row  int
		want *Record
	}{
		{1, &Record{Row: 1, State: Sent, Attempt: 1, Code: 250, Enhanced: "2.0.0", Reply: "Ok: queued as Q1", QueueID: "Q1",
			Refused: []Refusal{{Rcpt: "b@x", Code: 550, Enhanced: "5.1.1", Reply: "no"}}}},
		{2, &Record{Row: 2, State: Failed, Attempt: 1, Code: 550, Enhanced: "5.7.1", Reply: long}},
		{3, &Record{Row: 3, State: Uncertain, MessageID: "<3@x>", Attempt: 1, Error: FoundAtResume}},
		{4, nil},
		{5, nil},
	}
	for _, tt := range tests {
		got, err := j.LastRecord(tt.row)
		if err != nil {
			t.Fatalf("row %d: %v", tt.row, err)
		}
		if got != nil {
			got.Time = time.Time{}
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
			t.Errorf("row %d:\n got %+v\nwant %+v", tt.row, got, tt.want)
		}
	}
	j.Close()
	j, err = Open(p, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if r, err := j.LastRecord(1); r != nil || err != nil {
		t.Errorf("without Positions: %+v, %v", r, err)
	}
}

func TestPositionsBeyond4GiB(t *testing.T) {
	var p positions
	for _, tt := range []struct {
		row int
		off int64
	}{{1, 0}, {2, 1 << 32}, {3, 1<<32 - 2}, {2, 7}, {5, 1 << 40}, {6, 1<<32 - 1}} {
		p.set(tt.row, tt.off)
		if got, ok := p.get(tt.row); !ok || got != tt.off {
			t.Errorf("set(%d, %d): get = %d, %v", tt.row, tt.off, got, ok)
		}
	}
	if _, ok := p.get(4); ok {
		t.Error("row 4 has a position")
	}
	if len(p.far) != 2 {
		t.Errorf("%d rows in far, want 2 (rows 5 and 6)", len(p.far))
	}
}
