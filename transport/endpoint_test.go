package transport

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Endpoint
		addr    string
		wantErr string
	}{
		{in: "smtp://mail.example.com", want: Endpoint{"smtp", "mail.example.com", "587", TLSStartTLS, ""}, addr: "mail.example.com:587"},
		{in: "smtp://mail.example.com:25", want: Endpoint{"smtp", "mail.example.com", "25", TLSStartTLS, ""}, addr: "mail.example.com:25"},
		{in: "SMTPS://Mail.Example.com", want: Endpoint{"smtps", "Mail.Example.com", "465", TLSImplicit, ""}, addr: "Mail.Example.com:465"},
		{in: "smtps://127.0.0.1:4650/", want: Endpoint{"smtps", "127.0.0.1", "4650", TLSImplicit, ""}, addr: "127.0.0.1:4650"},
		{in: "smtp://[::1]:25", want: Endpoint{"smtp", "::1", "25", TLSStartTLS, ""}, addr: "[::1]:25"},
		{in: "smtps://[2001:db8::1]", want: Endpoint{"smtps", "2001:db8::1", "465", TLSImplicit, ""}, addr: "[2001:db8::1]:465"},
		{in: "mail.example.com:2525", want: Endpoint{"smtp", "mail.example.com", "2525", TLSStartTLS, ""}, addr: "mail.example.com:2525"},
		{in: "[::1]:25", want: Endpoint{"smtp", "::1", "25", TLSStartTLS, ""}, addr: "[::1]:25"},
		{in: "localhost", want: Endpoint{"smtp", "localhost", "587", TLSStartTLS, ""}, addr: "localhost:587"},
		{in: "lmtp://127.0.0.1", want: Endpoint{"lmtp", "127.0.0.1", "24", TLSNone, ""}, addr: "127.0.0.1:24"},
		{in: "LMTP://[::1]:2424", want: Endpoint{"lmtp", "::1", "2424", TLSNone, ""}, addr: "[::1]:2424"},
		{in: "lmtp:/run/dovecot/lmtp", want: Endpoint{"lmtp", "", "", TLSNone, "/run/dovecot/lmtp"}, addr: "/run/dovecot/lmtp"},
		{in: "lmtp:///var/spool/lmtp", want: Endpoint{"lmtp", "", "", TLSNone, "/var/spool/lmtp"}, addr: "/var/spool/lmtp"},
		{in: "lmtp:/", wantErr: "want lmtp:/path/to/socket"},
		{in: "", wantErr: "empty server URL"},
		{in: "http://example.com", wantErr: `unknown scheme "http"`},
		{in: "smtp://user:hunter2@example.com", wantErr: "user information is not allowed"},
		// No error shows the password, whichever check fails first.
		{in: "smtpx://alice:hunter2@mail.example.com", wantErr: `"smtpx://mail.example.com": user information is not allowed in the URL (give the user name with --user and the password with --password-env)`},
		{in: "smtp://alice:hunt%zz@host", wantErr: `"smtp://host": user information is not allowed`},
		{in: "smtp://alice:hunter2@[::1", wantErr: `"smtp://[::1": user information is not allowed`},
		{in: "smtp://alice:hunter2/x@host", wantErr: `"smtp://host": user information is not allowed`},
		{in: "smtp://alice:hun@ter2@host:25", wantErr: `"smtp://host:25": user information is not allowed`},
		{in: "alice:hunter2@host", wantErr: `"smtp://host": user information is not allowed`},
		{in: "smtp://alice@host", wantErr: "user information is not allowed"},
		// url.Error's text (which repeats the input) is not passed on raw.
		{in: "smtp://[::1", wantErr: `bad server URL "smtp://[::1": missing ']' in host`},
		{in: "smtp://ho%zzst", wantErr: `bad server URL "smtp://ho%zzst": invalid URL escape "%zz"`},
		{in: "smtp://example.com/path", wantErr: "scheme://host[:port] only"},
		{in: "smtp://example.com?x=1", wantErr: "scheme://host[:port] only"},
		{in: "smtp://example.com:0", wantErr: "bad port"},
		{in: "smtp://example.com:99999", wantErr: "bad port"},
		{in: "smtp://example.com:", wantErr: "empty port"},
		{in: "smtp://:25", wantErr: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURL(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hunt%zz") || strings.Contains(err.Error(), "alice") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || got.Addr() != tt.addr {
				t.Errorf("ParseURL(%q) = %+v (%s), want %+v (%s)", tt.in, got, got.Addr(), tt.want, tt.addr)
			}
		})
	}
	if got := (Endpoint{"smtps", "::1", "465", TLSImplicit, ""}).String(); got != "smtps://[::1]:465" {
		t.Errorf("String() = %q", got)
	}
	if got := (Endpoint{Scheme: "lmtp", Socket: "/run/lmtp"}).String(); got != "lmtp:/run/lmtp" {
		t.Errorf("String() = %q", got)
	}
}

