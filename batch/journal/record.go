package journal

import (
	"fmt"
	"time"
)

// State is the state of one row. The zero State, None, is a row without
// records.
type State uint8

// The states of a row, in the order a message normally goes through them.
const (
	None      State = iota // no record yet
	Rendered               // the message was rendered (and spooled); nothing sent
	Sending                // the final "." is about to be written
	Sent                   // the server accepted the message
	Deferred               // a temporary failure (4xx); to be retried
	Failed                 // a permanent failure (5xx, a template or data error)
	Uncertain              // the connection was lost after the final "."
	Skipped                // deliberately not sent (already sent in an earlier run, filtered)
	numStates
)

var stateNames = [numStates]string{"none", "rendered", "sending", "sent", "deferred", "failed", "uncertain", "skipped"}

// String returns the state's name, as written in the journal.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState parses a state's name.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return None, fmt.Errorf("unknown state %q", name)
}

// Final reports whether nothing more is to be done for a row in this state:
// Sent, Failed or Skipped.
func (s State) Final() bool { return s == Sent || s == Failed || s == Skipped }

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) {
	if s >= numStates {
		return nil, fmt.Errorf("invalid state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText reads a state's name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// Version is the journal format version this package writes and reads.
const Version = 1

// Header is the first line of a journal.
type Header struct {
	Version        int       `json:"mailscript_journal"` // the format version; present only in the header
	RunID          string    `json:"run_id"`             // random, set by Create when empty
	Time           time.Time `json:"time"`               // when the journal was created
	Template       string    `json:"template"`           // the template's path as given
	TemplateSHA256 string    `json:"template_sha256"`    // hex SHA-256 of the template file
	Data           string    `json:"data"`               // the data file's path as given ("-" for stdin)
	DataSHA256     string    `json:"data_sha256"`        // hex SHA-256 of the data file; "" when not known (stdin)
}

// Record is one state change of one row.
type Record struct {
	Time       time.Time `json:"time"`                 // set by Append when zero
	Row        int       `json:"row"`                  // the data row number (1-based)
	Key        string    `json:"key,omitempty"`        // the row's key (selection.Key)
	Recipients []string  `json:"rcpt,omitempty"`       // envelope recipients
	State      State     `json:"state"`                // the new state
	Hash       string    `json:"hash,omitempty"`       // "sha256:" and the hex SHA-256 of the rendered message
	MessageID  string    `json:"message_id,omitempty"` // the Message-ID header field's value, <...>
	Attempt    int       `json:"attempt,omitempty"`    // 1 for the first delivery attempt
	Code       int       `json:"code,omitempty"`       // the SMTP reply code
	Enhanced   string    `json:"enhanced,omitempty"`   // the enhanced status code, e.g. "5.1.1"
	Reply      string    `json:"reply,omitempty"`      // the reply text
	QueueID    string    `json:"queue_id,omitempty"`   // the server's queue id, parsed from the reply to the final "."
	Error      string    `json:"error,omitempty"`      // a failure that is not an SMTP reply (template, data, network)
	// Refused, on a "sent" record, lists the recipients the server refused
	// while it accepted the message for the others: the row is partly
	// delivered ("partial" in the report).
	Refused []Refusal `json:"refused,omitempty"`
}

// Refusal is one recipient the server refused (at RCPT, or over LMTP after
// the final ".") while it accepted the message for other recipients.
type Refusal struct {
	Rcpt     string `json:"rcpt"`               // the envelope recipient
	Code     int    `json:"code,omitempty"`     // the reply code, e.g. 550
	Enhanced string `json:"enhanced,omitempty"` // the enhanced status code, e.g. "5.1.1"
	Reply    string `json:"reply,omitempty"`    // the reply text
}

// MaxRow is the largest row number a journal accepts (the table of states
// takes two bytes per row).
const MaxRow = 100_000_000

func (r *Record) validate() error {
	if r.Row < 1 || r.Row > MaxRow {
		return fmt.Errorf("row %d out of range 1..%d", r.Row, MaxRow)
	}
	if r.State == None || r.State >= numStates {
		return fmt.Errorf("row %d: invalid state %v", r.Row, r.State)
	}
	return nil
}
