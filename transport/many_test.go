package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailscript/mailscript/internal/secret"
)

// burstServer is a scripted server that sees the client's writes one by
// one: over net.Pipe each Read returns the bytes of exactly one Write, so a
// burst is what the client flushed at once. Each step gives the exact burst
// expected and the replies written back in one write, or hangs up.
type burstServer struct {
	t      *testing.T
	ehlo   string // the EHLO reply, CRLF-terminated lines
	steps  []burstStep
	done   chan struct{}
	mu     sync.Mutex
	bursts []string
	errs   []string
	events *[]string // shared with the client's hooks, to check the order
	lmtp   bool      // expect LHLO
}

type burstStep struct {
	want   string // the exact bytes of one client write
	reply  string // written back at once
	hangup bool   // close after reading the burst, without a reply
}

func newBurstServer(t *testing.T, ehlo string, steps ...burstStep) *burstServer {
	return &burstServer{t: t, ehlo: ehlo, steps: steps, done: make(chan struct{}), events: new([]string)}
}

func (s *burstServer) event(e string) {
	s.mu.Lock()
	*s.events = append(*s.events, e)
	s.mu.Unlock()
}

func (s *burstServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	go s.run(server)
	return addrConn{Conn: client, remote: loopbackAddr}, nil
}

func (s *burstServer) errorf(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *burstServer) run(nc net.Conn) {
	defer close(s.done)
	defer nc.Close()
	buf := make([]byte, 1<<20)
	read := func() (string, error) {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := nc.Read(buf)
		b := string(buf[:n])
		if n > 0 {
			s.mu.Lock()
			s.bursts = append(s.bursts, b)
			s.mu.Unlock()
			s.event(fmt.Sprintf("burst %d", len(s.bursts)))
		}
		return b, err
	}
	io.WriteString(nc, "220 mx.example.test ESMTP\r\n")
	hello := "EHLO client.example\r\n"
	if s.lmtp {
		hello = "LHLO client.example\r\n"
	}
	if b, err := read(); err != nil || b != hello {
		s.errorf("EHLO: %q %v", b, err)
		return
	}
	io.WriteString(nc, s.ehlo)
	s.mu.Lock()
	s.bursts = s.bursts[:0]
	*s.events = (*s.events)[:0]
	s.mu.Unlock()
	for i, st := range s.steps {
		b, err := read()
		if err != nil {
			s.errorf("step %d: reading: %v", i, err)
			return
		}
		if b != st.want {
			s.errorf("step %d: client wrote\n%q\nwant\n%q", i, b, st.want)
			return
		}
		if st.hangup {
			return
		}
		if _, err := io.WriteString(nc, st.reply); err != nil {
			s.errorf("step %d: writing: %v", i, err)
			return
		}
	}
	for {
		b, err := read()
		if err != nil {
			return
		}
		if b == "QUIT\r\n" {
			io.WriteString(nc, "221 2.0.0 Bye\r\n")
			continue
		}
		s.errorf("unexpected client write %q", b)
	}
}

func (s *burstServer) check() []string {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("burst server did not finish")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		s.t.Errorf("server: %s", e)
	}
	return s.bursts
}

func (s *burstServer) config() Config {
	return Config{
		Endpoint:  Endpoint{Scheme: "smtp", Host: "mx.example.test", Port: "25", TLS: TLSNone},
		LocalName: "client.example",
		Timeout:   5 * time.Second,
		dial:      s.dial,
	}
}

const ehloPipelining = "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"

func out(from string, body string, to ...string) Outgoing {
	return Outgoing{From: from, To: to, Body: strings.NewReader(body)}
}

func body(n int) string { return fmt.Sprintf("Subject: %d\r\n\r\nHello %d.\r\n", n, n) }

