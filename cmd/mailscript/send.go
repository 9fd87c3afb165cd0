package main

import (
	"bufio"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mailscript/mailscript/config"
	"github.com/mailscript/mailscript/internal/capture"
	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
)

var sendCmd = &command{
	name:    "send",
	summary: "expand a template and send it over SMTP",
	usage: `Usage: mailscript send TEMPLATE [--server URL] [--auth MECH] [--user NAME]
                       [--password-env VAR] [--tls MODE] [--tls-ca FILE]
                       [--var NAME=VALUE]... [-v]

Expands TEMPLATE and sends it, then prints the server's final reply
(e.g. "250 2.0.0 Ok: queued as 8E2FD52095").

The server URL: smtp://HOST[:PORT] uses STARTTLS (port 587 by default),
smtps://HOST[:PORT] uses implicit TLS (port 465); --tls overrides the mode.
Credentials are only sent over TLS unless the server is on loopback.
The password never comes from the command line: --password-env names an
environment variable that holds it.

With no --server (and none in the template's front matter), or with
--server local, the message goes through the same client code to a built-in
capture server that stores it in a local Maildir (--outbox, default ./outbox):
nothing reaches the internet.

Flags override the template's front matter (server, auth, user,
password_env, tls). Exit codes: 0 sent, 64 usage, 65 template error,
66 missing file, 69 server unavailable or 5xx, 75 temporary 4xx,
77 authentication failed, 78 configuration error.

Examples:
  mailscript send samples/hello.tmpl
  MAIL_PASSWORD=... mailscript send samples/hello.tmpl \
      --server smtp://mail.example.com --auth cram-md5 --user alice \
      --password-env MAIL_PASSWORD -v
  mailscript send report.tmpl --server smtps://mail.example.com:465 \
      --user ci@example.com --password-env SMTP_PASS --var status=failed
  mailscript send test.tmpl --server smtp://10.0.0.5:25 --tls none
`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &sendOptions{}
		o.register(fs)
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usageErrorf("send: want exactly one TEMPLATE, got %d arguments", len(args))
			}
			return o.send(e, args[0])
		}
	},
}

// sendOptions are the flags of "send".
type sendOptions struct {
	templateOptions
	profile     string
	server      string
	auth        string
	user        string
	passwordEnv string
	tls         string
	tlsCA       string
	outbox      string
	insecure    bool
	timeout     time.Duration
	verbose     bool
	localName   string
}

func (o *sendOptions) register(fs *flag.FlagSet) {
	o.templateOptions.register(fs)
	fs.StringVar(&o.profile, "profile", "", "use server profile `NAME` from the configuration file")
	fs.StringVar(&o.server, "server", "", "server `URL`: smtp://HOST[:PORT] (STARTTLS), smtps://HOST[:PORT] (implicit TLS), or \"local\"")
	fs.StringVar(&o.auth, "auth", "", "SASL `MECH`anism: plain, login, cram-md5, cram-sha1 (default plain when --user is given)")
	fs.StringVar(&o.user, "user", "", "login `NAME`")
	fs.StringVar(&o.passwordEnv, "password-env", "", "read the password from environment variable `VAR`")
	fs.StringVar(&o.tls, "tls", "", "TLS `MODE`: starttls, implicit or none (default from the URL scheme)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "verify the server with the CA certificates in `FILE` (PEM) instead of the system roots")
	fs.StringVar(&o.outbox, "outbox", "outbox", "Maildir `DIR` of the built-in local capture server")
	fs.BoolVar(&o.insecure, "insecure-auth", false, "allow AUTH without TLS to a host that is not loopback (the password crosses the network in clear)")
	fs.DurationVar(&o.timeout, "timeout", 0, "connect and per-command `DURATION` (default 30s connect, 5m command)")
	fs.StringVar(&o.localName, "ehlo", "", "`NAME` to send in EHLO (default: this machine's host name)")
	fs.BoolVar(&o.verbose, "v", false, "print the SMTP transcript to stderr (passwords masked)")
}

func (o *sendOptions) send(e *env, path string) error {
	conf, err := o.loadConfig(e)
	if err != nil {
		return err
	}
	// The password variables (of the flag and of every profile) are hidden
	// from the template's shell commands.
	var hide []string
	if o.passwordEnv != "" {
		hide = append(hide, o.passwordEnv)
	}
	for _, p := range conf.Profiles {
		if p.PasswordEnv != "" {
			hide = append(hide, p.PasswordEnv)
		}
	}
	m, err := o.expand(conf, path, hide)
	if err != nil {
		return err
	}
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

	cfg, local, err := o.config(conf, m.Settings)
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		stored []capture.Delivery
	)
	if local {
		srv, err := capture.Start(capture.Config{
			Addr:    "127.0.0.1:0",
			Maildir: o.outbox,
			OnDeliver: func(d capture.Delivery) {
				mu.Lock()
				stored = append(stored, d)
				mu.Unlock()
			},
		})
		if err != nil {
			return fmt.Errorf("starting the local capture server: %w", err)
		}
		defer srv.Close()
		cfg.Endpoint, _ = transport.ParseURL("smtp://" + srv.Addr())
		cfg.RootCAs = srv.RootCAs()
	}
	if o.verbose {
		cfg.Transcript = e.stderr
	}

	c, err := transport.Dial(e.ctx, cfg)
	if err != nil {
		return explainDialError(err, cfg)
	}
	defer c.Close()
	reply, err := c.Send(e.ctx, m.From, m.Recipients, spool)
	if err != nil {
		return err
	}
	if err := c.Close(); err != nil && o.verbose {
		fmt.Fprintf(e.stderr, "mailscript: warning: %v\n", err)
	}
	fmt.Fprintln(e.stdout, reply.String())
	if local {
		where := o.outbox
		mu.Lock()
		defer mu.Unlock()
		if len(stored) > 0 {
			where = stored[0].Path
		}
		fmt.Fprintf(e.stderr, "mailscript: note: no server configured: the message was stored in the local outbox %s, not sent to the internet\n", where)
		fmt.Fprintf(e.stderr, "mailscript: hint: use --server smtp://HOST to send it for real\n")
	}
	return nil
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
		tlsCA:       pick(o.tlsCA, first.tlsCA, second.tlsCA),
		ehlo:        pick(o.localName, first.ehlo, second.ehlo),
		insecure:    o.insecure || first.insecure || second.insecure,
		timeout:     o.timeout,
	}
	if r.timeout == 0 {
		r.timeout = max(first.timeout, second.timeout)
	}
	// The TLS mode travels with the server it was written for.
	switch {
	case o.tls != "":
		r.tls = o.tls
	case o.server != "":
	case r.server == first.server:
		r.tls = first.tls
	case r.server == second.server:
		r.tls = second.tls
	}
	return r, nil
}

