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
	}
}

func TestCSV(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, CSV, Options{Columns: []string{"email", "name", "ms_status"}})
	for _, e := range entries(
		map[string]any{"email": "a@x", "name": "Ann, A", "ms_status": "failed"},
		map[string]any{"email": "b@x", "name": "Bob", "ms_status": "failed"},
	) {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `email,name,ms_row,ms_recipient,ms_status,ms_code,ms_enhanced,ms_reply,ms_queue_id,ms_attempts,ms_first_attempt,ms_last_attempt,ms_duration_ms
a@x,"Ann, A",1,a@x,sent,250,2.0.0,Ok: queued as Q1,Q1,1,2025-01-02T03:04:05.000Z,2025-01-02T03:04:05.000Z,20
b@x,Bob,2,"b@x, c@x",failed,550,5.1.1,no such user <b@x>,,2,2025-01-02T03:04:05.000Z,2025-01-02T03:04:06.500Z,1500
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
	) {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	want := `{"email":"a@x","mailscript":{"attempts":1,"code":250,"duration_ms":20,"enhanced":"2.0.0","first_attempt":"2025-01-02T03:04:05.000Z","last_attempt":"2025-01-02T03:04:05.000Z","queue_id":"Q1","recipient":"a@x","reply":"Ok: queued as Q1","row":1,"status":"sent"},"tags":["x"]}
{"email":"b@x","mailscript":{"attempts":2,"code":550,"duration_ms":1500,"enhanced":"5.1.1","first_attempt":"2025-01-02T03:04:05.000Z","last_attempt":"2025-01-02T03:04:06.500Z","recipient":"b@x, c@x","reply":"no such user <b@x>","row":2,"status":"failed"},"n":3}
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// TestRetryRoundTrip reads a report back as data and selects the failed rows
// with the filter, for both formats.
func TestRetryRoundTrip(t *testing.T) {
	for _, tt := range []struct{ file, filter string }{
		{"report.csv", `ms_status == "failed" && ms_code >= 500`},
		{"report.jsonl", `mailscript.status == "failed" && mailscript.code >= 500`},
	} {
		p := filepath.Join(t.TempDir(), tt.file)
		w := Create(p, Options{})
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s: created before the first row", tt.file)
		}
		for _, e := range entries(map[string]any{"email": "a@x", "name": "Ann"}, map[string]any{"email": "b@x", "name": "Bob"}) {
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
				picked = append(picked, row.Values["email"].(string)+"/"+row.Values["name"].(string))
			}
		}
		r.Close()
		if !reflect.DeepEqual(picked, []string{"b@x/Bob"}) {
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
	if got := strings.SplitN(buf.String(), "\n", 3)[1]; got != `1.5;;"[1,""a""]";1;;skipped;;;;;;;;0` {
		t.Errorf("row: %s", got)
	}
}

func TestFormatOf(t *testing.T) {
	if FormatOf("x.CSV") != CSV || FormatOf("x.tsv") != CSV || FormatOf("x.jsonl") != JSONLines || FormatOf("x") != JSONLines {
		t.Error("FormatOf")
	}
}
