package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mailscript/mailscript/internal/capture"
)

var captureCmd = &command{
	name:    "capture",
	summary: "run a local SMTP server that stores every message in a Maildir",
	usage: `Usage: mailscript capture [--listen ADDR] [--maildir DIR] [--user NAME --password-env VAR]
                          [--implicit-tls] [--cert-out FILE]

Runs a local SMTP server (STARTTLS with a throwaway certificate, AUTH PLAIN,
LOGIN and CRAM-MD5) that stores every message it receives in a Maildir,
until interrupted. Nothing is relayed. Use it to test templates and scripts
without a mail server, like smtp-sink or mailpit.

Without --user, any credentials are accepted. --cert-out writes the
throwaway certificate so that clients can verify it (mailscript send
--tls-ca FILE).

Examples:
  mailscript capture --listen 127.0.0.1:2525 --maildir ./outbox --cert-out capture.pem
  mailscript send samples/hello.tmpl --server smtp://127.0.0.1:2525 --tls-ca capture.pem
  CAPTURE_PW=s3cret mailscript capture --user alice --password-env CAPTURE_PW
`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		listen := fs.String("listen", "127.0.0.1:2525", "listen on `ADDR`")
		maildir := fs.String("maildir", "outbox", "store messages in Maildir `DIR`")
		user := fs.String("user", "", "require this login `NAME` (default: accept any credentials)")
		pwEnv := fs.String("password-env", "", "the password for --user is in environment variable `VAR`")
		implicit := fs.Bool("implicit-tls", false, "speak TLS from the first byte (like smtps on 465) instead of offering STARTTLS")
		requireAuth := fs.Bool("require-auth", false, "refuse mail from clients that did not authenticate")
		certOut := fs.String("cert-out", "", "write the server's throwaway certificate (PEM) to `FILE`")
		return func(e *env, args []string) error {
			if len(args) != 0 {
				return usageErrorf("capture: unexpected argument %q", args[0])
			}
			cfg := capture.Config{
				Addr:        *listen,
				Maildir:     *maildir,
				ImplicitTLS: *implicit,
				RequireAuth: *requireAuth,
				Log:         e.stderr,
			}
			if *user != "" {
				if *pwEnv == "" {
					return usageErrorf("--user needs --password-env VAR")
				}
				pw := e.getenv(*pwEnv)
				if pw == "" {
					return configErrorf("--password-env: environment variable %s is not set or empty", *pwEnv)
				}
				cfg.Users = map[string]string{*user: pw}
			}
			srv, err := capture.Start(cfg)
			if err != nil {
				return &cliError{code: exitUnavailable, msg: "capture", err: err}
			}
			defer srv.Close()
			if *certOut != "" {
				if err := os.WriteFile(*certOut, srv.CertPEM(), 0o644); err != nil {
					return &cliError{code: exitCantCreate, err: err}
				}
			}
			scheme := "smtp"
			if *implicit {
				scheme = "smtps"
			}
			fmt.Fprintf(e.stderr, "mailscript: capture: listening on %s://%s, storing messages in %s (Ctrl-C to stop)\n", scheme, srv.Addr(), *maildir)
			<-e.ctx.Done()
			fmt.Fprintf(e.stderr, "mailscript: capture: stopping\n")
			return nil
		}
	},
}
