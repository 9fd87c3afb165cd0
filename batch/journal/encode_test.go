package journal

import (
	"bytes"
	"testing"
	"time"
)

func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	recs := []Record{
		{Row: 1, State: Sent},
		{Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Row: 99, Key: "a\"b\\c\x01\x1f\x7f<&>", Recipients: []string{"a@x", "é@ü"},
			State: Failed, Hash: "sha256:ab", MessageID: "<1@x>", Attempt: 3, Code: 550, Enhanced: "5.1.1",
			Reply: "line1\nline2\r\t\b\f \u2028\u2029 bad\xff\xfe utf8 😀", QueueID: "Q", Error: "e"},
		{Row: 5, Recipients: []string{}, State: Uncertain},
		{Row: 6, State: Sent, Code: 250, Refused: []Refusal{{Rcpt: "b@x", Code: 550, Enhanced: "5.1.1", Reply: "no such\nuser \"b\""}, {Rcpt: "c@x"}}},
		{Row: 7, State: Sent, Refused: []Refusal{}},
	}
	for _, r := range recs {
		want, err := marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRecord(nil, &r); !bytes.Equal(got, want) {
			t.Errorf("appendRecord:\n got %s\nwant %s", got, want)
		}
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("a\"b", "<x@y>", "reply\n\xff")
	f.Fuzz(func(t *testing.T, key, id, reply string) {
		r := Record{Row: 1, Key: key, Recipients: []string{key}, State: Deferred, MessageID: id, Reply: reply}
		want, _ := marshal(&r)
		if got := appendRecord(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}
