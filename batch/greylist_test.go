package batch_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/report"
	"github.com/mailscript/mailscript/batch/selection"
)

// greyRows are the rows of the greylisting tests (ccTemplate): row 2's Cc
// is the recipient the server refuses with a 4xx.
const greyRows = `n,email,cc,name
1,ann@example.org,amy@example.org,Ann
2,bea@example.org,grey@example.org,Bea
3,cid@example.org,cal@example.org,Cid
`

// greyServer refuses grey@example.org at RCPT with reply(n), n the RCPTs
// for it so far (nil: accepted), and accepts everybody else.
func greyServer(t *testing.T, reply func(n int) error) *faultServer {
	return startFault(t, func(f *faultServer) {
		f.rcpt = func(to string, n int) error {
			if to == "grey@example.org" {
				return reply(n)
			}
			return nil
		}
	})
}

// deliveries returns, for row, the envelope recipients of each message
// stored, in order, and checks that they all carry one Message-ID.
func deliveries(t *testing.T, f *faultServer, row int) [][]string {
	t.Helper()
	var out [][]string
	id := ""
	for _, m := range f.messages() {
		if m.row != row {
			continue
		}
		out = append(out, m.to)
		got := string(msgIDHeader.FindSubmatch(m.msg)[1])
		got = strings.TrimSpace(got)
		if id != "" && got != id {
			t.Errorf("row %d delivered with Message-IDs %s and %s", row, id, got)
		}
		id = got
		if s := string(m.msg); !strings.Contains(s, "To: <bea@example.org>\r\n") || !strings.Contains(s, "Cc: <grey@example.org>\r\n") {
			t.Errorf("row %d: the headers changed on a retry:\n%s", row, s)
		}
	}
	return out
}

// TestGreylistedRecipientIsRetried: To accepted, Cc refused 451 4.7.1 once
// (greylisting). The row is retried to the Cc only — the same message, the
// same Message-ID — and ends sent after 2 attempts; the To got exactly one
// copy. The journal shows the retry: a "deferred" record whose rcpt is the
// Cc (with its refusal), then a "sending" to the Cc only, then "sent".
func TestGreylistedRecipientIsRetried(t *testing.T) {
	dir := t.TempDir()
	f := greyServer(t, func(n int) error {
		if n == 1 {
			return smtpErr(451, "4.7.1", "greylisted, try again later")
		}
		return nil
	})
	j, jpath := openNewJournal(t, dir)
	rpath := filepath.Join(dir, "report.csv")
	rep := report.Create(rpath, report.Options{Columns: []string{"n", "email", "cc", "name"}})
	cfg := baseConfig(t, 0, nil, f)
	cfg.Template, cfg.Rows, cfg.Journal, cfg.Report = parseTemplate(t, ccTemplate), source(t, greyRows, selection.Options{}), j, rep
	s, res := runBatch(t, cfg)
	rep.Close()
	j.Close()
	if !s.Delivered() || s.Sent != 3 || s.Partial != 0 || s.Deferred != 0 || s.Throttled != 1 {
		t.Fatalf("summary %+v", s)
	}
	r := res[2]
	if r.Status != journal.Sent || len(r.Refused) != 0 || r.Attempts != 2 || r.Error != "" ||
		!reflect.DeepEqual(r.Recipients, []string{"bea@example.org", "grey@example.org"}) {
		t.Errorf("row 2: %+v", r)
	}
	want := [][]string{{"bea@example.org"}, {"grey@example.org"}}
	if got := deliveries(t, f, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("row 2 delivered to %v, want %v", got, want)
	}
	if rc := f.rcpts(); rc["bea@example.org"] != 1 || rc["grey@example.org"] != 2 {
		t.Errorf("RCPTs %v", rc)
	}

	var states []string
	for _, rec := range journalRecords(t, jpath, 0) {
		if rec.Row != 2 {
			continue
		}
		states = append(states, rec.State.String()+" "+strings.Join(rec.Recipients, ","))
		switch rec.State {
		case journal.Deferred:
			wantRef := []journal.Refusal{{Rcpt: "grey@example.org", Code: 451, Enhanced: "4.7.1", Reply: "greylisted, try again later"}}
			if !reflect.DeepEqual(rec.Refused, wantRef) || rec.Code != 250 || rec.Attempt != 1 {
				t.Errorf("deferred record %+v", rec)
			}
		case journal.Sent:
			if len(rec.Refused) != 0 || rec.Attempt != 2 {
				t.Errorf("sent record %+v", rec)
			}
		}
	}
	wantStates := []string{"sending bea@example.org,grey@example.org", "deferred grey@example.org", "sending grey@example.org", "sent "}
	if !reflect.DeepEqual(states, wantStates) {
		t.Errorf("row 2's records: %q, want %q", states, wantStates)
	}
	rows := readCSVReport(t, rpath)
	if e := rows["2"]; e["ms_status"] != "sent" || e["ms_refused"] != "" || e["ms_attempts"] != "2" ||
		e["ms_recipient"] != "bea@example.org, grey@example.org" {
		t.Errorf("report row 2: %v", e)
	}
}