// sendMany dials s and sends msgs, recording the hooks' calls in s.events.
func sendMany(t *testing.T, s *burstServer, msgs []Outgoing) ([]Outcome, []Outcome) {
	t.Helper()
	c, err := Dial(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	var done []Outcome
	hooks := &SendHooks{
		BeforeDot: func(i int) error { s.event(fmt.Sprintf("dot %d", i)); return nil },
		Done: func(i int, o Outcome) {
			if i != len(done) {
				t.Errorf("Done(%d) after %d outcomes", i, len(done))
			}
			done = append(done, o)
			s.event(fmt.Sprintf("done %d", i))
		},
	}
	res := c.SendMany(context.Background(), msgs, hooks)
	c.Close()
	return res, done
}

func TestSendManyPipelinedBursts(t *testing.T) {
	s := newBurstServer(t, ehloPipelining,
		burstStep{
			want:  "MAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
		},
		burstStep{
			want: body(1) + ".\r\n" +
				"MAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<c@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n",
			reply: "250 2.0.0 Ok: queued as AAA1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@example.com>: User unknown\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
		},
		burstStep{
			want:  body(2) + ".\r\n" + "MAIL FROM:<> SIZE=32\r\nRCPT TO:<e@example.com>\r\nDATA\r\n",
			reply: "250 2.0.0 Ok: queued as BBB2\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
		},
		burstStep{
			want:  "..leading dot\r\nno final newline\r\n.\r\n",
			reply: "250 OK id=1rXyZ-000abc-Q1\r\n",
		},
	)
	msgs := []Outgoing{
		out("a@example.com", body(1), "b@example.com"),
		out("a@example.com", body(2), "c@example.com", "nobody@example.com", "d@example.com"),
		out("", ".leading dot\r\nno final newline", "e@example.com"),
	}
	res, done := sendMany(t, s, msgs)
	s.check()
	for i, o := range res {
		if o.Err != nil || !o.DotWritten || o.Result == nil {
			t.Fatalf("message %d: %+v", i, o)
		}
	}
	if len(done) != 3 {
		t.Errorf("Done called %d times", len(done))
	}
	for i, want := range []string{"AAA1", "BBB2", "1rXyZ-000abc-Q1"} {
		if got := res[i].Result.QueueID; got != want {
			t.Errorf("message %d: queue id %q, want %q", i, got, want)
		}
	}
	ref := res[1].Result.Refused()
	if len(ref) != 1 || ref[0].Addr != "nobody@example.com" || ref[0].Reply.Code != 550 || ref[0].Reply.Enhanced != "5.1.1" {
		t.Errorf("refused = %+v", ref)
	}
	if n := len(res[1].Result.Recipients); n != 3 {
		t.Errorf("%d recipient results", n)
	}
	// The dot of message i is written only after BeforeDot(i), in the
	// burst that carries the next message's commands; Done(i) follows
	// the reply to that burst.
	want := "burst 1,dot 0,burst 2,done 0,dot 1,burst 3,done 1,dot 2,burst 4,done 2,burst 5"
	if got := strings.Join(*s.events, ","); got != want {
		t.Errorf("events\n%s\nwant\n%s", got, want)
	}
}

func TestSendManyAllRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		data  string // the reply to DATA with no recipient
		steps []burstStep
	}{
		{name: "554", data: "554 5.5.1 Error: no valid recipients\r\n", steps: []burstStep{{
			want:  "RSET\r\nMAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 2.0.0 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n",
		}}},
		{name: "354 anyway", data: "354 go\r\n", steps: []burstStep{{
			// The lone dot ends the empty transaction: no RSET.
			want:  ".\r\nMAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "554 5.5.1 Error: no valid recipients\r\n250 Ok\r\n250 Ok\r\n354 go\r\n",
		}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			steps := append([]burstStep{{
				want:  "MAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<nobody2@example.com>\r\nDATA\r\n",
				reply: "250 Ok\r\n550 5.1.1 User unknown\r\n450 4.2.1 Mailbox busy\r\n" + tt.data,
			}}, tt.steps...)
			steps = append(steps, burstStep{want: body(2) + ".\r\n", reply: "250 2.0.0 Ok: queued as X\r\n"})
			s := newBurstServer(t, ehloPipelining, steps...)
			res, _ := sendMany(t, s, []Outgoing{
				out("a@example.com", body(1), "nobody@example.com", "nobody2@example.com"),
				out("a@example.com", body(2), "b@example.com"),
			})
			s.check()
			e := asError(t, res[0].Err)
			var re *RcptError
			if e.Stage != StageRcpt || !errors.As(e, &re) || len(re.Refused) != 2 || e.Reply.Code != 550 || e.Temporary() || res[0].DotWritten {
				t.Errorf("message 0: %v %+v", e, res[0])
			}
			if res[1].Err != nil || res[1].Result.QueueID != "X" {
				t.Errorf("message 1: %+v", res[1])
			}
		})
	}
}

