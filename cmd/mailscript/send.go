package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailscript/mailscript/config"
	"github.com/mailscript/mailscript/internal/capture"
	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
	"github.com/mailscript/mailscript/transport/auth"
)

var sendCmd = &command{
	name:    "send",
	summary: "expand a template and send it over SMTP",
	usage: `Usage: mailscript send TEMPLATE [--server URL | --profile NAME] [--user NAME]
                       [--auth MECH] [--password-env VAR | --password-cmd CMD]
                       [--tls MODE] [--tls-ca FILE] [--var NAME=VALUE]... [-v]

Expands TEMPLATE and sends it, then prints the server's final reply
(e.g. "250 2.0.0 Ok: queued as 8E2FD52095").

The server URL: smtp://HOST[:PORT] uses STARTTLS (port 587 by default),
smtps://HOST[:PORT] uses implicit TLS (port 465), lmtp://HOST[:PORT] or
lmtp:/PATH speak LMTP; --tls overrides the mode. Certificates are verified.
Credentials are only sent over TLS unless the server is on loopback.
The password never comes from the command line: --password-env names an
environment variable that holds it, --password-cmd a command that prints
it; on a terminal mailscript asks for it without echo.

With no server (no --server, no profile, nothing in the template's front
matter), or with --server local, the message goes through the same client
code to a built-in capture server that stores it in a local Maildir
(--outbox, default ./outbox): nothing reaches the internet.

Flags win over the template's front matter (server, auth, user,
password_env, tls, profile), which wins over the configuration file's
profile (docs/config.md). Exit codes: 0 sent, 64 usage, 65 template
error, 66 missing file, 69 server unavailable or 5xx, 75 temporary 4xx,
77 authentication failed, 78 configuration error.

Examples:
  mailscript send samples/hello.tmpl
  MAIL_PASSWORD=... mailscript send samples/hello.tmpl \
      --server smtp://mail.example.com --auth cram-md5 --user alice \
      --password-env MAIL_PASSWORD -v
  mailscript send report.tmpl --server smtps://mail.example.com:465 \
      --user ci@example.com --password-cmd 'pass show mail/ci' --var status=failed
  mailscript send test.tmpl --profile work --quit-after rcpt    # verify recipients, send nothing
  mailscript send alert.tmpl --profile work --json              # machine-readable outcome
`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &sendOptions{}
		o.register(fs)
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usageErrorf("send: want exactly one TEMPLATE, got %d arguments", len(args))
			}
			err := o.send(e, args[0])
			if err != nil && o.jsonOut && !o.jsonDone {
				// A failure before the session (template, files,
				// configuration) gets its JSON object too.
				writeJSON(e.stdout, &sendOutcome{Status: "failed", Message: err.Error(), ExitCode: exitCode(err)})
			}
			return err
		}
	},
}

// sendOptions are the flags of "send".
type sendOptions struct {
	templateOptions
	tls            tlsFlags
	profile        string
	server         string
	auth           string
	user           string
	authzid        string
	domain         string
	passwordEnv    string
	passwordCmd    string
	tokenEnv       string
	tokenCmd       string
	outbox         string
	insecureAuth   bool
	timeout        time.Duration
	verbose        bool
	transcript     string
	transcriptBody bool
	timestamps     bool
	localName      string
	localAddr      string
	quitAfter      string
	jsonOut        bool
	dsnNotify      string
	dsnRet         string
	dsnEnvID       string
	jsonDone       bool // the --json object was printed
}

func (o *sendOptions) register(fs *flag.FlagSet) {
	o.registerServer(fs)
	fs.StringVar(&o.outbox, "outbox", "outbox", "Maildir `DIR` of the built-in local capture server")
	fs.StringVar(&o.quitAfter, "quit-after", "", "stop after `STAGE` and quit cleanly, sending nothing: connect, ehlo, tls, auth,\nmail or rcpt (rcpt checks every recipient: verification without sending)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the outcome (reply, recipients, or the error with its stage and codes) as JSON on stdout")
}

