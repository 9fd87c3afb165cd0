package batch_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/filter"
	"github.com/mailscript/mailscript/batch/journal"
	"github.com/mailscript/mailscript/batch/report"
	"github.com/mailscript/mailscript/batch/selection"
)

// ccTemplate sends each row to two recipients: to and cc.
const ccTemplate = `---
from: sender@example.org
to: '{{.email}}'
cc: '{{.cc}}'
subject: 'Row {{.n}}'
headers:
  X-Row: '{{.n}}'
---
Hello {{.name}}, this is row {{.n}}.
`

const ccRows = `n,email,cc,name
1,ann@example.org,amy@example.org,Ann
2,bea@example.org,bounce@example.org,Bea
3,cid@example.org,cal@example.org,Cid
`

// TestPartialRowRetryLoop sends a batch in which one recipient of row 2 is
// refused (550 at RCPT) while the other accepts the message: the row is
// sent but partial — counted, journaled with the refusal, reported as
// "partial" with ms_refused. A resumed run reports it so again from the
// journal. A retry batch whose data is the report, filtered to the failed
// and partial rows, sends row 2 to the refused recipient only, with the
// headers unchanged, never again to the one that accepted it.
func TestPartialRowRetryLoop(t *testing.T) {
	tests := []struct {
		report, filter string
	}{
		{"report.csv", `ms_status in ["failed", "partial"]`},
		{"report.jsonl", `mailscript.status in ["failed", "partial"]`},
	}
	for _, tt := range tests {
		t.Run(tt.report, func(t *testing.T) {
			dir := t.TempDir()
			tmpl := parseTemplate(t, ccTemplate)
			f := startFault(t, func(f *faultServer) {
				f.rcpt = func(to string, _ int) error {
					if strings.HasPrefix(to, "bounce@") {
						return smtpErr(550, "5.1.1", "no such user")
					}
					return nil
				}
			})
			j, jpath := openNewJournal(t, dir)
			rpath := filepath.Join(dir, tt.report)
			rep := report.Create(rpath, report.Options{Columns: []string{"n", "email", "cc", "name"}})
			cfg := baseConfig(t, 0, nil, f)
			cfg.Template, cfg.Rows, cfg.Journal, cfg.Report = tmpl, source(t, ccRows, selection.Options{}), j, rep
			s, res := runBatch(t, cfg)
			rep.Close()
			j.Close()
			if s.Sent != 3 || s.Partial != 1 || s.Failed != 0 || s.Delivered() {
				t.Fatalf("summary %+v", s)
			}
			want := []journal.Refusal{{Rcpt: "bounce@example.org", Code: 550, Enhanced: "5.1.1", Reply: "no such user"}}
			if r := res[2]; r.Status != journal.Sent || !reflect.DeepEqual(r.Refused, want) ||
				r.Error != "refused: bounce@example.org: 550 5.1.1 no such user" {
				t.Errorf("row 2: %+v", r)
			}
			if len(res[1].Refused) != 0 || len(res[3].Refused) != 0 {
				t.Errorf("rows 1, 3: %+v %+v", res[1], res[3])
			}
			if rc := f.rcpts(); rc["bea@example.org"] != 1 || rc["bounce@example.org"] != 1 {
				t.Errorf("first batch RCPTs %v", rc)
			}
			for _, r := range journalRecords(t, jpath, 0) {
				if r.State == journal.Sent && (r.Row == 2) != (len(r.Refused) > 0) {
					t.Errorf("sent record %+v", r)
				}
				if r.Row == 2 && r.State == journal.Sent && !reflect.DeepEqual(r.Refused, want) {
					t.Errorf("row 2's sent record: refused %+v", r.Refused)
				}
			}

			// Resumed: the partial row is done, counted as such, and
			// reported as partial from the journal.
			j, err := journal.Open(jpath, journal.OpenOptions{Positions: true})
			if err != nil {
				t.Fatal(err)
			}
			rpath2 := filepath.Join(dir, "again-"+tt.report)
			rep = report.Create(rpath2, report.Options{Columns: []string{"n", "email", "cc", "name"}})
			cfg.Rows, cfg.Journal, cfg.Report = source(t, ccRows, selection.Options{}), j, rep
			s, _ = runBatch(t, cfg)
			rep.Close()
			j.Close()
			if s.Sent != 0 || s.EarlierSent != 3 || s.EarlierPartial != 1 || s.Delivered() {
				t.Fatalf("resumed summary %+v", s)
			}

			// The retry from each report: row 2 only, to bounce@ only.
			for _, rp := range []string{rpath, rpath2} {
				retry := startFault(t, nil)
				expr, err := filter.Parse(tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				r, err := data.Open(rp, data.Options{})
				if err != nil {
					t.Fatal(err)
				}
				cfg := baseConfig(t, 0, nil, retry)
				cfg.Template, cfg.Rows = tmpl, selection.NewStream(r, rp, selection.New(selection.Options{Filter: expr}))
				s, res := runBatch(t, cfg)
				r.Close()
				if s.Rows != 1 || s.Sent != 1 || !s.Delivered() {
					t.Fatalf("%s: retry summary %+v", rp, s)
				}
				for _, r := range res { // numbered by the report's lines
					if !reflect.DeepEqual(r.Recipients, []string{"bounce@example.org"}) {
						t.Errorf("%s: retry of row %d to %v", rp, r.Row, r.Recipients)
					}
				}
				if rc := retry.rcpts(); !reflect.DeepEqual(rc, map[string]int{"bounce@example.org": 1}) {
					t.Errorf("%s: retry RCPTs %v, want bounce@example.org only", rp, rc)
				}
				msgs := retry.messages()
				if len(msgs) != 1 || msgs[0].row != 2 || !reflect.DeepEqual(msgs[0].to, []string{"bounce@example.org"}) {
					t.Fatalf("%s: retry stored %+v", rp, msgs)
				}
				m := string(msgs[0].msg)
				if !strings.Contains(m, "To: <bea@example.org>\r\n") || !strings.Contains(m, "Cc: <bounce@example.org>\r\n") {
					t.Errorf("%s: the retried message's headers changed:\n%s", rp, m)
				}
			}
		})
	}
}

// TestPartialRetryRows checks how a row of an earlier report is sent: a
// partial one to its refused recipients only (matched without regard to
// case), and one whose refused recipients are not (all) in the message, or
// not listed, fails as invalid instead of going to everybody.
func TestPartialRetryRows(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		refused string
		to      []string // the envelope; nil: the row is invalid
		err     string
	}{
		{"sent row goes to every recipient", "sent", "", []string{"a@example.org", "b@example.org"}, ""},
		{"failed row goes to every recipient", "failed", "", []string{"a@example.org", "b@example.org"}, ""},
		{"partial row goes to the refused one", "partial", "b@example.org", []string{"b@example.org"}, ""},
		{"case does not matter", "partial", "B@Example.org", []string{"b@example.org"}, ""},
		{"both refused", "partial", "b@example.org, a@example.org", []string{"b@example.org", "a@example.org"}, ""},
		{"refused recipient gone", "partial", "c@example.org", nil, "c@example.org is not a recipient"},
		{"no refused recipients listed", "partial", "", nil, "lists no refused recipients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFault(t, nil)
			rows := "n,email,cc,name,ms_status,ms_refused\n1,a@example.org,b@example.org,A," + tt.status + ",\"" + tt.refused + "\"\n"
			cfg := baseConfig(t, 0, nil, f)
			cfg.Template, cfg.Rows = parseTemplate(t, ccTemplate), source(t, rows, selection.Options{})
			s, res := runBatch(t, cfg)
			r := res[1]
			if tt.to == nil {
				if !r.Invalid || !strings.Contains(r.Error, tt.err) || s.Invalid != 1 {
					t.Errorf("row: %+v", r)
				}
				if _, total := f.counts(); total != 0 {
					t.Errorf("sent %d messages", total)
				}
				return
			}
			if r.Status != journal.Sent || !reflect.DeepEqual(r.Recipients, tt.to) {
				t.Errorf("row: %+v", r)
			}
			if msgs := f.messages(); len(msgs) != 1 || !reflect.DeepEqual(msgs[0].to, tt.to) {
				t.Errorf("stored %+v, want RCPT %v", msgs, tt.to)
			}
		})
	}
}
