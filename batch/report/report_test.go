package report

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/filter"
	"github.com/mailscript/mailscript/batch/journal"
)

var (
	t1 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 = t1.Add(1500 * time.Millisecond)
)

func entries(values ...map[string]any) []Entry {
	return []Entry{
		{Row: 1, Recipients: []string{"a@x"}, Status: journal.Sent, Code: 250, Enhanced: "2.0.0", Reply: "Ok: queued as Q1",
			QueueID: "Q1", Attempts: 1, FirstAttempt: t1, LastAttempt: t1, Duration: 20 * time.Millisecond, Values: values[0]},
		{Row: 2, Recipients: []string{"b@x", "c@x"}, Status: journal.Failed, Code: 550, Enhanced: "5.1.1", Reply: "no such user <b@x>",
			Attempts: 2, FirstAttempt: t1, LastAttempt: t2, Duration: 1500 * time.Millisecond, Values: values[1]},
		{Row: 3, Recipients: []string{"d@x", "e@x", "f@x"}, Status: journal.Sent, Code: 250, Enhanced: "2.0.0",
			Reply: "Ok: queued as Q3; refused: e@x: 550 5.1.1 no such user; f@x: 552 5.2.2 mailbox full", QueueID: "Q3", Attempts: 1,
			FirstAttempt: t1, LastAttempt: t1, Refused: []string{"e@x", "f@x"}, Values: values[2]},
	}
}

func TestCSV(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, CSV, Options{Columns: []string{"email", "name", "ms_status"}})
	for _, e := range entries(
		map[string]any{"email": "a@x", "name": "Ann, A", "ms_status": "failed"},
		map[string]any{"email": "b@x", "name": "Bob", "ms_status": "failed"},
		map[string]any{"email": "d@x", "name": "Dora", "ms_status": "failed"},
	) {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `email,name,ms_row,ms_recipient,ms_status,ms_code,ms_enhanced,ms_reply,ms_queue_id,ms_attempts,ms_first_attempt,ms_last_attempt,ms_duration_ms,ms_refused
a@x,"Ann, A",1,a@x,sent,250,2.0.0,Ok: queued as Q1,Q1,1,2025-01-02T03:04:05.000Z,2025-01-02T03:04:05.000Z,20,
b@x,Bob,2,"b@x, c@x",failed,550,5.1.1,no such user <b@x>,,2,2025-01-02T03:04:05.000Z,2025-01-02T03:04:06.500Z,1500,
d@x,Dora,3,"d@x, e@x, f@x",partial,250,2.0.0,Ok: queued as Q3; refused: e@x: 550 5.1.1 no such user; f@x: 552 5.2.2 mailbox full,Q3,1,2025-01-02T03:04:05.000Z,2025-01-02T03:04:05.000Z,0,"e@x, f@x"
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, JSONLines, Options{})
	for _, e := range entries(
		map[string]any{"email": "a@x", "tags": []any{"x"}},
		map[string]any{"email": "b@x", "n": int64(3), "mailscript": map[string]any{"status": "deferred"}},
		map[string]any{"email": "d@x"},
	) {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	want := `{"email":"a@x","mailscript":{"attempts":1,"code":250,"duration_ms":20,"enhanced":"2.0.0","first_attempt":"2025-01-02T03:04:05.000Z","last_attempt":"2025-01-02T03:04:05.000Z","queue_id":"Q1","recipient":"a@x","reply":"Ok: queued as Q1","row":1,"status":"sent"},"tags":["x"]}
{"email":"b@x","mailscript":{"attempts":2,"code":550,"duration_ms":1500,"enhanced":"5.1.1","first_attempt":"2025-01-02T03:04:05.000Z","last_attempt":"2025-01-02T03:04:06.500Z","recipient":"b@x, c@x","reply":"no such user <b@x>","row":2,"status":"failed"},"n":3}
{"email":"d@x","mailscript":{"attempts":1,"code":250,"duration_ms":0,"enhanced":"2.0.0","first_attempt":"2025-01-02T03:04:05.000Z","last_attempt":"2025-01-02T03:04:05.000Z","queue_id":"Q3","recipient":"d@x, e@x, f@x","refused":"e@x, f@x","reply":"Ok: queued as Q3; refused: e@x: 550 5.1.1 no such user; f@x: 552 5.2.2 mailbox full","row":3,"status":"partial"}}
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// TestRetryRoundTrip reads a report back as data and selects the failed rows
// with the filter, for both formats.
func TestRetryRoundTrip(t *testing.T) {
	for _, tt := range []struct{ file, filter string }{
		{"report.csv", `ms_status in ["failed", "partial"] && ms_attempts >= 1`},
		{"report.jsonl", `mailscript.status in ["failed", "partial"] && mailscript.attempts >= 1`},
	} {
		p := filepath.Join(t.TempDir(), tt.file)
		w := Create(p, Options{})
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s: created before the first row", tt.file)
		}
		for _, e := range entries(map[string]any{"email": "a@x", "name": "Ann"}, map[string]any{"email": "b@x", "name": "Bob"},
			map[string]any{"email": "d@x", "name": "Dora"}) {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		expr, err := filter.Parse(tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		r, err := data.Open(p, data.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var picked []string
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ok, err := expr.Match(row.Values)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				p := row.Values["email"].(string) + "/" + row.Values["name"].(string)
				if refused, partial := PartialRecipients(row.Values); partial {
					p += " to " + strings.Join(refused, "+")
				}
				picked = append(picked, p)
			}
		}
		r.Close()
		if !reflect.DeepEqual(picked, []string{"b@x/Bob", "d@x/Dora to e@x+f@x"}) {
			t.Errorf("%s: picked %q", tt.file, picked)
		}
	}
}

func TestCreateEmptyAndFirstRowColumns(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "empty.csv")
	if err := Create(p, Options{Columns: []string{"email"}}).Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "email,ms_row,") {
		t.Errorf("empty report: %q", b)
	}
	// No columns given: the first row's keys, sorted; nested values as JSON.
	var buf bytes.Buffer
	w := New(&buf, CSV, Options{Delimiter: ';'})
	w.Write(Entry{Row: 1, Status: journal.Skipped, Values: map[string]any{"z": []any{int64(1), "a"}, "a": 1.5, "m": nil}})
	w.Close()
	if got := strings.SplitN(buf.String(), "\n", 3)[1]; got != `1.5;;"[1,""a""]";1;;skipped;;;;;;;;0;` {
		t.Errorf("row: %s", got)
	}
}

