package main

import (
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mailscript/mailscript/internal/secret"
	"github.com/mailscript/mailscript/transport/auth"
)

var authCmd = &command{
	name:    "auth",
	summary: "compute the SASL line to type back to a server by hand (telnet, openssl s_client)",
	usage: `Usage: mailscript auth MECH [USER] [CHALLENGE] [--password-env VAR | --password-cmd CMD]
       mailscript auth decode [B64]...

Prints the base64 line(s) to type back to a server you talk to by hand
(telnet, nc, openssl s_client -starttls smtp), in place of the HMAC scripts,
gen-auth and "echo -n ... | base64" of old. Only the line(s) go to stdout;
stderr explains each one decoded, with the password masked ("## ...").

Mechanisms:
  plain USER                 the AUTH PLAIN string (--authzid to act as another identity)
  login USER                 two lines: the answers to "334 VXNlcm5hbWU6" (Username:)
                             and "334 UGFzc3dvcmQ6" (Password:)
  cram-md5 USER [CHALLENGE]  the response to the server's 334 challenge, given base64
  cram-sha1 USER [CHALLENGE] (as the server sent it) or raw (starting with "<")
  digest-md5 USER [CHALLENGE]  the response to the server's challenge (digest-uri
                             smtp/HOST, --host; default the challenge's realm); the
                             rspauth the server must answer with goes to stderr
  ntlm [USER [TYPE2]]        without TYPE2 the type 1 message; with the server's
                             type 2 the type 3 answer (--domain, or USER as DOMAIN\user)
  xoauth2 USER               the XOAUTH2 string (token from --token-env / --token-cmd)
  oauthbearer [AUTHZID]      the OAUTHBEARER string (RFC 7628; --host, --port)
  external [AUTHZID]         the EXTERNAL answer (the identity is the TLS client certificate's)
  anonymous [TRACE]          the ANONYMOUS answer
  decode [B64]...            decode a server's challenge: text, or a hex dump if binary

A CHALLENGE that is missing or "-" is read from stdin (paste it; "334 " in
front is fine). The password comes from --password-env VAR, --password-cmd CMD
or a prompt without echo, never from the command line; the token of the
OAuth mechanisms from --token-env VAR or --token-cmd CMD likewise.

Exit codes: 0 printed, 64 usage (unknown mechanism, missing argument or
password source), 65 a challenge that cannot be decoded, 78 the password
variable is empty or the password command failed.

Examples:
  # AUTH PLAIN (seed: printf "\0user\0pass" | base64)
  mailscript auth plain kenneth.burgener --password-env PW
  # AUTH LOGIN: type the first line after "334 VXNlcm5hbWU6", the second after "334 UGFzc3dvcmQ6"
  mailscript auth login kenneth.burgener --password-cmd 'pass show mail/kenneth'
  # AUTH CRAM-MD5: the server said "334 PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg=="
  mailscript auth cram-md5 postmaster@example.com PDIwMTM3LjEyNjc1ODUxMDBAaW5kaW1haWwub3JnPg==
  mailscript auth cram-md5 tim '<1896.697170952@postoffice.reston.mci.net>'
  # AUTH NTLM: type 1, then type 3 from the server's type 2
  mailscript auth ntlm
  mailscript auth ntlm alice TlRMTVNTUAACAAAA... --domain EXAMPLE
  mailscript auth xoauth2 alice@example.com --token-cmd 'gcloud auth print-access-token'
  mailscript auth decode VXNlcm5hbWU6
`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &authOptions{}
		o.register(fs)
		return o.run
	},
}

// authOptions are the flags of "auth".
type authOptions struct {
	credentialFlags
	authzid, host, domain string
	port                  string
}

func (o *authOptions) register(fs *flag.FlagSet) {
	o.credentialFlags.register(fs)
	fs.StringVar(&o.authzid, "authzid", "", "act as the user `ID` (the SASL authorization identity; plain)")
	fs.StringVar(&o.host, "host", "", "the server's `HOST` name: DIGEST-MD5's digest-uri smtp/HOST, OAUTHBEARER's host=")
	fs.StringVar(&o.port, "port", "", "OAUTHBEARER's port= (`N`; default: not sent)")
	fs.StringVar(&o.domain, "domain", "", "NTLM user `DOMAIN` (or give USER as DOMAIN\\user)")
}

// authMech is one mechanism of "auth": its positional arguments (after
// MECH) at least min and at most max.
type authMech struct {
	min, max int
	args     string // for messages, e.g. "USER [CHALLENGE]"
	run      func(o *authOptions, e *env, args []string) error
}