// config builds the transport configuration. local reports that the
// built-in capture server is the target.
func (o *sendOptions) config(conf *config.Config, s template.Settings) (cfg transport.Config, local bool, err error) {
	r, err := o.resolve(conf, s)
	if err != nil {
		return cfg, false, err
	}
	local = r.server == "" || r.server == "local"
	if !local {
		cfg.Endpoint, err = transport.ParseURL(r.server)
		if err != nil {
			return cfg, false, usageErrorf("--server: %v", err)
		}
	}
	if r.tls != "" && !local {
		cfg.TLS, err = transport.ParseTLSMode(r.tls)
		if err != nil {
			return cfg, false, usageErrorf("--tls: %v", err)
		}
	}
	if r.tlsCA != "" {
		cfg.RootCAs, err = loadCA(r.tlsCA)
		if err != nil {
			return cfg, false, err
		}
	}
	mech, user := r.auth, r.user
	if mech != "" && user == "" && !strings.EqualFold(mech, "none") {
		return cfg, false, usageErrorf("--auth %s needs --user", mech)
	}
	if user != "" {
		if mech == "" {
			mech = "PLAIN"
		}
		cfg.Mechanism = strings.ToUpper(mech)
		cfg.Username = user
		switch {
		case r.passwordEnv != "":
			pw, ok := os.LookupEnv(r.passwordEnv)
			if !ok || pw == "" {
				return cfg, false, withHint(configErrorf("--password-env: environment variable %s is not set or empty", r.passwordEnv),
					fmt.Sprintf("export %s=... before running mailscript", r.passwordEnv))
			}
			cfg.Password = secret.New(pw)
		case local:
			// The capture server accepts any credentials.
			cfg.Password = secret.New("local")
		default:
			return cfg, false, withHint(usageErrorf("--user %s needs a password source", user),
				"pass --password-env VAR and put the password in that environment variable (never on the command line)")
		}
	}
	cfg.AllowInsecureAuth = r.insecure
	cfg.Timeout = r.timeout
	cfg.LocalName = r.ehlo
	return cfg, local, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pool, err := transport.LoadCAFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		return nil, &cliError{code: exitConfig, msg: "--tls-ca", err: err}
	}
	return pool, nil
}

// explainDialError adds hints for the mistakes people make most.
func explainDialError(err error, cfg transport.Config) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch {
	case te.AuthFailed():
		return withHint(err, "check the user name and the password in the environment variable; the server refused them")
	case errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(x509.HostnameError)), errors.As(err, new(x509.CertificateInvalidError)):
		return withHint(err, "the server's certificate is not trusted: for a private CA or a self-signed server pass its certificate with --tls-ca FILE")
	case te.Stage == transport.StageConnect:
		return withHint(err, "is the server running and the port right? smtp:// means STARTTLS (587), smtps:// implicit TLS (465)")
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
