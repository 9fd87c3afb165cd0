package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"

	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/transport/internal/saslspec"
)

// TestDigestMD5KnownAnswer reproduces RFC 2831 §4 byte for byte (with the
// RFC's imap digest-uri and cnonce injected), and checks rspauth.
func TestDigestMD5KnownAnswer(t *testing.T) {
	c := &digestMD5Client{username: "chris", password: secret.New("secret"), service: "imap", host: "elwood.innosoft.com",
		cnonce: func() string { return "OA6MHXh6VqTrRk" }}
	if mech, ir, _ := c.Start(); mech != "DIGEST-MD5" || ir != nil {
		t.Fatalf("Start = %q, %q", mech, ir)
	}
	challenge := `realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`
	resp, err := c.Next([]byte(challenge))
	if err != nil {
		t.Fatal(err)
	}
	const want = `charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,qop=auth`
	if string(resp) != want {
		t.Errorf("response =\n%s\nwant\n%s", resp, want)
	}
	if err := c.Verified(); !errors.Is(err, ErrServerNotVerified) {
		t.Errorf("Verified before rspauth = %v", err)
	}
	// A wrong rspauth fails.
	bad := *c
	if _, err := bad.Next([]byte("rspauth=ea40f60335c427b5527b84dbabcdfffe")); !errors.Is(err, ErrServerNotVerified) {
		t.Errorf("wrong rspauth: err = %v", err)
	}
	if bad.Verified() == nil {
		t.Error("verified after a wrong rspauth")
	}
	// The RFC's rspauth passes, answered by an empty response.
	final, err := c.Next([]byte("rspauth=ea40f60335c427b5527b84dbabcdfffd"))
	if err != nil || len(final) != 0 || final == nil {
		t.Errorf("answer to rspauth = %q, %v", final, err)
	}
	if err := c.Verified(); err != nil {
		t.Errorf("Verified = %v", err)
	}
	if _, err := c.Next([]byte("more")); err == nil {
		t.Error("answered a third challenge")
	}
	// The server check written from the RFC agrees.
	user, rspauth, err := saslspec.DigestCheck(resp, "OA6MG9tEQGm2hh", "imap/elwood.innosoft.com", func(u, r string) string { return "secret" })
	if err != nil || user != "chris" || rspauth != "rspauth=ea40f60335c427b5527b84dbabcdfffd" {
		t.Errorf("DigestCheck = %q, %q, %v", user, rspauth, err)
	}
	text, hasSecret := c.Describe(1, false, resp)
	if !hasSecret || strings.Contains(text, "d388dad9") || !strings.Contains(text, "response="+DigestMasked) {
		t.Errorf("Describe = %q, %v", text, hasSecret)
	}
}

