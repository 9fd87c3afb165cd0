package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailscript/mailscript/transport"
	"github.com/mailscript/mailscript/transport/auth"
)

var probeCmd = &command{
	name:    "probe",
	summary: "check a server: banner, EHLO, TLS and certificate, optionally a login",
	usage: `Usage: mailscript probe URL [--user NAME [--auth MECH] [--password-env VAR | --password-cmd CMD]]
                        [--json] [--min-days N] [--tls MODE] [--tls-ca FILE] [-v]

Connects to the server at URL (smtp://HOST[:PORT] STARTTLS, port 587 by
default; smtps://HOST[:PORT] implicit TLS, 465), prints its banner, the EHLO
capabilities before and after TLS (SIZE, PIPELINING, 8BITMIME, SMTPUTF8,
DSN, CHUNKING, STARTTLS, AUTH), the TLS version and cipher, the server's
certificate (subject, issuer, expiry, days left, SHA-256 fingerprint) and
how it was verified; with --user it also logs in (--auth auto by default:
the strongest mechanism the server offers, never a cleartext one without
TLS). Then it says QUIT: nothing is sent. A health check for cron and CI.

Exit codes: 0 all good; 64 usage; 69 server unreachable, TLS failure
(certificate not trusted, TLS mode not matching the port, no STARTTLS) or
the certificate expires within --min-days days; 75 the server answered
with a temporary 4xx; 77 the login was refused; 78 the password variable
is empty or the password command failed.

--json prints what was found as one JSON object (also on failure; the
reason is in "error" and "problems"); it never contains a secret.

Examples:
  mailscript probe smtp://mail.example.com
  mailscript probe smtps://mail.example.com:465 --min-days 30
  mailscript probe smtp://mail.example.com:587 --user alice --password-env MAIL_PASSWORD
  mailscript probe smtp://mail.example.com --user alice --auth cram-md5 --password-cmd 'pass show mail' -v
  mailscript probe smtp://10.0.0.5:25 --tls-pin 3F:...:9A      # a self-signed server, pinned
  mailscript probe smtps://mail.example.com --json | jq .tls.days_left
`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &probeOptions{}
		o.register(fs)
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usageErrorf("probe: want exactly one server URL, got %d arguments", len(args))
			}
			return o.probe(e, args[0])
		}
	},
}

// probeOptions are the flags of "probe".
type probeOptions struct {
	credentialFlags
	tls             tlsFlags
	user, mech      string
	authzid, domain string
	insecureAuth    bool
	json            bool
	minDays         int
	timeout         time.Duration
	ehlo            string
	verbose         bool
}

func (o *probeOptions) register(fs *flag.FlagSet) {
	o.tls.register(fs)
	fs.StringVar(&o.user, "user", "", "also log in as `NAME`")
	fs.StringVar(&o.mech, "auth", "", "SASL `MECH`anism of the login: auto, plain, login, cram-md5, scram-sha-256, ...\n(default auto when --user is given)")
	o.credentialFlags.register(fs)
	fs.StringVar(&o.authzid, "authzid", "", "act as the user `ID` (the SASL authorization identity)")
	fs.StringVar(&o.domain, "domain", "", "NTLM user `DOMAIN`")
	fs.BoolVar(&o.insecureAuth, "insecure-auth", false, "allow the login without TLS to a host that is not loopback")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.IntVar(&o.minDays, "min-days", 14, "fail (exit 69) when the certificate expires in fewer than `N` days")
	fs.Var(durationOpt{&o.timeout}, "timeout", "connect and per-command `DURATION` (default 30s connect, 5m command)")
	fs.StringVar(&o.ehlo, "ehlo", "", "`NAME` to send in EHLO (default: this machine's host name)")
	fs.BoolVar(&o.verbose, "v", false, "print the SMTP transcript to stderr (passwords masked)")
}