var authMechs = map[string]authMech{
	"plain":       {1, 1, "USER", (*authOptions).plain},
	"login":       {1, 1, "USER", (*authOptions).login},
	"cram-md5":    {1, 2, "USER [CHALLENGE]", (*authOptions).cram},
	"cram-sha1":   {1, 2, "USER [CHALLENGE]", (*authOptions).cram},
	"digest-md5":  {1, 2, "USER [CHALLENGE]", (*authOptions).digest},
	"ntlm":        {0, 2, "[USER [TYPE2]]", (*authOptions).ntlm},
	"xoauth2":     {1, 1, "USER", (*authOptions).xoauth2},
	"oauthbearer": {0, 1, "[AUTHZID]", (*authOptions).oauthbearer},
	"external":    {0, 1, "[AUTHZID]", (*authOptions).external},
	"anonymous":   {0, 1, "[TRACE]", (*authOptions).anonymous},
	"decode":      {0, -1, "[B64]...", (*authOptions).decode},
}

// authMechNames lists the mechanisms in the order of the help text.
const authMechNames = "plain, login, cram-md5, cram-sha1, digest-md5, ntlm, xoauth2, oauthbearer, external, anonymous, decode"

func (o *authOptions) run(e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("auth: want a mechanism: %s", authMechNames)
	}
	name := strings.ToLower(args[0])
	m, ok := authMechs[name]
	if !ok {
		if strings.HasPrefix(name, "scram-") {
			return withHint(usageErrorf("auth: %s cannot be computed by hand: each step depends on the client's state", args[0]),
				fmt.Sprintf("let mailscript log in itself: mailscript probe URL --user NAME --auth %s --password-env VAR -v", name))
		}
		return usageErrorf("auth: unknown mechanism %q (known: %s)", args[0], authMechNames)
	}
	args = args[1:]
	if len(args) < m.min {
		return usageErrorf("auth %s: want %s", name, m.args)
	}
	if m.max >= 0 && len(args) > m.max {
		return usageErrorf("auth %s: unexpected argument %q (want %s)", name, args[m.max], m.args)
	}
	// The mechanism's name travels in args[0] for the CRAM pair.
	return m.run(o, e, append([]string{name}, args...))
}

// optionalArg returns args[i], "" when it is missing.
func optionalArg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// note prints an explanation line to stderr.
func note(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "## "+format+"\n", args...)
}

// challenge returns the challenge at args[i], checked, or reads it from
// stdin when it is missing or "-". It returns the text as given (for the
// auth helpers) and decoded (for the explanation).
func challenge(e *env, args []string, i int, what string) (string, []byte, error) {
	var s string
	if i < len(args) && args[i] != "-" {
		s = args[i]
	} else {
		var err error
		if s, err = readStdinLine(e, what); err != nil {
			return "", nil, err
		}
	}
	b, err := decodeStrict(s)
	if err != nil {
		return "", nil, err
	}
	return s, b, nil
}

// passwordAndChallenge reads the password and the challenge at args[2]
// (what names it when it is read from stdin). A challenge given as an
// argument is checked before anything is asked.
func (o *authOptions) passwordAndChallenge(e *env, args []string, what string) (secret.Secret, string, []byte, error) {
	if len(args) > 2 && args[2] != "-" {
		if _, err := decodeStrict(args[2]); err != nil {
			return secret.Secret{}, "", nil, err
		}
	}
	pw, err := o.password(e)
	if err != nil {
		return secret.Secret{}, "", nil, err
	}
	ch, raw, err := challenge(e, args, 2, what)
	if err != nil {
		return secret.Secret{}, "", nil, err
	}
	return pw, ch, raw, nil
}

// decodeStrict decodes a challenge as the server sent it: base64 (padded or
// not; of the first word when more follows, as some servers append text),
// with or without "334 " in front, or raw when it starts with "<" (a CRAM
// challenge). Anything else is a data error (exit 65): a mistyped challenge
// would otherwise give a wrong answer silently.
func decodeStrict(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimPrefix(t, "334"))
	if strings.HasPrefix(t, "<") {
		return []byte(t), nil
	}
	first, _, _ := strings.Cut(t, " ")
	for _, c := range []string{t, first} {
		if b, err := base64.StdEncoding.DecodeString(c); err == nil {
			return b, nil
		}
		if b, err := base64.RawStdEncoding.DecodeString(c); err == nil {
			return b, nil
		}
	}
	return nil, &cliError{code: exitDataErr, msg: fmt.Sprintf("%q is not base64 (nor a raw challenge starting with \"<\")", s)}
}

