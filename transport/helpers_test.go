package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed certificate for localhost, 127.0.0.1, ::1 and
// mx.example.test, made once per test binary.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.example.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "mx.example.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})

// addrConn is one end of a net.Pipe that claims a chosen remote address, so
// that tests can play a loopback or a remote server.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

var (
	loopbackAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25}
	remoteAddr   = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 25}
)

// scriptServer plays a scripted SMTP server over net.Pipe. The script has
// one step per line:
//
//	S: text     the server sends text CRLF
//	C: text     the client must send exactly text CRLF
//	RAW: "q"    the server sends the Go-quoted bytes q in one write
//	TLS         the server runs a TLS handshake with testCert
//	DRAIN       the server reads everything until the client closes
//	SLEEP: d    the server waits d (a time.Duration) without reading
//	HANGUP      the server closes the connection
//
// After the script the server reads until the client closes. It records
// every byte the client sent, so a test can compare the exact bytes.
type scriptServer struct {
	t       *testing.T
	steps   []string
	remote  net.Addr
	done    chan struct{}
	mu      sync.Mutex
	got     bytes.Buffer // every byte the client wrote (decrypted inside TLS)
	want    bytes.Buffer // the C: lines, CRLF-terminated
	errs    []string
	drained int  // lines read by DRAIN
	tcp     bool // use a loopback TCP connection instead of net.Pipe (which has no buffer)
}

func newScriptServer(t *testing.T, remote net.Addr, script string) *scriptServer {
	s := &scriptServer{t: t, remote: remote, done: make(chan struct{})}
	// Whether or not the test calls check, a client line that differs
	// from the script fails the test.
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.errs {
			if strings.HasPrefix(e, "client sent ") {
				t.Errorf("server: %s", e)
			}
		}
	})
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		line = strings.TrimLeft(line, "\t ")
		if line == "" {
			continue
		}
		s.steps = append(s.steps, line)
		if text, ok := strings.CutPrefix(line, "C: "); ok {
			s.want.WriteString(text + "\r\n")
		} else if line == "C:" {
			s.want.WriteString("\r\n")
		}
	}
	return s
}

// dial is a Config.dial that starts the script on a new pipe.
func (s *scriptServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if !s.tcp {
		client, server := net.Pipe()
		go s.run(server)
		return addrConn{Conn: client, remote: s.remote}, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, err
	}
	server, err := l.Accept()
	if err != nil {
		client.Close()
		return nil, err
	}
	go s.run(server)
	return addrConn{Conn: client, remote: s.remote}, nil
}

func (s *scriptServer) errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *scriptServer) run(nc net.Conn) {
	defer close(s.done)
	defer nc.Close()
	var conn net.Conn = nc
	br := bufio.NewReader(conn)
	readLine := func() (string, error) {
		line, err := br.ReadString('\n')
		s.mu.Lock()
		s.got.WriteString(line)
		s.mu.Unlock()
		return line, err
	}
	for _, step := range s.steps {
		switch {
		case strings.HasPrefix(step, "S: "):
			if _, err := io.WriteString(conn, step[3:]+"\r\n"); err != nil {
				s.errorf("writing %q: %v", step, err)
				return
			}
		case strings.HasPrefix(step, "RAW: "):
			raw, err := strconv.Unquote(step[5:])
			if err != nil {
				s.errorf("bad step %q", step)
				return
			}
			if _, err := io.WriteString(conn, raw); err != nil {
				s.errorf("writing %q: %v", step, err)
				return
			}
		case step == "C:" || strings.HasPrefix(step, "C: "):
			want := strings.TrimPrefix(strings.TrimPrefix(step, "C:"), " ") + "\r\n"
			line, err := readLine()
			if err != nil {
				s.errorf("reading, want %q: %v", want, err)
				return
			}
			if line != want {
				s.errorf("client sent %q, want %q", line, want)
				return
			}
		case step == "TLS":
			cert, _ := testCert()
			tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err := tc.Handshake(); err != nil {
				// The client may legitimately refuse (untrusted certificate).
				s.errorf("server handshake: %v", err)
				return
			}
			conn = tc
			br = bufio.NewReader(conn)
		case step == "DRAIN":
			for {
				if _, err := readLine(); err != nil {
					return
				}
				s.drained++
			}
		case strings.HasPrefix(step, "SLEEP: "):
			d, _ := time.ParseDuration(step[7:])
			time.Sleep(d)
		case step == "HANGUP":
			return
		default:
			s.errorf("bad step %q", step)
			return
		}
	}
	// After the script: whatever else the client sends is unexpected.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := readLine()
		if line != "" {
			s.errorf("unexpected client line %q", line)
		}
		if err != nil {
			return
		}
	}
}

// wait waits for the script to end and returns the bytes the client wrote.
func (s *scriptServer) wait() string {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("scripted server did not finish")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got.String()
}

// check waits for the script and fails the test on a script error or when
// the client's bytes differ from the script's C: lines.
func (s *scriptServer) check() {
	s.t.Helper()
	got := s.wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		s.t.Errorf("server: %s", e)
	}
	if !strings.HasPrefix(got, s.want.String()) || (s.drained == 0 && got != s.want.String()) {
		s.t.Errorf("client wrote:\n%s\nwant:\n%s", got, s.want.String())
	}
}