func TestDigestMD5Challenges(t *testing.T) {
	for _, tt := range []struct{ name, challenge, wantErr string }{
		{"no nonce", `realm="x",qop="auth",algorithm=md5-sess`, "no nonce"},
		{"no md5-sess", `nonce="n",qop="auth"`, "algorithm"},
		{"auth-conf only", `nonce="n",qop="auth-conf",algorithm=md5-sess`, "qop=auth"},
		{"unterminated", `nonce="n,algorithm=md5-sess`, "unterminated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDigestMD5Client("", "u", secret.New("p"), "mx")
			c.Start()
			if _, err := c.Next([]byte(tt.challenge)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	// No realm, several qops, escapes, authzid: the RFC server check agrees.
	c := NewDigestMD5Client("boss", `al"ice`, secret.New("pw"), "mx.example.test")
	c.Start()
	resp, err := c.Next([]byte(`nonce="abc\"def",qop="auth,auth-int",algorithm=md5-sess`))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(resp, []byte("realm=")) || !bytes.Contains(resp, []byte(`authzid="boss"`)) || !bytes.Contains(resp, []byte(`digest-uri="smtp/mx.example.test"`)) {
		t.Errorf("response %s", resp)
	}
	user, rspauth, err := saslspec.DigestCheck(resp, `abc"def`, "smtp/mx.example.test", func(u, r string) string { return "pw" })
	if err != nil || user != `al"ice` {
		t.Fatalf("DigestCheck: %q %v", user, err)
	}
	if _, err := c.Next([]byte(rspauth)); err != nil {
		t.Errorf("rspauth refused: %v", err)
	}
}

// TestSCRAMKnownAnswers reproduces RFC 5802 §5 and RFC 7677 §3 byte for
// byte, with the RFCs' client nonces injected.
func TestSCRAMKnownAnswers(t *testing.T) {
	tests := []struct {
		mech, nonce, serverFirst, wantFinal, serverFinal string
	}{
		{SCRAMSHA1, "fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{SCRAMSHA256, "rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	}
	for _, tt := range tests {
		t.Run(tt.mech, func(t *testing.T) {
			newC := func() sasl.Client {
				c, err := newSCRAMClient(tt.mech, Options{Username: "user", Password: secret.New("pencil")}, func() string { return tt.nonce })
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			c := newC()
			mech, ir, err := c.Start()
			if err != nil || mech != tt.mech || string(ir) != "n,,n=user,r="+tt.nonce {
				t.Fatalf("Start = %q, %q, %v", mech, ir, err)
			}
			final, err := c.Next([]byte(tt.serverFirst))
			if err != nil || string(final) != tt.wantFinal {
				t.Fatalf("client-final = %q, %v; want %q", final, err, tt.wantFinal)
			}
			if c.(Verifier).Verified() == nil {
				t.Error("verified before the server signature")
			}
			text, hasSecret := c.(Describer).Describe(2, false, final)
			if !hasSecret || strings.Contains(text, "p=v0X") || strings.Contains(text, "p=dHz") || !strings.Contains(text, "<proof masked>") {
				t.Errorf("Describe = %q, %v", text, hasSecret)
			}
			empty, err := c.Next([]byte(tt.serverFinal))
			if err != nil || empty == nil || len(empty) != 0 {
				t.Fatalf("answer to server-final = %q, %v", empty, err)
			}
			if err := c.(Verifier).Verified(); err != nil {
				t.Errorf("Verified = %v", err)
			}

			// A wrong server signature fails.
			c = newC()
			c.Start()
			c.Next([]byte(tt.serverFirst))
			bad := []byte(tt.serverFinal)
			bad[3] ^= 1
			if _, err := c.Next(bad); !errors.Is(err, ErrServerNotVerified) {
				t.Errorf("wrong signature: err = %v", err)
			}
			// A server error is reported.
			c = newC()
			c.Start()
			c.Next([]byte(tt.serverFirst))
			if resp, err := c.Next([]byte("e=invalid-proof")); err != nil || resp == nil || len(resp) != 0 {
				t.Errorf("answer to a server error = %q, %v", resp, err)
			}
			if se := c.(ServerErrorer).ServerError(); se == nil || !strings.Contains(se.Error(), "invalid-proof") {
				t.Errorf("ServerError = %v", se)
			}
			if c.(Verifier).Verified() == nil {
				t.Error("verified after a server error")
			}
		})
	}
}

// TestSCRAMAgainstServer runs every SCRAM variant against xdg-go/scram's
// server side, with and without channel binding.
func TestSCRAMAgainstServer(t *testing.T) {
	st := testTLSState(t)
	for _, tt := range []struct {
		mech   string
		cbType string
		tls    bool
		hash   scram.HashGeneratorFcn
	}{
		{SCRAMSHA1, "", false, scram.SHA1},
		{SCRAMSHA256, "", false, scram.SHA256},
		{SCRAMSHA256, "", true, scram.SHA256}, // "y" flag
		{SCRAMSHA1Plus, "", true, scram.SHA1},
		{SCRAMSHA256Plus, "", true, scram.SHA256},
		{SCRAMSHA256Plus, ChannelBindingTLSServerEndPoint, true, scram.SHA256},
	} {
		t.Run(fmt.Sprintf("%s/tls=%v/%s", tt.mech, tt.tls, tt.cbType), func(t *testing.T) {
			o := Options{Username: "alice", Password: secret.New("pencil-Ω"), ChannelBinding: tt.cbType}
			if tt.tls {
				o.TLS = st
			}
			c, err := NewClient(tt.mech, o)
			if err != nil {
				t.Fatal(err)
			}
			kf := scram.KeyFactors{Salt: "salt-salt-salt", Iters: 4096}
			cl, _ := tt.hash.NewClient("alice", "pencil-Ω", "")
			creds, err := cl.GetStoredCredentialsWithError(kf)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := tt.hash.NewServer(func(string) (scram.StoredCredentials, error) { return creds, nil })
			if err != nil {
				t.Fatal(err)
			}
			conv := srv.NewConversation()
			if strings.HasSuffix(tt.mech, "-PLUS") {
				cb, err := ChannelBindingData(st, tt.cbType)
				if err != nil {
					t.Fatal(err)
				}
				conv = srv.NewConversationWithChannelBinding(cb)
			}
			_, ir, _ := c.Start()
			wantFlag := map[bool]string{false: "n,", true: "y,"}[tt.tls]
			if strings.HasSuffix(tt.mech, "-PLUS") {
				wantFlag = "p="
			}
			if !strings.HasPrefix(string(ir), wantFlag) {
				t.Errorf("gs2 header of %q, want %q", ir, wantFlag)
			}
			msg := string(ir)
			for !conv.Done() {
				ch, err := conv.Step(msg)
				if err != nil {
					t.Fatalf("server: %v", err)
				}
				resp, err := c.Next([]byte(ch))
				if err != nil {
					t.Fatalf("client: %v", err)
				}
				msg = string(resp)
			}
			if !conv.Valid() || c.(Verifier).Verified() != nil {
				t.Errorf("server valid %v, client verified %v", conv.Valid(), c.(Verifier).Verified())
			}
		})
	}
	if _, err := NewClient(SCRAMSHA256Plus, Options{Username: "a", Password: secret.New("b")}); err == nil {
		t.Error("-PLUS without TLS")
	}
}

// TestNTLM checks the spec-side NTLMv2 computation against MS-NLMP §4.2.4,
// then runs go-ntlmssp's client against a server check built on it.
func TestNTLM(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// MS-NLMP §4.2.4.1.1 and §4.2.4.2.
	ntowf := saslspec.NTOWFv2("Password", "User", "Domain")
	if got, want := hex.EncodeToString(ntowf), "0c868a403bfd7a93a3001ef22ef02e3f"; got != want {
		t.Fatalf("NTOWFv2 = %s, want %s", got, want)
	}
	serverChallenge := unhex("0123456789abcdef")
	clientChallenge := unhex("aaaaaaaaaaaaaaaa")
	if got, want := hex.EncodeToString(saslspec.LMv2Response(ntowf, serverChallenge, clientChallenge)), "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"; got != want {
		t.Errorf("LMv2 response = %s, want %s", got, want)
	}
	avPairs := saslspec.AVPairs(saslspec.MsvAvNbDomainName, "Domain", saslspec.MsvAvNbComputerName, "Server")
	temp := saslspec.Temp(make([]byte, 8), clientChallenge, avPairs)
	if got, want := hex.EncodeToString(saslspec.NTProofStr(ntowf, serverChallenge, temp)), "68cd0ab851e51c96aabc927bebef6a1c"; got != want {
		t.Errorf("NTProofStr = %s, want %s", got, want)
	}

	for _, tt := range []struct{ user, domain, wantUser, wantDomain string }{
		{"User", "Domain", "User", "Domain"},
		{`Domain\User`, "", "User", "Domain"},
		{"user@example.com", "", "user@example.com", ""},
	} {
		t.Run(tt.user+"/"+tt.domain, func(t *testing.T) {
			c := NewNTLMClient(tt.user, secret.New("Password"), tt.domain)
			if mech, ir, _ := c.Start(); mech != "NTLM" || ir != nil {
				t.Fatalf("Start = %q, %q", mech, ir)
			}
			t1, err := c.Next([]byte{})
			if err != nil || ntlmType(t1) != 1 {
				t.Fatalf("type 1 = %x, %v", t1, err)
			}
			info := saslspec.AVPairs(saslspec.MsvAvNbDomainName, "Domain", saslspec.MsvAvNbComputerName, "Server")
			t2 := saslspec.ChallengeMessage(serverChallenge, "Domain", info)
			if text, _ := c.(Describer).Describe(1, true, t2); !strings.Contains(text, "0123456789abcdef") || !strings.Contains(text, "target Domain") {
				t.Errorf("Describe(type 2) = %q", text)
			}
			t3, err := c.Next(t2)
			if err != nil {
				t.Fatal(err)
			}
			a, err := saslspec.VerifyAuthenticate(t3, serverChallenge, info, func(u, d string) string { return "Password" })
			if err != nil || a.User != tt.wantUser || a.Domain != tt.wantDomain {
				t.Errorf("server check: %+v, %v", a, err)
			}
			if _, err := saslspec.VerifyAuthenticate(t3, serverChallenge, info, func(u, d string) string { return "Wrong" }); err == nil {
				t.Error("a wrong password verified")
			}
			text, hasSecret := c.(Describer).Describe(2, false, t3)
			if !hasSecret || !strings.Contains(text, `user `+tt.wantDomain+`\`+tt.wantUser) {
				t.Errorf("Describe(type 3) = %q, %v", text, hasSecret)
			}
			// The hand tool builds the same kind of message.
			line, err := NTLMAuthenticate(tt.user, secret.New("Password"), tt.domain, base64.StdEncoding.EncodeToString(t2))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(line)
			if _, err := saslspec.VerifyAuthenticate(raw, serverChallenge, info, func(u, d string) string { return "Password" }); err != nil {
				t.Errorf("NTLMAuthenticate: %v", err)
			}
		})
	}
	c := NewNTLMClient("u", secret.New("p"), "")
	c.Start()
	if _, err := c.Next([]byte("not ntlm")); err == nil {
		t.Error("accepted a bad type 2")
	}
	if s, err := NTLMNegotiate(""); err != nil || !strings.HasPrefix(s, "TlRMTVNTUAAB") {
		t.Errorf("NTLMNegotiate = %q, %v", s, err)
	}
}

func TestOAuth(t *testing.T) {
	tok := secret.New("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
	// XOAUTH2 as Google documents it (developers.google.com/gmail/imap/xoauth2-protocol).
	x := NewXOAuth2Client("someuser@example.com", tok)
	mech, ir, _ := x.Start()
	if want := "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"; mech != "XOAUTH2" || string(ir) != want {
		t.Errorf("XOAUTH2 = %q %q", mech, ir)
	}
	if got, want := XOAUTH2String("someuser@example.com", tok), "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="; got != want {
		t.Errorf("XOAUTH2String = %q, want %q", got, want)
	}
	text, hasSecret := x.(Describer).Describe(0, false, ir)
	if !hasSecret || strings.Contains(text, "ya29") || text != `user=someuser@example.com\x01auth=Bearer ********\x01\x01` {
		t.Errorf("Describe = %q", text)
	}
	errJSON := `{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`
	resp, err := x.Next([]byte(errJSON))
	if err != nil || resp == nil || len(resp) != 0 {
		t.Errorf("XOAUTH2 answer to the error = %q, %v", resp, err)
	}
	var oe *OAuthError
	if se := x.(ServerErrorer).ServerError(); !errors.As(se, &oe) || oe.Status != "401" || oe.Scope != "https://mail.google.com/" {
		t.Errorf("ServerError = %v", se)
	}

	// OAUTHBEARER, RFC 7628 §4.1 (the example's token).
	b := NewOAuthBearerClient("user@example.com", "server.example.com", 143, secret.New("vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg=="))
	mech, ir, _ = b.Start()
	if want := "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==\x01\x01"; mech != "OAUTHBEARER" || string(ir) != want {
		t.Errorf("OAUTHBEARER = %q %q", mech, ir)
	}
	if got, want := base64.StdEncoding.EncodeToString(ir), "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2c9PQEB"; got != want {
		t.Errorf("OAUTHBEARER base64 = %q, want %q (RFC 7628 §4.1)", got, want)
	}
	resp, err = b.Next([]byte(`{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`))
	if err != nil || string(resp) != "\x01" {
		t.Errorf("OAUTHBEARER answer to the error = %q, %v", resp, err)
	}
	if se := b.(ServerErrorer).ServerError(); se == nil || !strings.Contains(se.Error(), "invalid_token") {
		t.Errorf("ServerError = %v", se)
	}
	if _, err := b.Next([]byte("again")); err == nil {
		t.Error("answered a second error")
	}
}

func TestExternalAnonymous(t *testing.T) {
	for _, tt := range []struct {
		c        sasl.Client
		mech, ir string
		line     string
	}{
		{NewExternalClient(""), "EXTERNAL", "", ExternalString("")},
		{NewExternalClient("admin"), "EXTERNAL", "admin", ExternalString("admin")},
		{NewAnonymousClient("sirhc"), "ANONYMOUS", "sirhc", AnonymousString("sirhc")},
	} {
		mech, ir, _ := tt.c.Start()
		if mech != tt.mech || ir == nil || string(ir) != tt.ir {
			t.Errorf("Start = %q, %q", mech, ir)
		}
		want := "="
		if tt.ir != "" {
			want = base64.StdEncoding.EncodeToString([]byte(tt.ir))
		}
		if tt.line != want {
			t.Errorf("line = %q, want %q", tt.line, want)
		}
		if _, hasSecret := tt.c.(Describer).Describe(0, false, ir); hasSecret {
			t.Errorf("%s has a secret", mech)
		}
	}
	// RFC 4505 §4's example trace.
	if got := AnonymousString("sirhc"); got != "c2lyaGM=" {
		t.Errorf("AnonymousString = %q", got)
	}
}

// TestHandTools checks the hand-tool helpers against TESTING.md.
func TestHandTools(t *testing.T) {
	if got := PlainString("", "kenneth.burgener", secret.New("ImBB1999!")); got != "AGtlbm5ldGguYnVyZ2VuZXIASW1CQjE5OTkh" {
		t.Errorf("PlainString = %q", got)
	}
	u, p := LoginStrings("kenneth.burgener", secret.New("ImBB1999!"))
	if u != "a2VubmV0aC5idXJnZW5lcg==" || p != "SW1CQjE5OTkh" {
		t.Errorf("LoginStrings = %q, %q", u, p)
	}
	for _, tt := range []struct{ mech, user, pass, challenge, want string }{
		{"cram-md5", "tim", "tanstaaftanstaaf", "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"},
		{"CRAM-MD5", "tim", "tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>", "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"},
		{"CRAM-MD5", "tim", "tanstaaftanstaaf", "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"},
		{"CRAM-MD5", "postmaster@example.com", "pass", "PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg==", "cG9zdG1hc3RlckBleGFtcGxlLmNvbSBjZWU4Mzk3YWIxMjNhMGQ0ZjNhN2ZkZGJiOWNiODcxOQ=="},
		{"CRAM-SHA1", "tim", "tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>", base64.StdEncoding.EncodeToString([]byte("tim 8cb10ed0a8b764ab0e05125dd6eaa295f19b5943"))},
	} {
		got, err := CRAMString(tt.mech, tt.user, secret.New(tt.pass), tt.challenge)
		if err != nil || got != tt.want {
			t.Errorf("CRAMString(%s, %q) = %q, %v; want %q", tt.mech, tt.challenge, got, err, tt.want)
		}
	}
	if _, err := CRAMString("PLAIN", "a", secret.New("b"), "<x>"); err == nil {
		t.Error("CRAMString(PLAIN) worked")
	}
	ch := base64.StdEncoding.EncodeToString(saslspec.DigestChallenge("example.test", "n0nce"))
	line, rspauth, err := DigestMD5Response("alice", secret.New("pw"), ch, "mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(line)
	_, want, err := saslspec.DigestCheck(raw, "n0nce", "smtp/mx.example.test", func(u, r string) string { return "pw" })
	if err != nil || want != "rspauth="+rspauth {
		t.Errorf("DigestMD5Response: server says %q, %v; tool says %q", want, err, rspauth)
	}
	if got := string(DecodeChallenge("VXNlcm5hbWU6")); got != "Username:" {
		t.Errorf("DecodeChallenge = %q", got)
	}
}

func TestChoose(t *testing.T) {
	all := []string{"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER", "EXTERNAL"}
	for _, tt := range []struct {
		name    string
		offered []string
		c       Choice
		want    string
		wantErr string
	}{
		{"strongest over TLS", all, Choice{TLS: true, Password: true}, "SCRAM-SHA-256-PLUS", ""},
		{"no -PLUS without TLS", all, Choice{Password: true}, "SCRAM-SHA-256", ""},
		{"dovecot", []string{"plain", "login", "cram-md5", "digest-md5", "scram-sha-1", "scram-sha-256"}, Choice{TLS: true, Password: true}, "SCRAM-SHA-256", ""},
		{"digest over cram", []string{"PLAIN", "CRAM-MD5", "DIGEST-MD5"}, Choice{Password: true}, "DIGEST-MD5", ""},
		{"cram-sha1 first", []string{"CRAM-MD5", "CRAM-SHA1", "DIGEST-MD5"}, Choice{Password: true}, "CRAM-SHA1", ""},
		{"plain over TLS", []string{"LOGIN", "PLAIN"}, Choice{TLS: true, Password: true}, "PLAIN", ""},
		{"login over TLS", []string{"LOGIN"}, Choice{TLS: true, Password: true}, "LOGIN", ""},
		{"cleartext refused", []string{"LOGIN", "PLAIN"}, Choice{Password: true}, "", "only cleartext"},
		{"cleartext allowed", []string{"LOGIN", "PLAIN"}, Choice{Password: true, AllowCleartext: true}, "PLAIN", ""},
		{"token", all, Choice{TLS: true, Token: true, Password: true}, "OAUTHBEARER", ""},
		{"xoauth2", []string{"PLAIN", "XOAUTH2"}, Choice{TLS: true, Token: true}, "XOAUTH2", ""},
		{"token without TLS", []string{"XOAUTH2"}, Choice{Token: true}, "", "only cleartext"},
		{"token, no oauth offered", []string{"PLAIN"}, Choice{TLS: true, Token: true}, "", "fits"},
		{"client cert", all, Choice{TLS: true, ClientCert: true}, "EXTERNAL", ""},
		{"nothing offered", nil, Choice{TLS: true, Password: true}, "", "(none)"},
		{"no credentials", all, Choice{TLS: true}, "", "no credentials"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(tt.offered, tt.c)
			if got != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Choose = %q, %v; want %q, %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestNoSecretInDescriptions runs every mechanism's exchange and checks
// that no description shows the secret, and that every step that carries
// it is flagged.
func TestNoSecretInDescriptions(t *testing.T) {
	const pass = "Sw0rdfish-Secret-42"
	forms := []string{pass, base64.StdEncoding.EncodeToString([]byte(pass))}
	st := testTLSState(t)
	o := Options{Username: "alice", Password: secret.New(pass), Token: secret.New(pass), Host: "mx", TLS: st, Domain: "DOM"}
	for _, mech := range Mechanisms() {
		t.Run(mech, func(t *testing.T) {
			c, err := NewClient(mech, o)
			if err != nil {
				t.Fatal(err)
			}
			d := c.(Describer)
			_, ir, _ := c.Start()
			check := func(step int, fromServer bool, data []byte) {
				text, hasSecret := d.Describe(step, fromServer, data)
				for _, f := range forms {
					if strings.Contains(text, f) {
						t.Errorf("step %d description %q shows the secret", step, text)
					}
					if bytes.Contains(data, []byte(f)) && !hasSecret {
						t.Errorf("step %d carries the secret but is not flagged: %q", step, text)
					}
				}
			}
			if ir != nil {
				check(0, false, ir)
			}
			var challenges [][]byte
			switch mech {
			case Login:
				challenges = [][]byte{[]byte("Username:"), []byte("Password:")}
			case CRAMMD5, CRAMSHA1:
				challenges = [][]byte{[]byte("<1.2@mx>")}
			case DigestMD5:
				challenges = [][]byte{saslspec.DigestChallenge("", "n")}
			case NTLM:
				challenges = [][]byte{{}, saslspec.ChallengeMessage([]byte("01234567"), "D", saslspec.AVPairs())}
			}
			for i, ch := range challenges {
				resp, err := c.Next(ch)
				if err != nil {
					t.Fatal(err)
				}
				check(i+1, true, ch)
				check(i+1, false, resp)
			}
		})
	}
}