// TestGreylistedRecipientExhausted: the Cc is refused 450 at every
// attempt. The row ends partial after --max-attempts: the To got exactly
// one copy, the Cc is listed as refused with its last reply (journal and
// report), so a retry batch from the report can still reach it.
func TestGreylistedRecipientExhausted(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int32
	f := greyServer(t, func(n int) error {
		calls.Add(1)
		return smtpErr(450, "4.2.0", "mailbox busy ("+string(rune('0'+n))+")")
	})
	j, jpath := openNewJournal(t, dir)
	rpath := filepath.Join(dir, "report.csv")
	rep := report.Create(rpath, report.Options{Columns: []string{"n", "email", "cc", "name"}})
	cfg := baseConfig(t, 0, nil, f)
	cfg.Template, cfg.Rows, cfg.Journal, cfg.Report = parseTemplate(t, ccTemplate), source(t, greyRows, selection.Options{}), j, rep
	cfg.MaxAttempts = 3
	s, res := runBatch(t, cfg)
	rep.Close()
	j.Close()
	if s.Delivered() || s.Sent != 3 || s.Partial != 1 || s.Deferred != 0 || s.Failed != 0 || s.Throttled != 0 {
		t.Fatalf("summary %+v", s)
	}
	wantRef := []journal.Refusal{{Rcpt: "grey@example.org", Code: 450, Enhanced: "4.2.0", Reply: "mailbox busy (3)"}}
	r := res[2]
	if r.Status != journal.Sent || !reflect.DeepEqual(r.Refused, wantRef) || r.Attempts != 3 || r.Code != 250 ||
		!reflect.DeepEqual(r.Recipients, []string{"bea@example.org", "grey@example.org"}) ||
		!strings.HasPrefix(r.Error, "refused: grey@example.org: 450 4.2.0 mailbox busy (3)") {
		t.Errorf("row 2: %+v", r)
	}
	if got := deliveries(t, f, 2); !reflect.DeepEqual(got, [][]string{{"bea@example.org"}}) {
		t.Errorf("row 2 delivered to %v", got)
	}
	if rc := f.rcpts(); rc["bea@example.org"] != 1 || rc["grey@example.org"] != 3 {
		t.Errorf("RCPTs %v", rc)
	}
	recs := journalRecords(t, jpath, 0)
	var last journal.Record
	for _, rec := range recs {
		if rec.Row == 2 {
			last = rec
		}
	}
	if last.State != journal.Sent || !reflect.DeepEqual(last.Refused, wantRef) || last.Code != 250 {
		t.Errorf("row 2's last record %+v", last)
	}
	rows := readCSVReport(t, rpath)
	if e := rows["2"]; e["ms_status"] != report.Partial || e["ms_refused"] != "grey@example.org" || e["ms_attempts"] != "3" ||
		e["ms_code"] != "250" {
		t.Errorf("report row 2: %v", e)
	}
	if e := rows["1"]; e["ms_status"] != "sent" || e["ms_refused"] != "" {
		t.Errorf("report row 1: %v", e)
	}
}