// config builds the transport configuration, reading the credential.
func (o *probeOptions) config(e *env, rawURL string) (transport.Config, error) {
	var cfg transport.Config
	var err error
	cfg.Endpoint, err = transport.ParseURL(rawURL)
	if err != nil {
		return cfg, usageErrorf("probe: %v", err)
	}
	if err := o.tls.apply(&cfg); err != nil {
		return cfg, err
	}
	cfg.Timeout, cfg.LocalName, cfg.AllowInsecureAuth = o.timeout, o.ehlo, o.insecureAuth
	if o.minDays < 0 {
		return cfg, usageErrorf("--min-days: want 0 or more days, got %d", o.minDays)
	}
	if o.user == "" && o.mech == "" {
		return cfg, nil
	}
	mech := strings.ToUpper(o.mech)
	if mech == "" {
		mech = transport.MechanismAuto
	}
	if mech != transport.MechanismAuto && !auth.Known(mech) {
		return cfg, unknownMechanism(o.mech)
	}
	tokenGiven := o.tokenEnv != "" || o.tokenCmd != ""
	var needUser, needPassword, needToken bool
	switch mech {
	case auth.External, auth.Anonymous:
	case auth.OAuthBearer:
		needToken = true
	case auth.XOAuth2:
		needUser, needToken = true, true
	case transport.MechanismAuto:
		needUser = !tokenGiven || o.user != ""
		needToken, needPassword = tokenGiven, !tokenGiven
	default:
		needUser, needPassword = true, true
	}
	if needUser && o.user == "" {
		return cfg, usageErrorf("--auth %s needs --user", strings.ToLower(mech))
	}
	if mech == auth.External && len(cfg.ClientCerts) == 0 {
		return cfg, usageErrorf("--auth external needs a client certificate: --tls-cert FILE --tls-key FILE")
	}
	cfg.Mechanism, cfg.Username, cfg.Authzid, cfg.Domain = mech, o.user, o.authzid, o.domain
	if mech == auth.Anonymous {
		cfg.Trace = o.user
	}
	if needPassword {
		if cfg.Password, err = o.password(e); err != nil {
			return cfg, err
		}
	}
	if needToken {
		if cfg.Token, err = o.token(e); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func (o *probeOptions) probe(e *env, rawURL string) error {
	cfg, err := o.config(e, rawURL)
	if err != nil {
		return err
	}
	o.tls.warn(e.stderr)
	if o.verbose {
		cfg.Transcript = e.stderr
	}
	res, err := transport.Probe(e.ctx, cfg)
	if err != nil {
		err = o.explain(err, res)
	}
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	} else if t := res.TLS; t != nil && !t.NotAfter.IsZero() && t.DaysLeft < o.minDays {
		when := "expires in " + days(t.DaysLeft)
		if t.DaysLeft < 0 {
			when = "expired " + days(-t.DaysLeft) + " ago"
		}
		err = withHint(&cliError{code: exitUnavailable,
			msg: fmt.Sprintf("the server's certificate %s (%s), fewer than --min-days %d", when, t.NotAfter.Format("2006-01-02"), o.minDays)},
			"renew the certificate (or lower --min-days)")
		problems = append(problems, err.Error())
	}
	if o.json {
		out := struct {
			*transport.ProbeResult
			OK       bool     `json:"ok"`
			Problems []string `json:"problems,omitempty"`
		}{res, err == nil, problems}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if encErr := enc.Encode(out); encErr != nil {
			return encErr
		}
		return err
	}
	o.print(e.stdout, cfg, res, err)
	return err
}

// explain adds hints for the common failures.
func (o *probeOptions) explain(err error, res *transport.ProbeResult) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	var me *transport.MechanismError
	switch {
	case te.AuthFailed():
		return withHint(err, "the server refused the user name or password (do not retry in a loop: servers lock accounts out)")
	case errors.Is(err, transport.ErrTLSModeMismatch):
		// Not temporary even when it showed as a timeout (no greeting from
		// a port that speaks TLS): retrying the same way cannot work.
		return &cliError{code: exitUnavailable, err: err,
			hint: "smtp:// means STARTTLS (ports 587 and 25), smtps:// implicit TLS (port 465); --tls overrides the URL's mode"}
	case errors.Is(err, transport.ErrNoStartTLS):
		return withHint(err, "the server does not offer STARTTLS: try smtps:// (implicit TLS, port 465), or --tls none if you must")
	case errors.Is(err, transport.ErrPinMismatch):
		return withHint(err, "the certificate changed since you pinned it: check it, then update --tls-pin")
	case untrustedCert(err):
		hint := "the server's certificate is not trusted: for a private CA pass its certificate with --tls-ca FILE"
		if res != nil && res.TLS != nil && res.TLS.Fingerprint != "" {
			hint += "; for a self-signed server you trust, pin it: --tls-pin " + res.TLS.Fingerprint
		}
		return withHint(err, hint)
	case errors.Is(err, transport.ErrInsecureAuth):
		return withHint(err, "use TLS (smtp:// with STARTTLS or smtps://), or --insecure-auth if the network is trusted")
	case errors.As(err, &me):
		return withHint(err, "pick one the server offers with --auth, or --auth auto")
	case te.Stage == transport.StageConnect:
		return withHint(err, connectHint)
	}
	return err
}