// registerServer registers the template flags and every flag that says
// where and how to connect (shared with "batch").
func (o *sendOptions) registerServer(fs *flag.FlagSet) {
	o.templateOptions.register(fs)
	o.tls.register(fs)
	fs.StringVar(&o.profile, "profile", "", "use server profile `NAME` from the configuration file")
	fs.StringVar(&o.server, "server", "", "server `URL`: smtp://HOST[:PORT] (STARTTLS), smtps://HOST[:PORT] (implicit TLS),\nlmtp://HOST[:PORT], lmtp:/PATH (unix socket), or \"local\"")
	fs.StringVar(&o.auth, "auth", "", "SASL `MECH`anism: auto, plain, login, cram-md5, cram-sha1, digest-md5, scram-sha-1, scram-sha-256,\nscram-sha-1-plus, scram-sha-256-plus, xoauth2, oauthbearer, ntlm, external, anonymous\n(default auto when --user is given: the strongest the server offers)")
	fs.StringVar(&o.user, "user", "", "login `NAME` (NTLM: DOMAIN\\user works too)")
	fs.StringVar(&o.authzid, "authzid", "", "authorization `ID`entity to act as (PLAIN, DIGEST-MD5, SCRAM, OAUTHBEARER, EXTERNAL)")
	fs.StringVar(&o.domain, "domain", "", "NTLM `DOMAIN`")
	fs.StringVar(&o.passwordEnv, "password-env", "", "read the password from environment variable `VAR`")
	fs.StringVar(&o.passwordCmd, "password-cmd", "", "run `CMD` (via sh -c) and use its output as the password (e.g. \"pass show mail\")")
	fs.StringVar(&o.tokenEnv, "token-env", "", "read the OAuth token (XOAUTH2, OAUTHBEARER) from environment variable `VAR`")
	fs.StringVar(&o.tokenCmd, "token-cmd", "", "run `CMD` and use its output as the OAuth token (e.g. a cloud CLI)")
	fs.BoolVar(&o.insecureAuth, "insecure-auth", false, "allow AUTH without TLS to a host that is not loopback (the password crosses the network in clear)")
	fs.Var(durationOpt{&o.timeout}, "timeout", "connect, per-command and final-reply `DURATION` (default 30s connect, 5m command, 10m after the final dot)")
	fs.StringVar(&o.localName, "ehlo", "", "`NAME` to send in EHLO (default: this machine's fully qualified name)")
	fs.StringVar(&o.localAddr, "local-addr", "", "bind the connection to source `ADDR`ess (IP or IP:port)")
	fs.BoolVar(&o.verbose, "v", false, "print the SMTP transcript to stderr (passwords masked)")
	fs.StringVar(&o.transcript, "transcript", "", "write the SMTP transcript to `FILE` (passwords masked)")
	fs.BoolVar(&o.transcriptBody, "transcript-body", false, "include the message body in the transcript (default: headers only)")
	fs.BoolVar(&o.timestamps, "timestamps", false, "prefix transcript lines with the time")
	fs.StringVar(&o.dsnNotify, "dsn-notify", "", "ask for delivery status notifications: `LIST` of success,failure,delay or never")
	fs.StringVar(&o.dsnRet, "dsn-ret", "", "what a bounce returns: full or hdrs")
	fs.StringVar(&o.dsnEnvID, "dsn-envid", "", "envelope `ID` returned in delivery status notifications")
}