// TestGreylistMixedRefusals: one Cc refused 550 (final: never retried),
// another refused with a 4xx at first. The 4xx one gets the message on a
// retry, or ends refused with the reply that gave up on it.
func TestGreylistMixedRefusals(t *testing.T) {
	const tmpl = `---
from: sender@example.org
to: '{{.email}}'
cc: '{{.cc}}'
subject: 'Row {{.n}}'
headers:
  X-Row: '{{.n}}'
---
Hello.
`
	const rows = "n,email,cc\n1,ann@example.org,\"perm@example.org, grey@example.org\"\n"
	tests := []struct {
		name     string
		grey     func(n int) error
		attempts int
		refused  []journal.Refusal
		greyRcpt int // RCPTs for grey@
		grey2    bool
	}{
		{"4xx then accepted", func(n int) error {
			if n == 1 {
				return smtpErr(450, "4.2.0", "greylisted")
			}
			return nil
		}, 2, []journal.Refusal{{Rcpt: "perm@example.org", Code: 550, Enhanced: "5.1.1", Reply: "no such user"}}, 2, true},
		{"4xx always", func(int) error { return smtpErr(450, "4.2.0", "greylisted") }, 4,
			[]journal.Refusal{{Rcpt: "perm@example.org", Code: 550, Enhanced: "5.1.1", Reply: "no such user"},
				{Rcpt: "grey@example.org", Code: 450, Enhanced: "4.2.0", Reply: "greylisted"}}, 4, false},
		{"4xx then 5xx", func(n int) error {
			if n == 1 {
				return smtpErr(451, "4.3.0", "try later")
			}
			return smtpErr(550, "5.7.1", "go away")
		}, 2, []journal.Refusal{{Rcpt: "perm@example.org", Code: 550, Enhanced: "5.1.1", Reply: "no such user"},
			{Rcpt: "grey@example.org", Code: 550, Enhanced: "5.7.1", Reply: "go away"}}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFault(t, func(f *faultServer) {
				f.rcpt = func(to string, n int) error {
					switch to {
					case "perm@example.org":
						return smtpErr(550, "5.1.1", "no such user")
					case "grey@example.org":
						return tt.grey(n)
					}
					return nil
				}
			})
			cfg := baseConfig(t, 0, nil, f)
			cfg.Template, cfg.Rows, cfg.MaxAttempts = parseTemplate(t, tmpl), source(t, rows, selection.Options{}), 4
			s, res := runBatch(t, cfg)
			r := res[1]
			if r.Status != journal.Sent || r.Attempts != tt.attempts || !reflect.DeepEqual(r.Refused, tt.refused) {
				t.Errorf("row: %+v", r)
			}
			if s.Sent != 1 || s.Partial != 1 || s.Failed != 0 || s.Deferred != 0 {
				t.Errorf("summary %+v", s)
			}
			rc := f.rcpts()
			if rc["ann@example.org"] != 1 || rc["perm@example.org"] != 1 || rc["grey@example.org"] != tt.greyRcpt {
				t.Errorf("RCPTs %v", rc)
			}
			want := [][]string{{"ann@example.org"}}
			if tt.grey2 {
				want = append(want, []string{"grey@example.org"})
			}
			var got [][]string
			for _, m := range f.messages() {
				got = append(got, m.to)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("delivered to %v, want %v", got, want)
			}
		})
	}
}