func TestSendManyTemporaryRcpt(t *testing.T) {
	s := newBurstServer(t, ehloPipelining,
		burstStep{
			want:  "MAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 Ok\r\n451 4.7.1 Greylisted, try again later\r\n503 5.5.1 Error: no valid recipients\r\n",
		},
		burstStep{
			want:  "RSET\r\nMAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 Ok\r\n250 Ok\r\n250 Ok\r\n451 4.3.0 Try later\r\n",
		},
		burstStep{
			// DATA refused with a recipient accepted: the transaction is reset.
			want:  "RSET\r\n",
			reply: "250 Ok\r\n",
		},
	)
	res, _ := sendMany(t, s, []Outgoing{
		out("a@example.com", body(1), "b@example.com"),
		out("a@example.com", body(2), "b@example.com"),
	})
	s.check()
	if e := asError(t, res[0].Err); e.Stage != StageRcpt || !e.Temporary() || e.Ambiguous() || res[0].DotWritten {
		t.Errorf("message 0: %v", e)
	}
	if e := asError(t, res[1].Err); e.Stage != StageData || e.Reply.Code != 451 || !e.Temporary() || res[1].DotWritten {
		t.Errorf("message 1: %v", e)
	}
}

func TestSendManyAfterDotFailures(t *testing.T) {
	first := burstStep{
		want:  "MAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
		reply: "250 Ok\r\n250 Ok\r\n354 go\r\n",
	}
	second := body(1) + ".\r\nMAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
	three := func() []Outgoing {
		return []Outgoing{
			out("a@example.com", body(1), "b@example.com"),
			out("a@example.com", body(2), "b@example.com"),
			out("a@example.com", body(3), "b@example.com"),
		}
	}
	t.Run("451 after dot", func(t *testing.T) {
		s := newBurstServer(t, ehloPipelining, first,
			burstStep{want: second, reply: "451 4.3.0 Queue full\r\n250 Ok\r\n250 Ok\r\n354 go\r\n"},
			burstStep{want: body(2) + ".\r\n", reply: "250 2.0.0 Ok: queued as Q2\r\n"},
		)
		res, _ := sendMany(t, s, three()[:2])
		s.check()
		e := asError(t, res[0].Err)
		if e.Stage != StageDot || !e.Temporary() || e.Ambiguous() || !res[0].DotWritten || res[0].Result.Reply.Code != 451 {
			t.Errorf("message 0: %v %+v", e, res[0])
		}
		if res[1].Err != nil || res[1].Result.QueueID != "Q2" {
			t.Errorf("message 1: %+v", res[1])
		}
	})
	t.Run("421 mid-group", func(t *testing.T) {
		s := newBurstServer(t, ehloPipelining, first,
			burstStep{want: second, reply: "250 2.0.0 Ok: queued as Q1\r\n421 4.7.0 mx.example.test Error: too many messages, closing\r\n"},
		)
		res, _ := sendMany(t, s, three())
		bursts := s.check()
		if res[0].Err != nil || res[0].Result.QueueID != "Q1" {
			t.Errorf("message 0: %+v", res[0])
		}
		e := asError(t, res[1].Err)
		if e.Stage != StageMail || e.Reply == nil || e.Reply.Code != 421 || !e.Temporary() || res[1].DotWritten {
			t.Errorf("message 1: %v %+v", e, res[1])
		}
		e = asError(t, res[2].Err)
		if !errors.Is(e, ErrBroken) || !e.Temporary() || e.Reply == nil || e.Reply.Code != 421 || res[2].DotWritten || res[2].Result != nil {
			t.Errorf("message 2: %v %+v", e, res[2])
		}
		if len(bursts) != 2 {
			t.Errorf("bursts: %q", bursts)
		}
	})
	t.Run("drop after dot", func(t *testing.T) {
		s := newBurstServer(t, ehloPipelining, first, burstStep{want: second, hangup: true})
		res, _ := sendMany(t, s, three())
		bursts := s.check()
		e := asError(t, res[0].Err)
		if !e.Ambiguous() || e.Temporary() || !res[0].DotWritten {
			t.Errorf("message 0: %v %+v", e, res[0])
		}
		e = asError(t, res[1].Err)
		if e.Ambiguous() || !e.Temporary() || res[1].DotWritten {
			t.Errorf("message 1: %v %+v", e, res[1])
		}
		e = asError(t, res[2].Err)
		if !errors.Is(e, ErrBroken) || !e.Temporary() || res[2].DotWritten {
			t.Errorf("message 2: %v %+v", e, res[2])
		}
		if len(bursts) != 2 {
			t.Errorf("bursts: %q", bursts)
		}
	})
	t.Run("drop after last dot", func(t *testing.T) {
		s := newBurstServer(t, ehloPipelining, first, burstStep{want: body(1) + ".\r\n", hangup: true})
		res, _ := sendMany(t, s, three()[:1])
		s.check()
		if e := asError(t, res[0].Err); !e.Ambiguous() || !res[0].DotWritten {
			t.Errorf("message 0: %v %+v", e, res[0])
		}
	})
	t.Run("BeforeDot fails", func(t *testing.T) {
		s := newBurstServer(t, ehloPipelining, first, burstStep{want: "never", hangup: true})
		s.steps = s.steps[:1]
		c, err := Dial(context.Background(), s.config())
		if err != nil {
			t.Fatal(err)
		}
		journal := errors.New("journal: disk full")
		res := c.SendMany(context.Background(), three(), &SendHooks{BeforeDot: func(i int) error { return journal }})
		c.Close()
		bursts := s.check()
		e := asError(t, res[0].Err)
		if e.Stage != StageData || !errors.Is(e, journal) || res[0].DotWritten || e.Ambiguous() {
			t.Errorf("message 0: %v %+v", e, res[0])
		}
		for _, o := range res[1:] {
			if !errors.Is(o.Err, ErrBroken) || o.DotWritten {
				t.Errorf("later message: %+v", o)
			}
		}
		if len(bursts) != 1 {
			t.Errorf("bursts: %q", bursts) // the body without its dot never left the buffer
		}
	})
}

