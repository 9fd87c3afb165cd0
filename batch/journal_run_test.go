package batch_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/report"
	"github.com/mailscript/mailscript/batch/selection"
)

// openNewJournal creates dir/rows.journal (as newJournal) and opens it for
// a run.
func openNewJournal(t *testing.T, dir string) (*journal.Journal, string) {
	t.Helper()
	jpath := filepath.Join(dir, "rows.journal")
	newJournal(t, jpath)
	j, err := journal.Open(jpath, journal.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return j, jpath
}

// newJournal creates a journal at path holding recs (no file hashes, so
// that Open checks none).
func newJournal(t *testing.T, path string, recs ...journal.Record) {
	t.Helper()
	j, err := journal.Create(path, journal.Header{RunID: "run0", Template: "t.tmpl", Data: "rows.csv"}, journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// journalRecords reads the records of a journal file from byte offset
// from on (the header is skipped when from is 0).
func journalRecords(t *testing.T, path string, from int64) []journal.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []journal.Record
	sc := bufio.NewScanner(bytes.NewReader(b[from:]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"mailscript_journal"`)) {
			continue
		}
		var r journal.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		recs = append(recs, r)
	}
	return recs
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// readCSVReport reads a CSV report into one map per row, by ms_row.
func readCSVReport(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = rec[i]
		}
		out[m["ms_row"]] = m
	}
	return out
}

// TestRenderedRecords runs the check pass (Validate into a spool, with the
// journal) and then the batch, on a resumed journal whose rows are in every
// state: a row gets a "rendered" record when the check pass spools it,
// unless the journal holds it in a later state, and a row whose last
// record is "rendered" was never sent, so it is sent normally.
func TestRenderedRecords(t *testing.T) {
	msg := func(row int) string { return fmt.Sprintf("<earlier-%d@example.org>", row) }
	tests := []struct {
		earlier []journal.State // the row's records before this run
		want    []string        // the records this run appends
		sent    bool            // the server gets it
	}{
		1: {nil, []string{"rendered", "sending", "sent"}, true},
		2: {[]journal.State{journal.Rendered}, []string{"rendered", "sending", "sent"}, true},
		3: {[]journal.State{journal.Rendered, journal.Sending}, nil, false}, // uncertain at Open
		4: {[]journal.State{journal.Rendered, journal.Sending, journal.Deferred}, []string{"sending", "sent"}, true},
		5: {[]journal.State{journal.Sending, journal.Uncertain}, nil, false},
		6: {[]journal.State{journal.Rendered, journal.Sending, journal.Sent}, nil, false},
		7: {[]journal.State{journal.Failed}, nil, false},
		8: {nil, []string{"rendered", "sending", "sent"}, true},
	}
	n := len(tests) - 1
	dir := t.TempDir()
	jpath := filepath.Join(dir, "rows.journal")
	var recs []journal.Record
	for row := 1; row <= n; row++ {
		for i, st := range tests[row].earlier {
			r := journal.Record{Row: row, State: st, MessageID: msg(row)}
			if st != journal.Rendered {
				r.Attempt = 1
			}
			if st == journal.Rendered && i == 0 {
				r.MessageID = "" // the derived one: not kept by the table
			}
			recs = append(recs, r)
		}
	}
	newJournal(t, jpath, recs...)
	j, err := journal.Open(jpath, journal.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if got := j.FoundUncertain(); !reflect.DeepEqual(got, []int{3}) {
		t.Fatalf("FoundUncertain = %v, want [3]", got)
	}
	from := fileSize(t, jpath)

	f := startFault(t, nil)
	sp, err := batch.NewSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	tmpl := parseTemplate(t, testTemplate)
	res, err := batch.Validate(context.Background(), batch.RenderConfig{Template: tmpl, Rows: source(t, csvRows(n, nil), selection.Options{}),
		RunID: j.Header().RunID, MessageID: j.MessageID, Spool: sp, Journal: j})
	if err != nil || res.Valid != n {
		t.Fatalf("validate: %+v, %v", res, err)
	}
	cfg := baseConfig(t, n, nil, f)
	cfg.Template, cfg.Journal, cfg.Spool = tmpl, j, sp
	s, _ := runBatch(t, cfg)
	if s.Sent != 4 || s.EarlierSent != 1 || s.EarlierFailed != 1 || s.EarlierUncertain != 2 {
		t.Fatalf("summary %+v", s)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	byRow := map[int][]journal.Record{}
	for _, r := range journalRecords(t, jpath, from) {
		byRow[r.Row] = append(byRow[r.Row], r)
	}
	got, _ := f.counts()
	hex := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	for row := 1; row <= n; row++ {
		tt := tests[row]
		var states []string
		for _, r := range byRow[row] {
			states = append(states, r.State.String())
		}
		if !reflect.DeepEqual(states, tt.want) {
			t.Errorf("row %d (earlier %v): appended %v, want %v", row, tt.earlier, states, tt.want)
		}
		if want := map[bool]int{true: 1}[tt.sent]; got[row] != want {
			t.Errorf("row %d stored %d times, want %d", row, got[row], want)
		}
		if len(byRow[row]) < 2 || byRow[row][0].State != journal.Rendered {
			continue
		}
		// The rendered record names what is sent: key, recipients, the
		// message's hash and Message-ID, as the sending record does.
		rd, sn := byRow[row][0], byRow[row][1]
		email := fmt.Sprintf("user%d@example.org", row)
		if rd.Key != email || !reflect.DeepEqual(rd.Recipients, []string{email}) || !hex.MatchString(rd.Hash) ||
			rd.Hash != sn.Hash || rd.MessageID == "" || rd.MessageID != sn.MessageID || rd.Attempt != 0 {
			t.Errorf("row %d: rendered %+v, sending %+v", row, rd, sn)
		}
		if f.ids[row] != rd.MessageID {
			t.Errorf("row %d: sent with Message-ID %s, rendered with %s", row, f.ids[row], rd.MessageID)
		}
	}
	if f.ids[4] != msg(4) {
		t.Errorf("deferred row 4 re-sent with Message-ID %s, want %s", f.ids[4], msg(4))
	}
}

// TestResumeRowsLeftSending resumes a journal that ends in "sending"
// records (the process died after the journal said the dots were about to
// be written): those rows get an "uncertain" record saying so, are counted
// and reported as uncertain, and are sent again only with ResendUncertain,
// with the Message-ID of their "sending" record. The rows an earlier run
// finished are reported with their reply, codes and queue id read back from
// the journal.
func TestResumeRowsLeftSending(t *testing.T) {
	const n = 6
	left := func(row int) string { return fmt.Sprintf("<left-%d@example.org>", row) }
	var recs []journal.Record
	for row := 1; row <= 4; row++ {
		recs = append(recs, journal.Record{Row: row, Key: fmt.Sprintf("user%d@example.org", row), State: journal.Sending,
			MessageID: left(row), Attempt: 1})
	}
	for row := 1; row <= 2; row++ {
		recs = append(recs, journal.Record{Row: row, State: journal.Sent, Attempt: 1, Code: 250, Enhanced: "2.0.0",
			Reply: fmt.Sprintf("Ok: queued as Q%d", row), QueueID: fmt.Sprintf("Q%d", row)})
	}
	tests := []struct {
		name       string
		resend     bool
		serverRows []int
		status     string // rows 3 and 4 in the report
	}{
		{"uncertain rows are not sent again", false, []int{5, 6}, "uncertain"},
		{"--resend-uncertain sends them with the same Message-ID", true, []int{3, 4, 5, 6}, "sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			jpath := filepath.Join(dir, "rows.journal")
			newJournal(t, jpath, recs...)
			j, err := journal.Open(jpath, journal.OpenOptions{Positions: true})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			// The check pass spools every row (the recipients of the rows
			// done earlier are reported from it).
			sp, err := batch.NewSpool(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			tmpl := parseTemplate(t, testTemplate)
			if _, err := batch.Validate(context.Background(), batch.RenderConfig{Template: tmpl, Rows: source(t, csvRows(n, nil), selection.Options{}),
				RunID: j.Header().RunID, MessageID: j.MessageID, Spool: sp, Journal: j}); err != nil {
				t.Fatal(err)
			}
			rpath := filepath.Join(dir, "report.csv")
			rep := report.Create(rpath, report.Options{Columns: []string{"n", "email", "name"}})
			f := startFault(t, nil)
			cfg := baseConfig(t, n, nil, f)
			cfg.Template, cfg.Spool = tmpl, sp
			cfg.Journal, cfg.Report, cfg.ResendUncertain = j, rep, tt.resend
			s, _ := runBatch(t, cfg)
			if err := rep.Close(); err != nil {
				t.Fatal(err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}

			// The journal: an "uncertain" record for rows 3 and 4, written
			// by Open, before this run's records.
			var found []int
			for _, r := range journalRecords(t, jpath, 0) {
				if r.State == journal.Uncertain {
					if r.Error != journal.FoundAtResume || r.MessageID != left(r.Row) || r.Attempt != 1 {
						t.Errorf("uncertain record %+v", r)
					}
					found = append(found, r.Row)
				}
			}
			if !reflect.DeepEqual(found, []int{3, 4}) {
				t.Errorf("uncertain records for rows %v, want [3 4]", found)
			}

			// The server, and the summary.
			got, total := f.counts()
			for _, row := range tt.serverRows {
				if got[row] != 1 {
					t.Errorf("row %d stored %d times", row, got[row])
				}
			}
			if total != len(tt.serverRows) {
				t.Errorf("server stored %d messages, want %d", total, len(tt.serverRows))
			}
			if tt.resend {
				for _, row := range []int{3, 4} {
					if f.ids[row] != left(row) {
						t.Errorf("row %d re-sent with Message-ID %s, want %s", row, f.ids[row], left(row))
					}
				}
				if s.Sent != 4 || s.EarlierSent != 2 || s.EarlierUncertain != 0 || !s.Delivered() {
					t.Errorf("summary %+v", s)
				}
			} else if s.Sent != 2 || s.EarlierSent != 2 || s.EarlierUncertain != 2 || s.Delivered() {
				t.Errorf("summary %+v", s)
			}

			// The report: rows 3 and 4 as uncertain, found at resume (or
			// sent); rows 1 and 2 with their reply from the journal.
			rows := readCSVReport(t, rpath)
			for _, row := range []string{"3", "4"} {
				r := rows[row]
				if r["ms_status"] != tt.status {
					t.Errorf("report row %s: status %q, want %q", row, r["ms_status"], tt.status)
				}
				if !tt.resend && (!strings.Contains(r["ms_reply"], "found at resume") || !strings.Contains(r["ms_reply"], "RFC 1047") ||
					r["ms_attempts"] != "1" || r["ms_recipient"] != "user"+row+"@example.org") {
					t.Errorf("report row %s: %v", row, r)
				}
			}
			for _, row := range []string{"1", "2"} {
				r := rows[row]
				if r["ms_status"] != "sent" || r["ms_code"] != "250" || r["ms_enhanced"] != "2.0.0" || r["ms_queue_id"] != "Q"+row ||
					r["ms_recipient"] != "user"+row+"@example.org" ||
					!strings.HasPrefix(r["ms_reply"], "Ok: queued as Q"+row+"; recorded by an earlier run") || r["ms_last_attempt"] == "" {
					t.Errorf("report row %s (done earlier): %v", row, r)
				}
			}
		})
	}
}
