package transport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/xdg-go/scram"

	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/transport/auth"
	"github.com/mailscript/mailscript/transport/internal/saslspec"
)

// The server sides of the mechanisms added on top of go-sasl's, written
// from their specifications (package saslspec) or, for SCRAM, with
// xdg-go/scram's server. Server-final messages (SCRAM's v=, DIGEST-MD5's
// rspauth) are sent in a 334 and answered by an empty line, as Postfix
// does.

const e2eToken = "ya29.e2e-Token-Very-Secret-0123456789"

var specMechanisms = []string{"DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
	"XOAUTH2", "OAUTHBEARER", "NTLM", "EXTERNAL", "ANONYMOUS"}

// stepServer adapts a function of (step, response) to sasl.Server.
type stepServer struct {
	step int
	next func(step int, resp []byte) ([]byte, bool, error)
}

func (s *stepServer) Next(resp []byte) ([]byte, bool, error) {
	s.step++
	return s.next(s.step, resp)
}

func (s *e2eSession) specServer(mech string, ok func(error) error) sasl.Server {
	switch mech {
	case "DIGEST-MD5":
		nonce := "n0nce+" + fmt.Sprint(time.Now().UnixNano())
		return &stepServer{next: func(step int, resp []byte) ([]byte, bool, error) {
			switch step {
			case 1:
				return saslspec.DigestChallenge("example.com", nonce), false, nil
			case 2:
				user, rspauth, err := saslspec.DigestCheck(resp, nonce, "smtp/127.0.0.1", func(u, r string) string { return e2ePass })
				if err != nil || user != e2eUser {
					return nil, true, ok(smtp.ErrAuthFailed)
				}
				return []byte(rspauth), false, nil
			case 3:
				if len(resp) != 0 {
					return nil, true, errors.New("want an empty response to rspauth")
				}
				return nil, true, ok(nil)
			}
			return nil, true, sasl.ErrUnexpectedClientResponse
		}}
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS":
		hash := scram.SHA256
		if mech == "SCRAM-SHA-1" {
			hash = scram.SHA1
		}
		cl, _ := hash.NewClient(e2eUser, e2ePass, "")
		creds, err := cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: "e2e-salt", Iters: 4096})
		if err != nil {
			panic(err) // fixed, valid key factors
		}
		srv, _ := hash.NewServer(func(u string) (scram.StoredCredentials, error) {
			if u != e2eUser {
				return scram.StoredCredentials{}, errors.New("unknown user")
			}
			return creds, nil
		})
		conv := srv.NewConversation()
		if mech == "SCRAM-SHA-256-PLUS" {
			st, _ := s.conn.TLSConnectionState()
			cb, err := scram.NewTLSExporterBinding(&st)
			if err != nil {
				return nil
			}
			conv = srv.NewConversationWithChannelBinding(cb)
		}
		return &stepServer{next: func(step int, resp []byte) ([]byte, bool, error) {
			if conv.Done() {
				if len(resp) != 0 {
					return nil, true, errors.New("want an empty response to server-final")
				}
				if !conv.Valid() {
					return nil, true, ok(smtp.ErrAuthFailed)
				}
				return nil, true, ok(nil)
			}
			out, err := conv.Step(string(resp))
			if err != nil && !conv.Done() {
				return nil, true, ok(smtp.ErrAuthFailed)
			}
			return []byte(out), false, nil
		}}
	case "XOAUTH2", "OAUTHBEARER":
		var failed bool
		return &stepServer{next: func(step int, resp []byte) ([]byte, bool, error) {
			if failed {
				want := "\x01"
				if mech == "XOAUTH2" {
					want = ""
				}
				if string(resp) != want {
					return nil, true, fmt.Errorf("want %q after the error, got %q", want, resp)
				}
				return nil, true, ok(smtp.ErrAuthFailed)
			}
			fields := strings.Split(string(resp), "\x01")
			good := false
			if mech == "XOAUTH2" {
				good = len(fields) == 4 && fields[0] == "user="+e2eUser && fields[1] == "auth=Bearer "+e2eToken && fields[2] == "" && fields[3] == ""
			} else {
				// RFC 7628 §3.1: gs2-header kvsep *(key=value kvsep) kvsep.
				good = fields[0] == "n,a="+e2eUser+"," && len(fields) >= 4 && fields[len(fields)-1] == "" && fields[len(fields)-2] == ""
				hasAuth := false
				for _, f := range fields[1 : len(fields)-2] {
					hasAuth = hasAuth || f == "auth=Bearer "+e2eToken
				}
				good = good && hasAuth
			}
			if good {
				return nil, true, ok(nil)
			}
			failed = true
			return []byte(`{"status":"invalid_token","scope":"https://mail.example.test/"}`), false, nil
		}}
	case "NTLM":
		challenge := []byte("\x01\x23\x45\x67\x89\xab\xcd\xef")
		info := saslspec.AVPairs(saslspec.MsvAvNbDomainName, "EXAMPLE", saslspec.MsvAvNbComputerName, "MX")
		return &stepServer{next: func(step int, resp []byte) ([]byte, bool, error) {
			switch step {
			case 1:
				if len(resp) != 0 {
					return nil, true, errors.New("NTLM: no initial response expected")
				}
				return nil, false, nil
			case 2:
				if !bytes.HasPrefix(resp, []byte("NTLMSSP\x00\x01\x00\x00\x00")) {
					return nil, true, errors.New("NTLM: want a type 1 message")
				}
				return saslspec.ChallengeMessage(challenge, "EXAMPLE", info), false, nil
			case 3:
				a, err := saslspec.VerifyAuthenticate(resp, challenge, info, func(u, d string) string { return e2ePass })
				if err != nil || a.User != e2eUser || a.Domain != "EXAMPLE" {
					return nil, true, ok(smtp.ErrAuthFailed)
				}
				return nil, true, ok(nil)
			}
			return nil, true, sasl.ErrUnexpectedClientResponse
		}}
	case "EXTERNAL":
		return &stepServer{next: func(step int, resp []byte) ([]byte, bool, error) {
			st, _ := s.conn.TLSConnectionState()
			if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != e2eUser || len(resp) != 0 {
				return nil, true, ok(smtp.ErrAuthFailed)
			}
			return nil, true, ok(nil)
		}}
	case "ANONYMOUS":
		return &stepServer{next: func(step int, resp []byte) ([]byte, bool, error) {
			if string(resp) != "trace@example.com" {
				return nil, true, ok(smtp.ErrAuthFailed)
			}
			return nil, true, ok(nil)
		}}
	}
	return nil
}