func TestSendManyBadMessageSkipped(t *testing.T) {
	s := newBurstServer(t, ehloPipelining,
		burstStep{
			want:  "MAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 Ok\r\n250 Ok\r\n354 go\r\n",
		},
		burstStep{
			want:  body(1) + ".\r\nMAIL FROM:<a@example.com> BODY=8BITMIME SIZE=18\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 Ok: queued as A\r\n250 Ok\r\n250 Ok\r\n354 go\r\n",
		},
		burstStep{
			// Bare LFs become CRLF (slow path); 8-bit declared.
			want:  "Subject: \xe9\r\n\r\n..x\r\n.\r\n",
			reply: "250 Ok: queued as C\r\n",
		},
	)
	res, _ := sendMany(t, s, []Outgoing{
		out("a@example.com", body(1), "b@example.com"),
		out("a@example.com", "Subject: x\r\n\r\nsmuggle\r.\r\n", "b@example.com"),
		out("a@example.com", "x", "bad\r\n@example.com"),
		out("a@example.com", "x: "+strings.Repeat("y", 1000)+"\r\n", "b@example.com"),
		out("a@example.com", "Subject: \xe9\n\n.x\n", "b@example.com"),
	})
	s.check()
	if res[0].Err != nil || res[4].Err != nil || res[4].Result.QueueID != "C" {
		t.Errorf("good messages: %+v %+v", res[0], res[4])
	}
	for i, want := range map[int]error{1: ErrBareCR, 3: ErrLineTooLong} {
		if e := asError(t, res[i].Err); !errors.Is(e, want) || e.Stage != StageData || res[i].Result != nil {
			t.Errorf("message %d: %v", i, e)
		}
	}
	if e := asError(t, res[2].Err); e.Stage != StageRcpt {
		t.Errorf("message 2: %v", e)
	}
}