func (o *authOptions) plain(e *env, args []string) error {
	user := args[1]
	pw, err := o.password(e)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, auth.PlainString(o.authzid, user, pw))
	note(e, `%s\0%s\0%s`, auth.Printable([]byte(o.authzid)), auth.Printable([]byte(user)), secret.Redacted)
	note(e, `type it after "AUTH PLAIN " on the same line, or alone after the server's "334"`)
	return nil
}

func (o *authOptions) login(e *env, args []string) error {
	user := args[1]
	pw, err := o.password(e)
	if err != nil {
		return err
	}
	u, p := auth.LoginStrings(user, pw)
	fmt.Fprintln(e.stdout, u)
	fmt.Fprintln(e.stdout, p)
	note(e, `after "AUTH LOGIN": line 1 answers "334 VXNlcm5hbWU6" (Username:): %s`, auth.Printable([]byte(user)))
	note(e, `                    line 2 answers "334 UGFzc3dvcmQ6" (Password:): %s`, secret.Redacted)
	return nil
}

func (o *authOptions) cram(e *env, args []string) error {
	mech, user := strings.ToUpper(args[0]), args[1]
	pw, ch, raw, err := o.passwordAndChallenge(e, args, "the server's challenge")
	if err != nil {
		return err
	}
	line, err := auth.CRAMString(mech, user, pw, ch)
	if err != nil {
		return &cliError{code: exitDataErr, err: err}
	}
	fmt.Fprintln(e.stdout, line)
	note(e, "challenge: %s", auth.Printable(raw))
	note(e, "response:  %s %s (HMAC of the challenge keyed with the password)", auth.Printable([]byte(user)), auth.DigestMasked)
	note(e, `type it after the server's "334 <challenge>"`)
	return nil
}

func (o *authOptions) digest(e *env, args []string) error {
	user := args[1]
	pw, ch, raw, err := o.passwordAndChallenge(e, args, "the server's DIGEST-MD5 challenge")
	if err != nil {
		return err
	}
	host := o.host
	if host == "" {
		host = directive(string(raw), "realm")
		if host == "" {
			return withHint(usageErrorf("auth digest-md5: the challenge has no realm: give the server's host name with --host"),
				"the digest-uri is smtp/HOST, where HOST is the name the server knows itself by")
		}
	}
	line, rspauth, err := auth.DigestMD5Response(user, pw, ch, host)
	if err != nil {
		return &cliError{code: exitDataErr, err: err}
	}
	fmt.Fprintln(e.stdout, line)
	resp, _ := base64.StdEncoding.DecodeString(line)
	note(e, "challenge: %s", auth.Printable(raw))
	note(e, "response:  %s", maskDigestResponse(auth.Printable(resp)))
	note(e, `type it after the server's "334 <challenge>"; the server must then prove it knows the password:`)
	note(e, "expect:    334 %s", base64.StdEncoding.EncodeToString([]byte("rspauth="+rspauth)))
	note(e, "           (rspauth=%s), and answer it with an empty line; any other rspauth: do not trust the server", rspauth)
	return nil
}

// maskDigestResponse masks the response= digest of a DIGEST-MD5 response.
func maskDigestResponse(s string) string {
	i := strings.Index(s, "response=")
	if i < 0 {
		return s
	}
	j := i + len("response=")
	k := j
	for k < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[k]) >= 0 {
		k++
	}
	return s[:j] + auth.DigestMasked + s[k:]
}

