// Command ceiling measures the fastest any SMTP client can send on one
// connection to a server that offers PIPELINING but not CHUNKING: it does
// nothing but the protocol, with one pre-built message and no rendering,
// journal or checks.
//
// Without CHUNKING (RFC 3030) a client must wait for the 354 reply to DATA
// before it sends the message content (RFC 5321 §4.1.1.4, RFC 2920 §3.1), so
// the best it can do is one round trip per message: the content and final
// dot of message i leave in one write with MAIL, RCPT and DATA of message
// i+1, and the next write waits for their four replies. That round trip —
// the server's work per message plus two wake-ups — is a floor that no
// client goes below on one connection. This program measures it for a Go
// client; the same loop in C measured about 25% faster on the benchmark
// machine, which is the Go runtime's share of each round trip.
// bench/run.sh prints the ceiling next to mailscript's rate so that the
// ratios have a known bound.
//
//	go run ./bench/ceiling -addr 127.0.0.1:2525 -n 20000 -size 2048
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "server `HOST:PORT`")
	n := flag.Int("n", 20000, "messages to send")
	size := flag.Int("size", 2048, "message size in `OCTETS`")
	flag.Parse()
	rate, err := run(*addr, *n, *size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	fmt.Printf("%d msgs in %.3fs = %.0f msgs/s\n", *n, float64(*n)/rate, rate)
}

// run sends n messages of about size octets and returns messages per second.
func run(addr string, n, size int) (float64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	// reply reads one (possibly multi-line) reply and checks its class.
	reply := func(want byte) error {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(l) < 4 || l[0] != want {
				return fmt.Errorf("unexpected reply %q", strings.TrimSpace(l))
			}
			if l[3] != '-' {
				return nil
			}
		}
	}
	if err := reply('2'); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte("EHLO ceiling.example\r\n")); err != nil {
		return 0, err
	}
	if err := reply('2'); err != nil {
		return 0, err
	}

	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do e.\r\n"
	body := []byte("From: <billing@example.com>\r\nTo: <user@example.com>\r\nSubject: ceiling\r\n\r\n")
	body = append(body, bytes.Repeat([]byte(line), max(1, (size-len(body))/len(line)))...)
	body = append(body, ".\r\n"...)
	cmds := []byte("MAIL FROM:<billing@example.com>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n")
	// commandReplies reads the replies to MAIL, RCPT and DATA.
	commandReplies := func() error {
		for _, want := range []byte{'2', '2', '3'} {
			if err := reply(want); err != nil {
				return err
			}
		}
		return nil
	}

	start := time.Now()
	if _, err := c.Write(cmds); err != nil {
		return 0, err
	}
	if err := commandReplies(); err != nil {
		return 0, err
	}
	buf := make([]byte, 0, len(body)+len(cmds))
	for i := range n {
		buf = append(buf[:0], body...)
		last := i == n-1
		if !last {
			buf = append(buf, cmds...)
		}
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
		if err := reply('2'); err != nil { // the final dot
			return 0, err
		}
		if !last {
			if err := commandReplies(); err != nil {
				return 0, err
			}
		}
	}
	elapsed := time.Since(start)
	if _, err := c.Write([]byte("QUIT\r\n")); err == nil {
		reply('2')
	}
	return float64(n) / elapsed.Seconds(), nil
}