func TestParseTLSMode(t *testing.T) {
	for in, want := range map[string]TLSMode{"starttls": TLSStartTLS, "STARTTLS": TLSStartTLS, "implicit": TLSImplicit, " none ": TLSNone} {
		if got, err := ParseTLSMode(in); err != nil || got != want {
			t.Errorf("ParseTLSMode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "tls", "yes"} {
		if _, err := ParseTLSMode(in); err == nil {
			t.Errorf("ParseTLSMode(%q) succeeded", in)
		}
	}
}

func TestLoadCAFile(t *testing.T) {
	cert, _ := testCert()
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	pool, err := LoadCAFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "mx.example.test"}); err != nil {
		t.Errorf("loaded pool does not verify the certificate: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o644)
	if _, err := LoadCAFile(bad); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("LoadCAFile(bad) error = %v", err)
	}
	if _, err := LoadCAFile(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadCAFile(missing) error = %v", err)
	}
}

func TestReplyParsing(t *testing.T) {
	tests := []struct {
		lines    []string
		code     int
		enhanced string
		text     string
		str      string
	}{
		{[]string{"250 2.0.0 Ok: queued as 8E2FD52095"}, 250, "2.0.0", "Ok: queued as 8E2FD52095", "250 2.0.0 Ok: queued as 8E2FD52095"},
		{[]string{"250 Ok: queued as 8E2FD52095"}, 250, "", "Ok: queued as 8E2FD52095", "250 Ok: queued as 8E2FD52095"},
		{[]string{"550-5.7.1 first", "550-5.7.1 second", "550 5.7.1 third"}, 550, "5.7.1", "first\nsecond\nthird", "550 5.7.1 first second third"},
		{[]string{"221"}, 221, "", "", "221"},
		{[]string{"250 2.0.0"}, 250, "2.0.0", "", "250 2.0.0"},
		{[]string{"451 5.0.0 class mismatch is not an enhanced code"}, 451, "", "5.0.0 class mismatch is not an enhanced code", "451 5.0.0 class mismatch is not an enhanced code"},
		{[]string{"250 2.0 not enhanced"}, 250, "", "2.0 not enhanced", "250 2.0 not enhanced"},
		{[]string{"334 VXNlcm5hbWU6"}, 334, "", "VXNlcm5hbWU6", "334 VXNlcm5hbWU6"},
		{[]string{"334 "}, 334, "", "", "334"},
	}
	for _, tt := range tests {
		client, server := net.Pipe()
		go func() {
			for _, l := range tt.lines {
				server.Write([]byte(l + "\r\n"))
			}
		}()
		c := newConn(client, nil, nil, time.Second)
		r, err := c.readReply(time.Second)
		client.Close()
		server.Close()
		if err != nil {
			t.Errorf("%q: %v", tt.lines, err)
			continue
		}
		if r.Code != tt.code || r.Enhanced != tt.enhanced || r.Text != tt.text || r.String() != tt.str {
			t.Errorf("%q: got %d %q %q %q", tt.lines, r.Code, r.Enhanced, r.Text, r.String())
		}
	}
	for _, bad := range []string{"25 short\r\n", "abc text\r\n", "250x text\r\n", "250-one\r\n251 two\r\n", "199 too low\r\n", strings.Repeat("2", 5000) + "\r\n"} {
		client, server := net.Pipe()
		go server.Write([]byte(bad))
		c := newConn(client, nil, nil, time.Second)
		if r, err := c.readReply(time.Second); err == nil {
			t.Errorf("%.20q: parsed as %v", bad, r)
		}
		client.Close()
		server.Close()
	}
}

func TestErrorFormatting(t *testing.T) {
	reply := &Reply{Code: 535, Enhanced: "5.7.8", Text: "Error: authentication failed: bad"}
	tests := []struct {
		err       *Error
		want      string
		temporary bool
		authFail  bool
	}{
		{&Error{Stage: StageAuth, Reply: reply, Err: reply.smtpError()}, "auth: 535 5.7.8 Error: authentication failed: bad", false, true},
		{&Error{Stage: StageAuth, Reply: &Reply{Code: 535, Text: "no"}}, "auth: 535 no", false, true},
		{&Error{Stage: StageAuth, Reply: &Reply{Code: 554, Enhanced: "5.7.8", Text: "no"}}, "auth: 554 5.7.8 no", false, true},
		{&Error{Stage: StageMail, Reply: &Reply{Code: 535, Text: "odd"}}, "mail: 535 odd", false, false},
		{&Error{Stage: StageRcpt, Reply: &Reply{Code: 450, Enhanced: "4.2.0", Text: "greylisted"}}, "rcpt: 450 4.2.0 greylisted", true, false},
		{&Error{Stage: StageConnect, Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, "connect: dial tcp: connection refused", false, false},
		{&Error{Stage: StageData, Err: os.ErrDeadlineExceeded}, "data: i/o timeout", true, false},
		{&Error{Stage: StageDot, Err: os.ErrDeadlineExceeded}, "dot: i/o timeout", false, false},
		{&Error{Stage: StageMail, Err: context.Canceled}, "mail: context canceled", false, false},
		{&Error{Stage: StageMail, Err: context.DeadlineExceeded}, "mail: context deadline exceeded", true, false},
		{&Error{Stage: StageConnect, Err: &net.DNSError{Err: "no such host", Name: "nx.example", IsNotFound: true}}, "connect: lookup nx.example: no such host", false, false},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if tt.err.Temporary() != tt.temporary || tt.err.AuthFailed() != tt.authFail {
			t.Errorf("%q: Temporary() = %v, AuthFailed() = %v", tt.want, tt.err.Temporary(), tt.err.AuthFailed())
		}
	}
	// The cause of a reply error is go-smtp's SMTPError, with the enhanced code.
	var se *smtp.SMTPError
	if err := error(&Error{Stage: StageAuth, Reply: reply, Err: reply.smtpError()}); !errors.As(err, &se) || se.Code != 535 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8}) {
		t.Errorf("errors.As SMTPError = %+v", se)
	}
}