func (o *sendOptions) send(e *env, path string) error {
	conf, err := o.loadConfig(e)
	if err != nil {
		return err
	}
	m, err := o.expand(conf, path, o.hiddenEnv(conf))
	if err != nil {
		return err
	}
	// Close removes the temporary files of attach_cmd.
	defer m.Close()
	if m.From == "" {
		return &cliError{code: exitDataErr, msg: path + ": no sender: set from: in the front matter or a From: header"}
	}
	if len(m.Recipients) == 0 {
		return &cliError{code: exitDataErr, msg: path + ": no recipients: set to:, cc: or bcc:"}
	}

	// Render the whole message into a spool file first: every error that
	// rendering can raise (an unreadable attachment, a full disk) happens
	// before the first byte goes to the server, and a retry sends the same
	// bytes.
	spool, err := spoolMessage(m)
	if err != nil {
		return err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()

	cfg, local, err := o.config(e, conf, m.Settings)
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		stored []capture.Delivery
	)
	done, err := o.openSession(e, &cfg, local, o.outbox, func(d capture.Delivery) {
		mu.Lock()
		stored = append(stored, d)
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	defer done()

	out := &sendOutcome{Server: cfg.Endpoint.String(), From: m.From, Recipients: m.Recipients}
	if local {
		out.Server = "local"
	}
	err = o.deliver(e, cfg, m, spool, out)
	if err != nil {
		out.Status = "failed"
		var te *transport.Error
		if errors.As(err, &te) {
			out.Error = te
		} else {
			out.Message = err.Error()
		}
		if o.jsonOut {
			out.ExitCode = exitCode(err)
			writeJSON(e.stdout, out)
			o.jsonDone = true
		}
		return explainDialError(err)
	}
	if o.jsonOut {
		writeJSON(e.stdout, out)
		o.jsonDone = true
	}
	if local && out.Status == "sent" {
		where := o.outbox
		mu.Lock()
		defer mu.Unlock()
		if len(stored) > 0 {
			where = stored[0].Path
		}
		why := "no server configured"
		if o.server == "local" {
			why = "--server local"
		}
		fmt.Fprintf(e.stderr, "mailscript: note: %s: the message was stored in the local outbox %s, not sent to the internet\n", why, where)
		fmt.Fprintf(e.stderr, "mailscript: hint: use --server smtp://HOST (or a profile, see docs/config.md) to send it for real\n")
	}
	return nil
}

// sendOutcome is what --json prints.
type sendOutcome struct {
	Status     string                 `json:"status"` // sent, stopped, verified, failed
	Server     string                 `json:"server"`
	From       string                 `json:"from"`
	Recipients []string               `json:"recipients"`
	Stage      string                 `json:"stopped_after,omitempty"`
	Result     *transport.SendResult  `json:"result,omitempty"`
	Verified   []transport.RcptResult `json:"verified,omitempty"`
	Error      *transport.Error       `json:"error,omitempty"`
	Message    string                 `json:"message,omitempty"`
	ExitCode   int                    `json:"exit_code"` // the process exit code (sysexits)
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// deliver runs the SMTP session: the whole send, or up to --quit-after.
func (o *sendOptions) deliver(e *env, cfg transport.Config, m *template.Message, spool io.Reader, out *sendOutcome) error {
	quit := strings.ToLower(o.quitAfter)
	switch quit {
	case "", "mail", "rcpt":
	case "connect", "ehlo", "tls", "auth":
		cfg.QuitAfter = transport.Stage(quit)
	default:
		return usageErrorf("--quit-after: unknown stage %q (want connect, ehlo, tls, auth, mail or rcpt)", o.quitAfter)
	}
	c, err := transport.Dial(e.ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	switch quit {
	case "connect", "ehlo", "tls", "auth":
		out.Status, out.Stage = "stopped", quit
		if err := c.Close(); err != nil {
			return err
		}
		if !o.jsonOut {
			fmt.Fprintf(e.stdout, "stopped after %s: nothing sent\n", quit)
		}
		return nil
	case "mail", "rcpt":
		var to []string
		if quit == "rcpt" {
			to = m.Recipients
		}
		res, err := c.Verify(e.ctx, m.From, to)
		out.Verified, out.Stage = res, quit
		if err != nil {
			return err
		}
		out.Status = "verified"
		if !o.jsonOut {
			for _, r := range res {
				fmt.Fprintf(e.stdout, "%s: %s\n", r.Addr, r.Rcpt.String())
			}
			fmt.Fprintf(e.stdout, "stopped after %s: nothing sent\n", quit)
		}
		return c.Close()
	}
	res, err := c.SendMessage(e.ctx, m.From, m.Recipients, spool, nil)
	out.Result = res
	if err != nil {
		return err
	}
	out.Status = "sent"
	if err := c.Close(); err != nil && o.verbose {
		fmt.Fprintf(e.stderr, "mailscript: warning: %v\n", err)
	}
	if !o.jsonOut {
		fmt.Fprintln(e.stdout, res.Reply.String())
	}
	return nil
}

// openTranscript points the transcript at stderr (-v) and/or a file
// (--transcript).
func (o *sendOptions) openTranscript(e *env, cfg *transport.Config) (func(), error) {
	cfg.TranscriptBody = o.transcriptBody
	cfg.Timestamps = o.timestamps
	var ws []io.Writer
	if o.verbose {
		ws = append(ws, e.stderr)
	}
	var f *os.File
	if o.transcript != "" {
		var err error
		f, err = os.OpenFile(o.transcript, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, &cliError{code: exitCantCreate, msg: "--transcript", err: err}
		}
		ws = append(ws, f)
	}
	switch len(ws) {
	case 0:
	case 1:
		cfg.Transcript = ws[0]
	default:
		cfg.Transcript = io.MultiWriter(ws...)
	}
	return func() {
		if f != nil {
			f.Close()
		}
	}, nil
}

// settings are the server settings of one send, merged from flags, the
// template's front matter and a configuration profile.
type settings struct {
	server, tls, tlsCA, auth, user, passwordEnv, ehlo string
	timeout                                           time.Duration
	insecure                                          bool
}

// resolve merges the sources of the server settings. Flags always win.
// The template's front matter comes next — unless --profile was given on
// the command line, in which case that profile beats the template (the
// user chose it for this run). A profile is found by --profile, else by
// the template's profile: key, else by the configuration's
// default_profile. The template's tls: goes with the template's server:
// an explicit --server URL's scheme (or --tls) decides the TLS mode.
func (o *sendOptions) resolve(conf *config.Config, s template.Settings) (settings, error) {
	profName := o.profile
	if profName == "" {
		profName = templateProfile(s)
	}
	prof, _, err := conf.Profile(profName)
	if err != nil {
		return settings{}, &cliError{code: exitConfig, err: err}
	}
	if profName == "" {
		profName = conf.DefaultProfile
	}
	tmpl := settings{server: s.Server, tls: s.TLS, auth: s.Auth, user: s.User, passwordEnv: s.PasswordEnv}
	if s.Server == "" {
		tmpl.tls = ""
	}
	pro := settings{server: prof.Server, tls: prof.TLS, tlsCA: prof.TLSCA, auth: prof.Auth, user: prof.User,
		passwordEnv: prof.PasswordEnv, ehlo: prof.EHLO, timeout: time.Duration(prof.Timeout), insecure: prof.InsecureAuth}
	first, second := tmpl, pro
	if o.profile != "" {
		first, second = pro, tmpl
	}
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	r := settings{
		server:      pick(o.server, first.server, second.server),
		auth:        pick(o.auth, first.auth, second.auth),
		user:        pick(o.user, first.user, second.user),
		passwordEnv: pick(o.passwordEnv, first.passwordEnv, second.passwordEnv),
		tlsCA:       pick(o.tls.ca, first.tlsCA, second.tlsCA),
		ehlo:        pick(o.localName, first.ehlo, second.ehlo),
		insecure:    o.insecureAuth || first.insecure || second.insecure,
		timeout:     o.timeout,
	}
	if r.timeout == 0 {
		r.timeout = max(first.timeout, second.timeout)
	}
	// The template's password_env: reads an environment variable (and
	// sends it to the server, which the template may name): under
	// --no-shell only one allowed by --allow-env, as with env.
	if allowed := o.envAllowed(conf); allowed != nil && s.PasswordEnv != "" &&
		r.passwordEnv == s.PasswordEnv && o.passwordEnv == "" && prof.PasswordEnv != s.PasswordEnv &&
		!slices.Contains(allowed, s.PasswordEnv) {
		return settings{}, &cliError{code: exitDataErr, msg: "front matter password_env: " + template.EnvNotAllowed(s.PasswordEnv, allowed)}
	}
	// Nor may it send the user's credentials — a profile's password, or
	// one given by a flag, a prompt, a token, a client certificate — to a
	// server it names itself: they go to the server the user names
	// (--server, or the profile's). Only the template's own password_env:,
	// when --allow-env lets it through, may go to the template's server.
	if (o.noShell || conf.NoShell) && o.server == "" && s.Server != "" && r.server == s.Server && s.Server != prof.Server {
		own := s.PasswordEnv != "" && r.passwordEnv == s.PasswordEnv && o.passwordEnv == "" &&
			o.passwordCmd == "" && o.tokenEnv == "" && o.tokenCmd == "" && o.tls.cert == ""
		users := o.passwordEnv != "" || o.passwordCmd != "" || o.tokenEnv != "" || o.tokenCmd != "" ||
			o.tls.cert != "" || r.passwordEnv != "" || r.user != ""
		if users && !own {
			what := "your credentials"
			if r.passwordEnv != "" && r.passwordEnv == prof.PasswordEnv {
				what = fmt.Sprintf("the password of profile %s (password_env %s)", profName, prof.PasswordEnv)
			}
			return settings{}, &cliError{code: exitDataErr,
				msg:  fmt.Sprintf("server: a template run with --no-shell may not send %s to the server it names (%s)", what, s.Server),
				hint: "give the server with --server URL, or put the profile first with --profile NAME"}
		}
	}
	// The TLS mode travels with the server it was written for.
	switch {
	case o.tls.mode != "":
		r.tls = o.tls.mode
	case o.server != "":
	case r.server == first.server:
		r.tls = first.tls
	case r.server == second.server:
		r.tls = second.tls
	}
	return r, nil
}

// hiddenEnv lists the password variables (of --password-env and of every
// profile) that the template's shell commands must not see.
func (o *sendOptions) hiddenEnv(conf *config.Config) []string {
	var hide []string
	if o.passwordEnv != "" {
		hide = append(hide, o.passwordEnv)
	}
	for _, p := range conf.Profiles {
		if p.PasswordEnv != "" {
			hide = append(hide, p.PasswordEnv)
		}
	}
	return hide
}

// config builds the transport configuration. local reports that the
// built-in capture server is the target.
func (o *sendOptions) config(e *env, conf *config.Config, s template.Settings) (cfg transport.Config, local bool, err error) {
	r, err := o.resolve(conf, s)
	if err != nil {
		return cfg, false, err
	}
	if o.dsnNotify != "" || o.dsnRet != "" || o.dsnEnvID != "" {
		if cfg.DSN, err = parseDSN(o.dsnNotify, o.dsnRet, o.dsnEnvID); err != nil {
			return cfg, false, err
		}
	}
	local = r.server == "" || r.server == "local"
	if !local {
		cfg.Endpoint, err = transport.ParseURL(r.server)
		if err != nil {
			return cfg, false, usageErrorf("--server: %v", err)
		}
	}
	t := o.tls
	t.mode, t.ca = r.tls, r.tlsCA
	if local {
		// The local capture server always speaks STARTTLS; a bad --tls
		// value is still a usage error.
		if t.mode != "" {
			if _, err := transport.ParseTLSMode(t.mode); err != nil {
				return cfg, false, usageErrorf("--tls: %v", err)
			}
		}
		t.mode = ""
	}
	if err := t.apply(&cfg); err != nil {
		return cfg, false, err
	}
	mech, user := strings.ToUpper(r.auth), r.user
	if mech != "" && mech != "NONE" && mech != transport.MechanismAuto && !auth.Known(mech) {
		return cfg, false, unknownMechanism(r.auth)
	}
	if mech == "EXTERNAL" && len(cfg.ClientCerts) == 0 {
		return cfg, false, withHint(usageErrorf("--auth external needs a TLS client certificate"), "pass --tls-cert FILE --tls-key FILE")
	}
	switch {
	case mech == "NONE":
		mech, user = "", ""
	case mech == "EXTERNAL" || mech == "ANONYMOUS":
	case mech != "" && user == "":
		return cfg, false, usageErrorf("--auth %s needs --user", r.auth)
	case mech == "" && user != "":
		mech = transport.MechanismAuto
	}
	cfg.Mechanism, cfg.Username, cfg.Authzid, cfg.Domain = mech, user, o.authzid, o.domain
	if mech == "XOAUTH2" || mech == "OAUTHBEARER" || (mech == transport.MechanismAuto && (o.tokenEnv != "" || o.tokenCmd != "")) {
		if cfg.Token, err = readSecret(e, "token", o.tokenEnv, o.tokenCmd, true); err != nil {
			return cfg, false, err
		}
	}
	needPassword := user != "" && mech != "XOAUTH2" && mech != "OAUTHBEARER" && mech != "EXTERNAL" && mech != "ANONYMOUS"
	if mech == transport.MechanismAuto && !cfg.Token.IsZero() && r.passwordEnv == "" && o.passwordCmd == "" {
		needPassword = false
	}
	if needPassword {
		if local && r.passwordEnv == "" && o.passwordCmd == "" {
			// The capture server accepts any credentials.
			cfg.Password = secret.New("local")
		} else if cfg.Password, err = readSecret(e, "password", r.passwordEnv, o.passwordCmd, true); err != nil {
			return cfg, false, err
		}
	}
	cfg.AllowInsecureAuth = r.insecure
	cfg.Timeout = r.timeout
	cfg.LocalName = r.ehlo
	cfg.LocalAddr = o.localAddr

	return cfg, local, nil
}

// explainDialError adds hints for the mistakes people make most.
func explainDialError(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch {
	case te.AuthFailed():
		return withHint(err, "check the user name and the password in the environment variable; the server refused them")
	case untrustedCert(err):
		return withHint(err, "the server's certificate is not trusted: pass its CA with --tls-ca FILE, or pin a self-signed one with --tls-pin SHA256 (mailscript probe URL --tls-insecure prints it)")
	case errors.Is(err, transport.ErrTLSModeMismatch):
		return err // the error itself says which mode the port wants
	case te.Stage == transport.StageConnect:
		return withHint(err, connectHint)
	}
	return err
}

// spoolMessage renders m into an unlinked-on-exit temporary file and
// rewinds it.
func spoolMessage(m *template.Message) (*os.File, error) {
	f, err := os.CreateTemp("", "mailscript-spool-*.eml")
	if err != nil {
		return nil, &cliError{code: exitCantCreate, msg: "creating the spool file", err: err}
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if _, err := m.WriteTo(bw); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(&cliError{code: exitCantCreate, msg: "writing the spool file", err: err})
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, nil
}

func dirOf(path string) string { return filepath.Dir(path) }

// templateProfile returns the profile the template's front matter names.
func templateProfile(s template.Settings) string { return s.Profile }

// parseDSN checks the DSN flags (RFC 3461) before anything connects.
func parseDSN(notify, ret, envid string) (*transport.DSN, error) {
	d := &transport.DSN{Ret: strings.ToUpper(ret), EnvID: envid}
	switch d.Ret {
	case "", "FULL", "HDRS":
	default:
		return nil, usageErrorf("--dsn-ret: %q is not full or hdrs", ret)
	}
	if notify != "" {
		for _, n := range strings.Split(strings.ToUpper(notify), ",") {
			n = strings.TrimSpace(n)
			switch n {
			case "SUCCESS", "FAILURE", "DELAY", "NEVER":
			default:
				return nil, usageErrorf("--dsn-notify: %q is not success, failure, delay or never", n)
			}
			d.Notify = append(d.Notify, n)
		}
		if len(d.Notify) > 1 && slices.Contains(d.Notify, "NEVER") {
			return nil, usageErrorf("--dsn-notify: never cannot be combined with other values")
		}
	}
	for _, c := range envid {
		if c < '!' || c > '~' {
			return nil, usageErrorf("--dsn-envid: only printable ASCII without spaces")
		}
	}
	return d, nil
}