func TestSendManySequential(t *testing.T) {
	s := newBurstServer(t, "250-mx.example.test\r\n250 SIZE 10240000\r\n",
		burstStep{want: "MAIL FROM:<a@example.com> SIZE=24\r\n", reply: "250 Ok\r\n"},
		burstStep{want: "RCPT TO:<b@example.com>\r\n", reply: "250 Ok\r\n"},
		burstStep{want: "RCPT TO:<nobody@example.com>\r\n", reply: "550 5.1.1 User unknown\r\n"},
		burstStep{want: "DATA\r\n", reply: "354 go\r\n"},
		burstStep{want: body(1) + ".\r\n", reply: "250 2.0.0 Ok: queued as S1\r\n"},
		// No RSET after a success; all refused: no DATA, RSET.
		burstStep{want: "MAIL FROM:<a@example.com> SIZE=24\r\n", reply: "250 Ok\r\n"},
		burstStep{want: "RCPT TO:<nobody@example.com>\r\n", reply: "550 5.1.1 User unknown\r\n"},
		burstStep{want: "RSET\r\n", reply: "250 Ok\r\n"},
		burstStep{want: "MAIL FROM:<a@example.com> SIZE=24\r\n", reply: "250 Ok\r\n"},
		burstStep{want: "RCPT TO:<b@example.com>\r\n", reply: "250 Ok\r\n"},
		burstStep{want: "DATA\r\n", reply: "354 go\r\n"},
		burstStep{want: body(3) + ".\r\n", hangup: true},
	)
	res, done := sendMany(t, s, []Outgoing{
		out("a@example.com", body(1), "b@example.com", "nobody@example.com"),
		out("a@example.com", body(2), "nobody@example.com"),
		out("a@example.com", body(3), "b@example.com"),
		out("a@example.com", body(4), "b@example.com"),
	})
	s.check()
	if res[0].Err != nil || res[0].Result.QueueID != "S1" || len(res[0].Result.Refused()) != 1 {
		t.Errorf("message 0: %+v", res[0])
	}
	if e := asError(t, res[1].Err); e.Stage != StageRcpt || res[1].DotWritten {
		t.Errorf("message 1: %v", e)
	}
	if e := asError(t, res[2].Err); !e.Ambiguous() || !res[2].DotWritten {
		t.Errorf("message 2: %v", e)
	}
	if e := asError(t, res[3].Err); !errors.Is(e, ErrBroken) || res[3].DotWritten {
		t.Errorf("message 3: %v", e)
	}
	if len(done) != 4 {
		t.Errorf("Done called %d times", len(done))
	}
}

func TestSendManyLMTP(t *testing.T) {
	s := newBurstServer(t, "250-mx.example.test\r\n250 PIPELINING\r\n",
		burstStep{
			want:  "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
			reply: "250 Ok\r\n250 Ok\r\n550 5.1.1 unknown\r\n250 Ok\r\n354 go\r\n",
		},
		burstStep{
			want:  body(1) + ".\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 2.0.0 <b@example.com> Ok\r\n452 4.2.2 <c@example.com> Mailbox full\r\n250 Ok\r\n250 Ok\r\n354 go\r\n",
		},
		burstStep{want: body(2) + ".\r\n", reply: "552 5.2.2 <b@example.com> Mailbox full\r\n"},
	)
	s.lmtp = true
	cfg := s.config()
	cfg.Endpoint.Scheme = "lmtp"
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := c.SendMany(context.Background(), []Outgoing{
		out("a@example.com", body(1), "b@example.com", "nobody@example.com", "c@example.com"),
		out("a@example.com", body(2), "b@example.com"),
	}, nil)
	c.Close()
	s.check()
	r := res[0].Result
	if res[0].Err != nil || len(r.Refused()) != 2 || r.Recipients[0].Delivery.Code != 250 || r.Recipients[2].Delivery.Code != 452 {
		t.Errorf("message 0: %+v", res[0])
	}
	e := asError(t, res[1].Err)
	var re *RcptError
	if e.Stage != StageDot || !errors.As(e, &re) || !re.AfterDot || e.Temporary() {
		t.Errorf("message 1: %v", e)
	}
}

func TestIsEnhanced(t *testing.T) {
	for s, want := range map[string]bool{
		"2.0.0": true, "5.1.1": false, "2.123.999": true, "4.7.0": false, "2.0": false, "2.0.0.0": false,
		"2..0": false, "2.0.": false, "2.1234.0": false, "2.a.0": false, "20.0.0": false, "": false, "2.0.0x": false,
	} {
		if got := isEnhanced(s, 250); got != want {
			t.Errorf("isEnhanced(%q, 250) = %v", s, got)
		}
	}
}