// directive returns the first value of a DIGEST-MD5 directive (name=value
// or name="value") in a challenge, "" when absent.
func directive(ch, name string) string {
	for _, part := range strings.Split(ch, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// ntlmDescriber describes NTLM messages (the mechanism's transcript form).
func ntlmDescriber() auth.Describer {
	c, _ := auth.NewClient(auth.NTLM, auth.Options{Username: "-", Password: secret.New("-")})
	d, _ := c.(auth.Describer)
	return d
}

func (o *authOptions) ntlm(e *env, args []string) error {
	if len(args) < 3 {
		line, err := auth.NTLMNegotiate("")
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, line)
		note(e, `NTLM type 1 (NEGOTIATE): type it after "AUTH NTLM" and the server's "334"`)
		note(e, "then run: mailscript auth ntlm USER TYPE2  (TYPE2: the text of the server's next 334)")
		return nil
	}
	user := args[1]
	pw, ch, raw, err := o.passwordAndChallenge(e, args, "the server's NTLM type 2 message")
	if err != nil {
		return err
	}
	line, err := auth.NTLMAuthenticate(user, pw, o.domain, ch)
	if err != nil {
		return &cliError{code: exitDataErr, err: err}
	}
	fmt.Fprintln(e.stdout, line)
	d := ntlmDescriber()
	text, _ := d.Describe(1, true, raw)
	note(e, "challenge: %s", text)
	resp, _ := base64.StdEncoding.DecodeString(line)
	text, _ = d.Describe(2, false, resp)
	note(e, "response:  %s", text)
	note(e, `type it after the server's "334 <type 2>"`)
	return nil
}

func (o *authOptions) xoauth2(e *env, args []string) error {
	tok, err := o.token(e)
	if err != nil {
		return err
	}
	line := auth.XOAUTH2String(args[1], tok)
	fmt.Fprintln(e.stdout, line)
	describeInitial(e, auth.NewXOAuth2Client(args[1], tok), line)
	note(e, `type it after "AUTH XOAUTH2 " on the same line; if the server answers 334 with an error, send an empty line`)
	return nil
}

func (o *authOptions) oauthbearer(e *env, args []string) error {
	authzid := optionalArg(args, 1)
	port := 0
	if o.port != "" {
		n, err := strconv.Atoi(o.port)
		if err != nil || n < 1 || n > 65535 {
			return usageErrorf("--port: want a port number, got %q", o.port)
		}
		port = n
	}
	tok, err := o.token(e)
	if err != nil {
		return err
	}
	line := auth.OAuthBearerString(authzid, o.host, port, tok)
	fmt.Fprintln(e.stdout, line)
	describeInitial(e, auth.NewOAuthBearerClient(authzid, o.host, port, tok), line)
	note(e, `type it after "AUTH OAUTHBEARER " on the same line; if the server answers 334 with an error, send "AQ==" (^A)`)
	return nil
}

// describeInitial explains an initial response with the mechanism's own
// (masking) description.
func describeInitial(e *env, c any, line string) {
	data, _ := base64.StdEncoding.DecodeString(line)
	if d, ok := c.(auth.Describer); ok {
		text, _ := d.Describe(0, false, data)
		note(e, "%s", text)
	}
}

func (o *authOptions) external(e *env, args []string) error {
	authzid := optionalArg(args, 1)
	fmt.Fprintln(e.stdout, auth.ExternalString(authzid))
	if authzid == "" {
		note(e, `"=": no authorization identity, the server uses that of the TLS client certificate`)
	} else {
		note(e, "authorization identity: %s", auth.Printable([]byte(authzid)))
	}
	note(e, `type it after "AUTH EXTERNAL " on a TLS connection with a client certificate (openssl s_client -cert ... -key ...)`)
	return nil
}

func (o *authOptions) anonymous(e *env, args []string) error {
	trace := optionalArg(args, 1)
	fmt.Fprintln(e.stdout, auth.AnonymousString(trace))
	if trace == "" {
		note(e, `"=": no trace information`)
	} else {
		note(e, "trace: %s", auth.Printable([]byte(trace)))
	}
	note(e, `type it after "AUTH ANONYMOUS " on the same line`)
	return nil
}

// decode prints each challenge decoded: as text when it is text (NUL and
// other control bytes escaped, as in a transcript), else as a hex dump.
func (o *authOptions) decode(e *env, args []string) error {
	in := args[1:]
	if len(in) == 0 || (len(in) == 1 && in[0] == "-") {
		lines, err := io.ReadAll(e.stdin)
		if err != nil {
			return err
		}
		in = nil
		for _, l := range strings.Split(string(lines), "\n") {
			if strings.TrimSpace(l) != "" {
				in = append(in, l)
			}
		}
		if len(in) == 0 {
			return usageErrorf("auth decode: nothing to decode: give the base64 text as an argument or on stdin")
		}
	}
	for _, s := range in {
		b, err := decodeStrict(s)
		if err != nil {
			return err
		}
		if isText(b) {
			fmt.Fprintln(e.stdout, auth.Printable(b))
			continue
		}
		fmt.Fprint(e.stdout, hex.Dump(b))
		if d := ntlmDescriber(); len(b) >= 12 && string(b[:8]) == "NTLMSSP\x00" {
			text, _ := d.Describe(1, true, b)
			note(e, "%s", text)
		}
	}
	return nil
}

// isText reports whether b reads as text: valid UTF-8 with few control
// bytes (a PLAIN string's two NULs are fine).
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	ctl := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			ctl++
		}
	}
	return ctl <= 2 || ctl*10 <= len(b)
}