func TestParseEHLO(t *testing.T) {
	ext, mechs := parseEHLO("oeey.com\nPIPELINING\nSIZE 10240000\nVRFY\nETRN\nAUTH CRAM-MD5 LOGIN DIGEST-MD5 GSSAPI NTLM PLAIN\nAUTH=CRAM-MD5 LOGIN DIGEST-MD5 GSSAPI NTLM PLAIN\n8bitmime")
	if got := strings.Join(mechs, " "); got != "CRAM-MD5 LOGIN DIGEST-MD5 GSSAPI NTLM PLAIN" {
		t.Errorf("mechanisms = %q", got)
	}
	if ext["SIZE"] != "10240000" {
		t.Errorf("SIZE = %q", ext["SIZE"])
	}
	for _, k := range []string{"PIPELINING", "8BITMIME", "AUTH", "VRFY"} {
		if _, ok := ext[k]; !ok {
			t.Errorf("%s missing from %v", k, ext)
		}
	}
	_, mechs = parseEHLO("mx\nAUTH=LOGIN\nAUTH plain")
	if got := strings.Join(mechs, " "); got != "LOGIN PLAIN" {
		t.Errorf("mechanisms = %q", got)
	}
}

func TestDecodeChallenge(t *testing.T) {
	for in, want := range map[string]string{
		"VXNlcm5hbWU6": "Username:",
		"Username:":    "Username:",
		"Password:":    "Password:",
		"PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg==":       "<20137.1267585100@indimail.org>",
		"PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg":         "<20137.1267585100@indimail.org>",
		"PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg== go on": "<20137.1267585100@indimail.org>",
		"":   "",
		"  ": "",
	} {
		if got := string(decodeChallenge(in)); got != want {
			t.Errorf("decodeChallenge(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocalName(t *testing.T) {
	host := func() (string, error) { return "buildbox", nil }
	for _, tt := range []struct {
		fqdn  string
		local net.Addr
		want  string
	}{
		{"mail.example.com", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5)}, "mail.example.com"},
		{"", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5)}, "[10.0.0.5]"},
		{"", &net.TCPAddr{IP: net.ParseIP("2001:db8::5")}, "[IPv6:2001:db8::5]"},
		{"", &net.UnixAddr{Name: "/x"}, "buildbox"},
	} {
		if got := localName(tt.fqdn, host, tt.local); got != tt.want {
			t.Errorf("localName(%q, %v) = %q, want %q", tt.fqdn, tt.local, got, tt.want)
		}
	}
	if got := localName("", func() (string, error) { return "", errors.New("no") }, nil); got != "localhost" {
		t.Errorf("last resort = %q", got)
	}
	if got := defaultLocalName(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); got == "" || got == "localhost" {
		t.Errorf("defaultLocalName = %q", got)
	}
}

func TestDialContextCancelled(t *testing.T) {
	s := newScriptServer(t, loopbackAddr, `SLEEP: 2s`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, scriptConfig(s))
	if time.Since(start) > time.Second {
		t.Errorf("Dial took %v", time.Since(start))
	}
	e := asError(t, err)
	if e.Stage != StageGreeting || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v", err)
	}
}