func TestSendManyCancel(t *testing.T) {
	s := newBurstServer(t, ehloPipelining,
		burstStep{
			want:  "MAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
			reply: "250 Ok\r\n250 Ok\r\n354 go\r\n",
		},
	)
	s.steps = append(s.steps, burstStep{
		want:  body(1) + ".\r\nMAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
		reply: "250 Ok: queued as Q1\r\n250 Ok\r\n250 Ok\r\n354 go\r\n",
	})
	c, err := Dial(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := c.SendMany(ctx, []Outgoing{
		out("a@example.com", body(1), "b@example.com"),
		out("a@example.com", body(2), "b@example.com"),
		out("a@example.com", body(3), "b@example.com"),
	}, &SendHooks{Done: func(i int, o Outcome) {
		if i == 0 {
			cancel()
		}
	}})
	c.Close()
	s.check()
	if res[0].Err != nil {
		t.Errorf("message 0: %v", res[0].Err)
	}
	if !errors.Is(res[1].Err, context.Canceled) || res[1].DotWritten || asError(t, res[1].Err).Temporary() {
		t.Errorf("message 1: %+v", res[1])
	}
	if !errors.Is(res[2].Err, ErrBroken) || !errors.Is(res[2].Err, context.Canceled) || res[2].DotWritten {
		t.Errorf("message 2: %+v", res[2])
	}
}

func TestSendManyClosedClient(t *testing.T) {
	s := newBurstServer(t, ehloPipelining)
	c, err := Dial(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	res := c.SendMany(context.Background(), []Outgoing{out("a@example.com", body(1), "b@example.com")}, nil)
	if !errors.Is(res[0].Err, ErrBroken) {
		t.Errorf("%+v", res[0])
	}
	if got := c.SendMany(context.Background(), nil, nil); len(got) != 0 {
		t.Errorf("%+v", got)
	}
}

// TestSendManyEndToEnd runs against go-smtp's server (which offers
// PIPELINING) with STARTTLS and AUTH, a transcript, bodies of every shape,
// a refused recipient and a message over 1 MiB (streamed).
func TestSendManyEndToEnd(t *testing.T) {
	defer func(n int) { maxBuffered = n }(maxBuffered)
	maxBuffered = 64 << 10 // stream the big messages
	for _, transcript := range []bool{false, true} {
		t.Run(fmt.Sprintf("transcript=%v", transcript), func(t *testing.T) {
			ep, be := startServer(t, TLSStartTLS)
			_, pool := testCert()
			var tr bytes.Buffer
			cfg := Config{Endpoint: ep, RootCAs: pool, Mechanism: "PLAIN", Username: e2eUser, Password: secret.New(e2ePass), LocalName: "client.example", Timeout: 10 * time.Second}
			if transcript {
				cfg.Transcript = &tr
			}
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Extension("PIPELINING"); !ok {
				t.Fatal("go-smtp's server does not offer PIPELINING")
			}
			big := "Subject: big\r\n\r\n" + strings.Repeat(".dotted line of text, long enough to fill the buffer quickly\r\n", 3000)
			var msgs []Outgoing
			var want []string
			for i := range 40 {
				b := body(i)
				switch i % 4 {
				case 1:
					b = "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend"
				case 2:
					b = "Subject: lf\n\n.a\nb\n"
				}
				to := []string{fmt.Sprintf("r%d@example.com", i)}
				if i%5 == 3 {
					to = append(to, "nobody@example.com")
				}
				m := out(e2eUser, b, to...)
				if i%4 == 3 {
					m.Checked = true
				}
				msgs = append(msgs, m)
				w := strings.ReplaceAll(strings.ReplaceAll(b, "\r\n", "\n"), "\n", "\r\n")
				if !strings.HasSuffix(w, "\r\n") {
					w += "\r\n"
				}
				want = append(want, w)
				if i == 20 {
					msgs = append(msgs, out(e2eUser, "Subject: refused\r\n\r\nx\r\n", "nobody@example.com"))
					want = append(want, "")
				}
			}
			msgs = append(msgs, out(e2eUser, big, "big@example.com"))
			want = append(want, big)
			bigChecked := out(e2eUser, big, "big2@example.com")
			bigChecked.Checked, bigChecked.Size = true, int64(len(big))
			msgs = append(msgs, bigChecked)
			want = append(want, big)
			bigLF := strings.ReplaceAll(big, "\r\n", "\n")
			msgs = append(msgs, out(e2eUser, bigLF, "big3@example.com"))
			want = append(want, big)
			res := c.SendMany(context.Background(), msgs, nil)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			got := be.messages()
			k := 0
			for i, o := range res {
				if want[i] == "" {
					if o.Err == nil {
						t.Errorf("message %d: no error", i)
					}
					continue
				}
				if o.Err != nil || o.Result.QueueID != "E2E" {
					t.Fatalf("message %d: %+v", i, o)
				}
				if k >= len(got) || got[k].data != want[i] {
					t.Fatalf("message %d: server got a different message", i)
				}
				k++
			}
			if k != len(got) {
				t.Errorf("server got %d messages, want %d", len(got), k)
			}
			if transcript {
				text := tr.String()
				for _, s := range []string{"~> MAIL FROM:<" + e2eUser + "> SIZE=", "~> RCPT TO:<nobody@example.com>", "<~ 550 5.1.1 User unknown", "~> Subject: lf", "body lines elided", "~> RSET"} {
					if !strings.Contains(text, s) {
						t.Errorf("transcript lacks %q", s)
					}
				}
				if strings.Contains(text, e2ePass) {
					t.Error("transcript shows the password")
				}
			}
		})
	}
}

// TestLineScanner compares the one-pass scanner, fed in random chunks, with
// the DATA encoder's own checks.
func TestLineScanner(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	tokens := []string{"a", "b", ".", " ", "\xe9", "\r\n", "\r\n", "\r\n.", "\n", "\r\n\r\n"}
	counts := map[error]int{}
	for n := 0; n < 50000; n++ {
		var b []byte
		for range rnd.Intn(20) {
			b = append(b, tokens[rnd.Intn(len(tokens))]...)
			if rnd.Intn(5) == 0 {
				b = append(b, bytes.Repeat([]byte("x"), rnd.Intn(1000))...)
			}
			if rnd.Intn(100) == 0 {
				b = append(b, '\r')
			}
		}
		wantInfo, wantErr := scanRef(b)
		var s lineScanner
		var err error
		for p := b; len(p) > 0 && err == nil; {
			k := 1 + rnd.Intn(len(p))
			err = s.feed(p[:k])
			p = p[k:]
		}
		if err == nil {
			err = s.finish()
		}
		counts[err]++
		if err != wantErr {
			t.Fatalf("%q: err %v, want %v", b, err, wantErr)
		}
		if err == nil && (s.size != wantInfo.size || s.eightBit != wantInfo.eightBit) {
			t.Fatalf("%q: size %d 8bit %v, want %d %v", b, s.size, s.eightBit, wantInfo.size, wantInfo.eightBit)
		}
		if err == nil && !s.bareLF {
			var got, ref bytes.Buffer
			bw := bufio.NewWriter(&got)
			at := true
			for p := b; len(p) > 0; {
				k := 1 + rnd.Intn(len(p))
				at = dotStuff(bw, p[:k], at)
				p = p[k:]
			}
			if !at {
				bw.WriteString("\r\n")
			}
			bw.Flush()
			d := newDotWriter(&ref, nil)
			d.Write(b)
			d.finish(false)
			if got.String() != ref.String() {
				t.Fatalf("%q: stuffed %q, want %q", b, got.String(), ref.String())
			}
		}
	}
	if counts[nil] < 10000 || counts[ErrBareCR] < 1000 || counts[ErrLineTooLong] < 1000 {
		t.Errorf("poor coverage: %v", counts)
	}
}

// scanRef is the scan the DATA encoder makes, byte by byte: the reference
// for lineScanner.
func scanRef(b []byte) (messageInfo, error) {
	d := newDotWriter(io.Discard, nil)
	if _, err := d.Write(b); err != nil {
		var we *writeError
		errors.As(err, &we)
		return messageInfo{}, we.err
	}
	if err := d.finish(false); err != nil {
		return messageInfo{}, err
	}
	return messageInfo{complete: true, size: d.size, eightBit: d.eightBit}, nil
}

func TestQueueID(t *testing.T) {
	for text, want := range map[string]string{
		"2.0.0 Ok: queued as 8E2FD52095":                  "8E2FD52095",
		"OK id=1rXyZ-000abc-Q1":                           "1rXyZ-000abc-Q1",
		"2.0.0 x8ABC123 Message accepted for delivery":    "",
		"x8ABC123 Message accepted for delivery":          "x8ABC123",
		"Ok: queued as <X.Y@z>; done":                     "<X.Y@z>",
		"OK":                                              "",
		"2.0.0 OK  1700000000 a1-20020a05600c.17 - gsmtp": "",
		"Queued as ABC.":                                  "ABC",
	} {
		if got := QueueID(&Reply{Code: 250, Text: text}); got != want {
			t.Errorf("QueueID(%q) = %q, want %q", text, got, want)
		}
	}
}

// sink is a minimal SMTP server for the benchmark: it answers at once,
// reads pipelined commands and flushes its replies only when it has read
// everything the client sent.
type sink struct {
	l          net.Listener
	pipelining bool
	count      atomic.Int64
}

func startSink(tb testing.TB, pipelining bool) *sink {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &sink{l: l, pipelining: pipelining}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(nc)
		}
	}()
	tb.Cleanup(func() { l.Close() })
	return s
}