// print writes the human-readable report: what was found, as far as the
// session got.
func (o *probeOptions) print(w io.Writer, cfg transport.Config, res *transport.ProbeResult, err error) {
	row := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-12s %s\n", label, fmt.Sprintf(format, args...))
	}
	mode := cfg.TLS
	if mode == "" {
		mode = cfg.Endpoint.TLS
	}
	row("server", "%s (TLS: %s)", res.Endpoint, mode)
	if res.Banner != nil {
		row("banner", "%s", res.Banner)
	}
	if res.Clear != nil {
		label := "ehlo"
		if res.Secure != nil || mode != transport.TLSNone {
			label = "ehlo (clear)"
		}
		row(label, "%s", strings.Join(res.Clear.Keywords, ", "))
	}
	if t := res.TLS; t != nil {
		if t.Version != "" {
			row("tls", "%s, %s", t.Version, t.Cipher)
		}
		if t.Subject != "" || t.Fingerprint != "" {
			row("certificate", "%s", t.Subject)
			row("  issuer", "%s", t.Issuer)
			if len(t.DNSNames) > 0 {
				row("  names", "%s", strings.Join(t.DNSNames, ", "))
			}
			left := fmt.Sprintf("%d days left", t.DaysLeft)
			if t.DaysLeft < 0 {
				left = fmt.Sprintf("EXPIRED %d days ago", -t.DaysLeft)
			} else if t.DaysLeft < o.minDays {
				left += fmt.Sprintf(", fewer than --min-days %d", o.minDays)
			}
			row("  expires", "%s (%s)", t.NotAfter.Format("2006-01-02 15:04:05 MST"), left)
			row("  sha256", "%s", t.Fingerprint)
		}
		row("  verified", "%s", o.verified(t))
	} else if mode == transport.TLSNone && res.Banner != nil {
		row("tls", "none (--tls none): everything, a login included, crosses the network in clear")
	}
	caps := res.Secure
	if caps != nil {
		row("ehlo (tls)", "%s", strings.Join(caps.Keywords, ", "))
	} else {
		caps = res.Clear
	}
	if caps != nil {
		yes := func(b bool) string {
			if b {
				return "yes"
			}
			return "no"
		}
		size := yes(caps.SizeOffered)
		if caps.Size > 0 {
			size = fmt.Sprintf("%d (%.1f MiB)", caps.Size, float64(caps.Size)/(1<<20))
		}
		row("  size", "%s", size)
		row("  pipelining", "%s", yes(caps.Pipelining))
		row("  8bitmime", "%s", yes(caps.EightBitMIME))
		row("  smtputf8", "%s", yes(caps.SMTPUTF8))
		row("  dsn", "%s", yes(caps.DSN))
		row("  chunking", "%s", yes(caps.Chunking))
		starttls := yes(res.Clear != nil && res.Clear.StartTLS)
		if res.Clear == nil {
			starttls = "(implicit TLS)"
		}
		row("  starttls", "%s", starttls)
		mechs := strings.Join(caps.Auth, " ")
		if mechs == "" {
			mechs = "none"
		}
		if res.Secure != nil && res.Clear != nil && strings.Join(res.Clear.Auth, " ") != strings.Join(caps.Auth, " ") {
			before := strings.Join(res.Clear.Auth, " ")
			if before == "" {
				before = "none"
			}
			mechs += " (before TLS: " + before + ")"
		}
		row("  auth", "%s", mechs)
	}
	if res.Auth != "" {
		who := cfg.Username
		if who == "" {
			who = "(no user)"
		}
		status := "ok"
		if !res.AuthOK {
			status = "FAILED"
		}
		row("login", "%s as %s: %s", res.Auth, who, status)
	}
	if err != nil {
		row("result", "FAILED (%s)", strings.SplitN(err.Error(), "\n", 2)[0])
		return
	}
	row("result", "ok (%s)", res.Elapsed.Round(time.Millisecond))
}

// verified says how the certificate was checked, loudly when it was not.
func (o *probeOptions) verified(t *transport.TLSInfo) string {
	var s string
	switch t.Verified {
	case "chain":
		s = "ok, chain to the system roots"
		if o.tls.ca != "" {
			s = "ok, chain to " + o.tls.ca
		}
		if o.tls.serverName != "" {
			s += " for " + o.tls.serverName
		}
	case "pin":
		s = "ok, pinned SHA-256 fingerprint"
	case "none":
		s = "*** NOT VERIFIED (--tls-insecure)"
	case "failed":
		return "FAILED: " + t.ChainError
	default:
		s = t.Verified
	}
	if t.ChainError != "" {
		s += "; the chain alone does not verify: " + t.ChainError
	}
	return s
}

// durationOpt is a duration flag whose zero value means "the default",
// so that the help text shows no "(default 0s)".
type durationOpt struct{ d *time.Duration }

func (f durationOpt) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationOpt) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 10s or 2m, got %q", s)
	}
	if d < 0 {
		return fmt.Errorf("want a positive duration, got %q", s)
	}
	*f.d = d
	return nil
}

// days formats a number of days: "1 day", "3 days".
func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