// clientCert is a certificate for e2eUser, self-signed (the test server
// requests but does not verify client certificates).
func clientCert(t *testing.T) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: e2eUser},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestEndToEndMechanisms runs each added mechanism against the in-process
// server over both TLS modes, on success and with a wrong secret, and greps
// every transcript and error for the secrets.
func TestEndToEndMechanisms(t *testing.T) {
	_, pool := testCert()
	msg := "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: mech\r\n\r\nbody\r\n"
	for _, mode := range []TLSMode{TLSStartTLS, TLSImplicit} {
		for _, mech := range append(append([]string{}, specMechanisms...), "AUTO") {
			for _, wrong := range []bool{false, true} {
				if wrong && (mech == "ANONYMOUS" || mech == "EXTERNAL") {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/wrong=%v", mode, mech, wrong), func(t *testing.T) {
					ep, be := startServer(t, mode)
					pass, tok := e2ePass, e2eToken
					if wrong {
						pass, tok = "wrong-"+e2ePass, "wrong-"+e2eToken
					}
					cfg := Config{Endpoint: ep, RootCAs: pool, Mechanism: mech, Username: e2eUser,
						Password: secret.New(pass), LocalName: "client.example", Timeout: 10 * time.Second}
					switch mech {
					case "XOAUTH2", "OAUTHBEARER":
						cfg.Password, cfg.Token, cfg.Authzid = secret.Secret{}, secret.New(tok), e2eUser
					case "NTLM":
						cfg.Domain = "EXAMPLE"
					case "EXTERNAL":
						cfg.Username, cfg.Password = "", secret.Secret{}
						cfg.ClientCerts = []tls.Certificate{clientCert(t)}
					case "ANONYMOUS":
						cfg.Username, cfg.Password, cfg.Trace = "", secret.Secret{}, "trace@example.com"
					}
					var tr bytes.Buffer
					cfg.Transcript = &tr
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					defer cancel()
					c, err := Dial(ctx, cfg)
					if wrong {
						e := asError(t, err)
						if e.Stage != StageAuth || !e.AuthFailed() {
							t.Errorf("error = %v\n%s", err, tr.String())
						}
						if strings.HasPrefix(mech, "X") || strings.HasPrefix(mech, "OAUTH") {
							var oe *auth.OAuthError
							if !errors.As(err, &oe) || oe.Status != "invalid_token" || !strings.Contains(err.Error(), "invalid_token") {
								t.Errorf("no OAuth error in %v", err)
							}
						}
						js, _ := json.Marshal(e)
						for _, p := range []string{pass, e2ePass, tok, e2eToken} {
							assertNoSecret(t, "transcript", tr.String(), e2eUser, p)
							assertNoSecret(t, "error", err.Error(), e2eUser, p)
							assertNoSecret(t, "error JSON", string(js), e2eUser, p)
						}
						return
					}
					if err != nil {
						t.Fatalf("Dial: %v\n%s", err, tr.String())
					}
					if mech == "AUTO" && !strings.Contains(tr.String(), "chose SCRAM-SHA-256-PLUS") {
						t.Errorf("AUTO did not choose SCRAM-SHA-256-PLUS:\n%s", tr.String())
					}
					if _, err := c.Send(ctx, "alice@example.com", []string{"bob@example.com"}, strings.NewReader(msg)); err != nil {
						t.Fatalf("Send: %v\n%s", err, tr.String())
					}
					c.Close()
					if n := len(be.messages()); n != 1 {
						t.Errorf("server got %d messages", n)
					}
					for _, p := range []string{e2ePass, e2eToken} {
						assertNoSecret(t, "transcript", tr.String(), e2eUser, p)
					}
					if !strings.Contains(tr.String(), "## ") {
						t.Errorf("no decoded SASL line:\n%s", tr.String())
					}
				})
			}
		}
	}
}