func (s *sink) serve(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	bw := bufio.NewWriterSize(nc, 4<<10)
	bw.WriteString("220 sink ESMTP\r\n")
	readLine := func() ([]byte, error) {
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return nil, err
			}
		}
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n')
		}
		return line, err
	}
	for {
		line, err := readLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(string(line[:min(4, len(line))]))
		switch verb {
		case "EHLO":
			bw.WriteString("250-sink\r\n")
			if s.pipelining {
				bw.WriteString("250-PIPELINING\r\n")
			}
			bw.WriteString("250-8BITMIME\r\n250 SIZE 100000000\r\n")
		case "DATA":
			bw.WriteString("354 go\r\n")
			for {
				l, err := readLine()
				if err != nil {
					return
				}
				if string(l) == ".\r\n" {
					break
				}
			}
			n := s.count.Add(1)
			bw.WriteString("250 2.0.0 Ok: queued as ")
			bw.WriteString(strconv.FormatInt(n, 16))
			bw.WriteString("\r\n")
		case "QUIT":
			bw.WriteString("221 Bye\r\n")
			bw.Flush()
			return
		default:
			bw.WriteString("250 2.0.0 Ok\r\n")
		}
	}
}

// message2K is a 2 KB message as the template renderer makes it.
func message2K(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Alice <alice@example.com>\r\nTo: row%d@example.com\r\nSubject: Hello row %d\r\nMessage-ID: <%d.bench@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i, i, i)
	for b.Len() < 2048-80 {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n")
	}
	return b.Bytes()
}