// TestGreylistResume: the run stops between the delivery to the To and the
// retry to the Cc (the journal's last record for the row is "deferred",
// rcpt the Cc). --resume sends to the Cc only, with the same Message-ID;
// the To gets no second copy.
func TestGreylistResume(t *testing.T) {
	dir := t.TempDir()
	var open atomic.Bool // grey@ accepts once the first run is stopped
	f := greyServer(t, func(int) error {
		if !open.Load() {
			return smtpErr(451, "4.7.1", "greylisted")
		}
		return nil
	})
	j, jpath := openNewJournal(t, dir)
	cfg := baseConfig(t, 0, nil, f)
	cfg.Template, cfg.Rows, cfg.Journal = parseTemplate(t, ccTemplate), source(t, greyRows, selection.Options{}), j
	cfg.RetryBase, cfg.RetryMax = time.Minute, time.Minute // the retry waits: the run is stopped first
	prog := &batch.Progress{}
	cfg.Progress = prog
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *batch.Summary)
	go func() {
		s, _ := batch.Run(ctx, cfg)
		done <- s
	}()
	deadline := time.Now().Add(20 * time.Second)
	// Wait for the client's side too: the server may hold the third
	// message before the client has read the reply to its dot (a stop then
	// leaves that row uncertain, which is right but not this test).
	for len(f.messages()) < 3 || prog.Retrying.Load() != 1 || prog.Sent.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the first deliveries did not happen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	s := <-done
	j.Close()
	if s.Sent != 2 || s.Deferred != 1 || s.Delivered() {
		t.Fatalf("stopped run: %+v", s)
	}
	var last journal.Record
	for _, rec := range journalRecords(t, jpath, 0) {
		if rec.Row == 2 {
			last = rec
		}
	}
	if last.State != journal.Deferred || !reflect.DeepEqual(last.Recipients, []string{"grey@example.org"}) || last.Code != 250 {
		t.Fatalf("row 2's last record: %+v", last)
	}

	open.Store(true)
	j, err := journal.Open(jpath, journal.OpenOptions{Positions: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg = baseConfig(t, 0, nil, f)
	cfg.Template, cfg.Rows, cfg.Journal = parseTemplate(t, ccTemplate), source(t, greyRows, selection.Options{}), j
	s, res := runBatch(t, cfg)
	j.Close()
	if !s.Delivered() || s.Sent != 1 || s.EarlierSent != 2 {
		t.Fatalf("resumed: %+v", s)
	}
	if r := res[2]; r.Status != journal.Sent || len(r.Refused) != 0 ||
		!reflect.DeepEqual(r.Recipients, []string{"bea@example.org", "grey@example.org"}) {
		t.Errorf("row 2: %+v", r)
	}
	want := [][]string{{"bea@example.org"}, {"grey@example.org"}}
	if got := deliveries(t, f, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("row 2 delivered to %v, want %v", got, want)
	}
	if rc := f.rcpts(); rc["bea@example.org"] != 1 {
		t.Errorf("RCPTs %v: the To again", rc)
	}
}

// TestGreylistResumeFromJournal resumes journals as a killed run leaves
// them: killed while waiting for the retry ("deferred", rcpt the Cc),
// killed during the retry ("sending" to the Cc: found uncertain at resume,
// keeping its recipients), and a "deferred" record of an older journal
// without rcpt (sent to every recipient, as before).
func TestGreylistResumeFromJournal(t *testing.T) {
	const id = "<run0.2.mailscript@old.example>"
	full := []string{"bea@example.org", "grey@example.org"}
	cc := []string{"grey@example.org"}
	ref := []journal.Refusal{{Rcpt: "grey@example.org", Code: 451, Enhanced: "4.7.1", Reply: "greylisted"}}
	first := []journal.Record{
		{Row: 1, State: journal.Sent, Attempt: 1, Code: 250},
		{Row: 3, State: journal.Sent, Attempt: 1, Code: 250},
		{Row: 2, State: journal.Sending, Recipients: full, MessageID: id, Attempt: 1},
	}
	tests := []struct {
		name     string
		recs     []journal.Record
		resend   bool
		want     [][]string // deliveries of row 2
		status   journal.State
		earlierU int
	}{
		{"killed while waiting", append(first[:3:3],
			journal.Record{Row: 2, State: journal.Deferred, Recipients: cc, Refused: ref, Attempt: 1, Code: 250, QueueID: "Q1"}),
			false, [][]string{cc}, journal.Sent, 0},
		{"killed during the retry, resend", append(first[:3:3],
			journal.Record{Row: 2, State: journal.Deferred, Recipients: cc, Refused: ref, Attempt: 1, Code: 250},
			journal.Record{Row: 2, State: journal.Sending, Recipients: cc, Refused: ref, MessageID: id, Attempt: 2}),
			true, [][]string{cc}, journal.Sent, 0},
		{"killed during the retry", append(first[:3:3],
			journal.Record{Row: 2, State: journal.Deferred, Recipients: cc, Refused: ref, Attempt: 1, Code: 250},
			journal.Record{Row: 2, State: journal.Sending, Recipients: cc, Refused: ref, MessageID: id, Attempt: 2}),
			false, nil, journal.Uncertain, 1},
		{"older journal", append(first[:3:3],
			journal.Record{Row: 2, State: journal.Deferred, Attempt: 1, Code: 451, Enhanced: "4.3.0"}),
			false, [][]string{full}, journal.Sent, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			jpath := filepath.Join(dir, "rows.journal")
			newJournal(t, jpath, tt.recs...)
			j, err := journal.Open(jpath, journal.OpenOptions{Positions: true, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if tt.earlierU > 0 {
				rec, err := j.LastRecord(2)
				if err != nil || rec == nil || rec.State != journal.Uncertain || !reflect.DeepEqual(rec.Recipients, cc) ||
					!reflect.DeepEqual(rec.Refused, ref) {
					t.Errorf("the uncertain record Open appended: %+v %v", rec, err)
				}
			}
			f := startFault(t, nil)
			cfg := baseConfig(t, 0, nil, f)
			cfg.Template, cfg.Rows, cfg.Journal = parseTemplate(t, ccTemplate), source(t, greyRows, selection.Options{}), j
			cfg.ResendUncertain = tt.resend
			s, res := runBatch(t, cfg)
			j.Close()
			if r := res[2]; r.Status != tt.status {
				t.Errorf("row 2: %+v", r)
			}
			if s.EarlierUncertain != tt.earlierU {
				t.Errorf("summary %+v", s)
			}
			var got [][]string
			for _, m := range f.messages() {
				got = append(got, m.to)
				if m.row != 2 || !strings.Contains(string(m.msg), "Message-Id: "+id) && !strings.Contains(string(m.msg), "Message-ID: "+id) {
					t.Errorf("stored row %d:\n%s", m.row, m.msg)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("delivered to %v, want %v", got, tt.want)
			}
		})
	}
}
