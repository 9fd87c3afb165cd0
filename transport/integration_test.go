package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/internal/stacktest"
)

// TestStackAuth logs in to the real Postfix + Dovecot stack with every
// mechanism Dovecot offers, over STARTTLS and implicit TLS, sends a message
// to bob and checks that it reached his Maildir. Skipped without the stack.
func TestStackAuth(t *testing.T) {
	st := stacktest.Require(t)
	pool, err := LoadCAFile(st.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := st.User(t, "alice"), st.User(t, "bob")
	for _, url := range []string{"smtp://" + st.Submission, "smtps://" + st.SMTPS} {
		for _, mech := range []string{"DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN", "AUTO"} {
			t.Run(url+"/"+mech, func(t *testing.T) {
				ep, err := ParseURL(url)
				if err != nil {
					t.Fatal(err)
				}
				ep.Host = "localhost" // the certificate's name; resolves to loopback
				var tr bytes.Buffer
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, err := Dial(ctx, Config{
					Endpoint: ep, RootCAs: pool, Mechanism: mech,
					Username: alice.Login, Password: secret.New(alice.Password),
					Transcript: &tr, Timestamps: true,
				})
				if err != nil {
					t.Fatalf("Dial: %v\n%s", err, tr.String())
				}
				var nb [8]byte
				rand.Read(nb[:])
				needle := "stack-" + mech + "-" + hex.EncodeToString(nb[:])
				msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\n\r\nHello over %s.\r\n", alice.Address, bob.Address, needle, needle, mech)
				if _, err := c.Send(ctx, alice.Address, []string{bob.Address}, strings.NewReader(msg)); err != nil {
					t.Fatalf("Send: %v\n%s", err, tr.String())
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				bob.WaitMessage(t, needle, 20*time.Second)
				if mech == "AUTO" && !strings.Contains(tr.String(), "chose SCRAM-SHA-256") {
					t.Errorf("AUTO did not choose SCRAM-SHA-256:\n%s", tr.String())
				}
				assertNoSecret(t, "transcript", tr.String(), alice.Login, alice.Password)
			})
		}
	}
}

// TestStackFailures: a wrong password per mechanism, a TLS mode mismatch
// each way, and the probe.
func TestStackFailures(t *testing.T) {
	st := stacktest.Require(t)
	pool, err := LoadCAFile(st.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	alice := st.User(t, "alice")
	sub, _ := ParseURL("smtp://" + st.Submission)
	sub.Host = "localhost"
	for _, mech := range []string{"DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "CRAM-MD5", "PLAIN"} {
		t.Run("wrong password/"+mech, func(t *testing.T) {
			var tr bytes.Buffer
			wrong := "wrong-" + alice.Password
			_, err := Dial(context.Background(), Config{Endpoint: sub, RootCAs: pool, Mechanism: mech,
				Username: alice.Login, Password: secret.New(wrong), Transcript: &tr, Timeout: 20 * time.Second})
			if e := asError(t, err); e.Stage != StageAuth || e.Reply == nil || e.Reply.Code != 535 {
				t.Errorf("error = %v\n%s", err, tr.String())
			}
			assertNoSecret(t, "transcript", tr.String(), alice.Login, wrong)
			assertNoSecret(t, "error", err.Error(), alice.Login, wrong)
		})
	}
	t.Run("implicit TLS to the STARTTLS port", func(t *testing.T) {
		ep := sub
		ep.TLS = TLSImplicit
		_, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, Timeout: 10 * time.Second})
		if e := asError(t, err); e.Stage != StageConnect || !strings.Contains(err.Error(), "use smtp://") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("STARTTLS to the implicit TLS port", func(t *testing.T) {
		ep, _ := ParseURL("smtp://" + st.SMTPS)
		ep.Host = "localhost"
		_, err := Dial(context.Background(), Config{Endpoint: ep, RootCAs: pool, Timeout: 2 * time.Second})
		if e := asError(t, err); e.Stage != StageGreeting || !strings.Contains(err.Error(), "use smtps:// / --tls implicit") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("probe", func(t *testing.T) {
		res, err := Probe(context.Background(), Config{Endpoint: sub, RootCAs: pool, Mechanism: "AUTO",
			Username: alice.Login, Password: secret.New(alice.Password), Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Banner == nil || res.Clear == nil || !res.Clear.StartTLS || res.Secure == nil || res.TLS == nil ||
			res.TLS.Verified != "chain" || res.TLS.DaysLeft <= 0 || !res.AuthOK || res.Auth != "SCRAM-SHA-256" {
			t.Errorf("probe = %+v", res)
		}
	})
}