// benchConfig dials MAILSCRIPT_BENCH_ADDR (e.g. Postfix's smtp-sink) when
// set, else the in-process sink.
func benchConfig(b *testing.B, pipelining bool) Config {
	addr := os.Getenv("MAILSCRIPT_BENCH_ADDR")
	if addr == "" {
		addr = startSink(b, pipelining).l.Addr().String()
	}
	ep, err := ParseURL("smtp://" + addr)
	if err != nil {
		b.Fatal(err)
	}
	return Config{Endpoint: ep, TLS: TLSNone, LocalName: "client.example", Timeout: 30 * time.Second}
}

// BenchmarkScan measures the one-pass check of a 2 KB message.
func BenchmarkScan(b *testing.B) {
	msg := message2K(1)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		var s lineScanner
		if err := s.feed(msg); err != nil {
			b.Fatal(err)
		}
		if err := s.finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendMany sends 2 KB messages on one connection: pipelined with
// SendMany (groups of 100), and one by one with Send (4 round trips each).
// MAILSCRIPT_BENCH_ADDR=host:port uses an external sink instead.
func BenchmarkSendMany(b *testing.B) {
	const group = 100
	msgs := make([][]byte, group)
	for i := range msgs {
		msgs[i] = message2K(i)
	}
	for _, mode := range []string{"pipelined", "pipelined-checked", "sendmany-nopipelining", "sequential-Send"} {
		b.Run(mode, func(b *testing.B) {
			cfg := benchConfig(b, mode != "sendmany-nopipelining")
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			readers := make([]bytes.Reader, group)
			out := make([]Outgoing, group)
			for i := range out {
				out[i] = Outgoing{From: "alice@example.com", To: []string{fmt.Sprintf("row%d@example.com", i)}, Body: &readers[i], Size: int64(len(msgs[i])), Checked: mode == "pipelined-checked"}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				n := min(group, b.N-sent)
				if mode == "sequential-Send" {
					for i := range n {
						readers[i].Reset(msgs[i])
						if _, err := c.Send(ctx, "alice@example.com", out[i].To, &readers[i]); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					for i := range n {
						readers[i].Reset(msgs[i])
					}
					for i, o := range c.SendMany(ctx, out[:n], nil) {
						if o.Err != nil {
							b.Fatalf("message %d: %v", i, o.Err)
						}
					}
				}
				sent += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