func TestFormatOf(t *testing.T) {
	if FormatOf("x.CSV") != CSV || FormatOf("x.tsv") != CSV || FormatOf("x.jsonl") != JSONLines || FormatOf("x") != JSONLines {
		t.Error("FormatOf")
	}
}

func TestPartialRecipients(t *testing.T) {
	tests := []struct {
		name    string
		values  map[string]any
		refused []string
		partial bool
	}{
		{"csv partial", map[string]any{"email": "a@x", "ms_status": "partial", "ms_refused": "b@x, c@x"}, []string{"b@x", "c@x"}, true},
		{"csv edited by hand", map[string]any{"ms_status": "partial", "ms_refused": " b@x,c@x , "}, []string{"b@x", "c@x"}, true},
		{"csv partial, none listed", map[string]any{"ms_status": "partial", "ms_refused": ""}, nil, true},
		{"csv failed", map[string]any{"ms_status": "failed", "ms_refused": "b@x"}, nil, false},
		{"csv sent", map[string]any{"ms_status": "sent"}, nil, false},
		{"not a report", map[string]any{"email": "a@x", "status": "partial", "refused": "b@x"}, nil, false},
		{"json partial", map[string]any{"mailscript": map[string]any{"status": "partial", "refused": "b@x, c@x"}}, []string{"b@x", "c@x"}, true},
		{"json list", map[string]any{"mailscript": map[string]any{"status": "partial", "refused": []any{"b@x", "c@x, d@x", int64(3)}}}, []string{"b@x", "c@x", "d@x"}, true},
		{"json sent", map[string]any{"mailscript": map[string]any{"status": "sent"}}, nil, false},
		{"json wins over columns", map[string]any{"mailscript": map[string]any{"status": "sent"}, "ms_status": "partial", "ms_refused": "b@x"}, nil, false},
	}
	for _, tt := range tests {
		refused, partial := PartialRecipients(tt.values)
		if partial != tt.partial || !reflect.DeepEqual(refused, tt.refused) {
			t.Errorf("%s: %q, %v; want %q, %v", tt.name, refused, partial, tt.refused, tt.partial)
		}
	}
}
