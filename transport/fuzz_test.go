package transport

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailscript/mailscript/internal/secret"
)

// FuzzServerReplies plays arbitrary bytes as everything a server says
// (greeting, EHLO, AUTH challenges, replies) to a client that logs in with
// each mechanism family and sends a message. Whatever the server says, the
// client must not panic or hang, must return either success or a
// *transport.Error, and must never put the password, or the base64 of the
// PLAIN payload, into the transcript or the error.
func FuzzServerReplies(f *testing.F) {
	f.Add([]byte("220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 Ok: queued as X\r\n221 bye\r\n"), uint8(0))
	f.Add([]byte("220 mx\r\n250 AUTH=LOGIN\r\n334 VXNlcm5hbWU6\r\n334 Password:\r\n535 5.7.8 no\r\n"), uint8(1))
	f.Add([]byte("220 mx\r\n250-mx\r\n250 AUTH CRAM-MD5\r\n334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n235 ok\r\n"), uint8(2))
	f.Add([]byte("220-multi\r\n220 line\r\n250-a\r\n251 b\r\n"), uint8(0))
	f.Add([]byte("220 mx\r\n250 ok\r\n421 4.7.0 bye\r\n"), uint8(3))
	f.Add([]byte("999 what\r\n"), uint8(0))
	mechs := []string{"PLAIN", "LOGIN", "CRAM-MD5", ""}
	const pw = "Fuzz-Secret-Pw1"
	leaks := []string{pw}
	for _, s := range []string{"\x00alice\x00" + pw, pw} {
		leaks = append(leaks, strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(s)), "="))
	}
	f.Fuzz(func(t *testing.T, script []byte, m uint8) {
		client, server := net.Pipe()
		go func() {
			// The server writes its lines and drains what the client says.
			go io.Copy(io.Discard, server)
			server.Write(script)
			server.Close()
		}()
		var tr bytes.Buffer
		cfg := Config{
			Endpoint:   Endpoint{Scheme: "smtp", Host: "mx.example.test", Port: "25", TLS: TLSNone},
			LocalName:  "client.example",
			Timeout:    2 * time.Second,
			Mechanism:  mechs[int(m)%len(mechs)],
			Username:   "alice",
			Password:   secret.New(pw),
			Transcript: &tr,
			dial: func(context.Context, string, string) (net.Conn, error) {
				return addrConn{Conn: client, remote: loopbackAddr}, nil
			},
		}
		if cfg.Mechanism == "" {
			cfg.Username, cfg.Password = "", secret.Secret{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errText string
		c, err := Dial(ctx, cfg)
		if err == nil {
			_, err = c.Send(ctx, "alice@example.com", []string{"bob@example.com"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
			c.Close()
		}
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *transport.Error", err, err)
			}
			errText = err.Error()
		}
		for _, l := range leaks {
			if strings.Contains(tr.String(), l) || strings.Contains(errText, l) {
				t.Fatalf("secret %q leaked:\n%s\n%s", l, tr.String(), errText)
			}
		}
	})
}

// FuzzParseURL: any input gives an Endpoint or an error, and an error never
// repeats a password written into the URL.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smtp://mail.example.com", "smtps://[::1]:465", "lmtp:/run/dovecot/lmtp", "mail.example.com:25", "smtp://alice:hunter2@host", "smtpx://u:hunter2@[::1", "smtp://u:hunt%zz@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseURL(s)
		if err == nil {
			return
		}
		i := strings.LastIndex(s, "@")
		j := strings.Index(s, "//")
		if i < 0 || j < 0 || j > i {
			return // no userinfo
		}
		userinfo := s[j+2 : i]
		// The host part may legitimately be quoted back; what is left
		// must not hold the password.
		rest := strings.ReplaceAll(err.Error(), s[i+1:], "")
		if _, pass, ok := strings.Cut(userinfo, ":"); ok && len(pass) >= 4 && !strings.Contains(s[i+1:], pass) && strings.Contains(rest, pass) {
			t.Fatalf("ParseURL(%q) error repeats the password: %v", s, err)
		}
	})
}
