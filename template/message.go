package template

import (
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"os"
	"strings"
	"sync"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Settings are the front-matter keys that tell the CLI how to send. Empty
// means "not set in the template".
type Settings struct {
	Server      string // server, e.g. smtp://mail.example.com:587 or "local"
	Auth        string // auth: SASL mechanism, e.g. PLAIN, LOGIN, CRAM-MD5
	User        string // user: the SASL user name
	PasswordEnv string // password_env: the environment variable holding the password
	TLS         string // tls: starttls, implicit or none
	Profile     string // profile: a server profile of the configuration file
}

// Message is one expanded message, ready to be written. WriteTo may be called
// several times and writes the same bytes each time (as long as attached
// files do not change). A message may hold temporary files (the output of
// attach_cmd): Close removes them.
type Message struct {
	From       string   // envelope sender: bare address
	Recipients []string // envelope recipients: To + Cc + Bcc bare addresses, de-duplicated, in order
	Settings   Settings // server settings carried by the template's front matter

	// The message header: head holds the fields before MIME-Version,
	// formatted; rootHeader the root entity's fields (Content-Type...),
	// which go-message writes after the MIME-Version field it adds.
	head       []byte
	rootHeader message.Header
	root       *part    // the root entity (its header fields are in header)
	text       []byte   // the text/plain part, CRLF line endings (nil without one)
	html       []byte   // the text/html part, CRLF line endings (nil without one)
	temps      []string // temporary files, removed by Close
	closed     bool
	noFiles    bool // tests: write file parts empty
}

// singleFields may appear only once in a message. Keys here and in
// builder.single are canonical names (textproto.CanonicalMIMEHeaderKey).
var singleFields = map[string]bool{
	"From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true,
	"Subject": true, "Date": true, "Message-Id": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true,
}

var addressFields = map[string]bool{"From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true}

// field is one expanded header field with where it came from.
type field struct {
	it     item
	values []string
}

// builder collects expanded header fields and settings.
type builder struct {
	t        *Template
	single   map[string]*field
	extra    []*field
	settings Settings
	body     string
}

func (b *builder) init(t *Template) {
	b.t = t
	b.single = map[string]*field{}
}

// valueError is an error about the k-th value of an item, placed at that
// value.
func (b *builder) valueError(it item, k int, format string, args ...any) *Error {
	line, col := it.line, it.col
	if k < len(it.pieces) {
		p := &b.t.pieces[it.pieces[k]]
		line, col = p.line, p.col
	}
	return &Error{File: b.t.name, Line: line, Col: col, Err: fmt.Errorf(it.key+": "+format, args...)}
}

func (b *builder) add(it item, values []string) error {
	for k, v := range values {
		if strings.ContainsAny(v, "\r\n") {
			return b.valueError(it, k, "value contains a line break (CR or LF): %q", shorten(v))
		}
		if hasControl(v) {
			return b.valueError(it, k, "value contains a control character: %q", shorten(v))
		}
	}
	if it.kind == itemSetting {
		v := strings.TrimSpace(values[0])
		switch it.name {
		case "server":
			b.settings.Server = v
		case "auth":
			b.settings.Auth = v
		case "user":
			b.settings.User = v
		case "password_env":
			b.settings.PasswordEnv = v
		case "profile":
			b.settings.Profile = v
		case "tls":
			switch strings.ToLower(v) {
			case "", "starttls", "implicit", "none":
				b.settings.TLS = strings.ToLower(v)
			default:
				return b.valueError(it, 0, "expected starttls, implicit or none, got %q", v)
			}
		}
		return nil
	}
	f := &field{it: it, values: values}
	if singleFields[it.name] {
		if prev := b.single[it.name]; prev != nil {
			return &Error{File: b.t.name, Line: it.line, Col: it.col,
				Err: fmt.Errorf("%s: %s is already set at line %d; give it once, in the front matter or in the header", it.key, fieldName(it.name), prev.it.line)}
		}
		b.single[it.name] = f
		return nil
	}
	b.extra = append(b.extra, f)
	return nil
}

// maxAddrCache bounds the parsed address fields a boundSet keeps.
const maxAddrCache = 64

// parseAddresses is parseAddresses, remembering the lists parsed by the
// expansions of this set: in a batch the From field, and often others, are
// the same for every message. The lists are only read, never changed.
func (x *expansion) parseAddresses(v string) ([]*mail.Address, error) {
	bs := x.set
	if list, ok := bs.addrs[v]; ok {
		return list, nil
	}
	list, err := parseAddresses(v)
	if err != nil {
		return nil, err
	}
	if bs.addrs == nil || len(bs.addrs) >= maxAddrCache {
		bs.addrs = make(map[string][]*mail.Address)
	}
	if len(v) <= 1024 {
		bs.addrs[v] = list
	}
	return list, nil
}

// given returns f when it has a non-blank value, else nil.
func given(f *field) *field {
	if vals, _ := nonEmpty(f); len(vals) > 0 {
		return f
	}
	return nil
}

// outName is the name a header field is written with: as the template
// spells it when it comes from the header section or from headers: in the
// front matter (f), else its conventional spelling (see fieldName). canon
// is the canonical name.
func outName(canon string, f *field) string {
	if f != nil && f.it.field != "" {
		return f.it.field
	}
	return fieldName(canon)
}

// nonEmpty returns the non-blank values of a field and their indexes.
func nonEmpty(f *field) (vals []string, idx []int) {
	if f == nil {
		return nil, nil
	}
	for k, v := range f.values {
		if v = strings.TrimSpace(v); v != "" {
			vals = append(vals, v)
			idx = append(idx, k)
		}
	}
	return vals, idx
}

func (b *builder) addresses(x *expansion, name string) ([]*mail.Address, error) {
	f := b.single[name]
	vals, idx := nonEmpty(f)
	var all []*mail.Address
	for i, v := range vals {
		list, err := x.parseAddresses(v)
		if err != nil {
			return nil, b.valueError(f.it, idx[i], "%v", err)
		}
		all = append(all, list...)
	}
	return all, nil
}

func (b *builder) finish(x *expansion) (*Message, error) {
	t := b.t
	m := &Message{Settings: b.settings}
	type kv struct {
		k, v string
		f    *field // where the value comes from, if from the template
	}
	var hdr []kv

	addrs := map[string][]*mail.Address{}
	for _, name := range []string{"From", "Sender", "To", "Cc", "Bcc", "Reply-To"} {
		list, err := b.addresses(x, name)
		if err != nil {
			return nil, err
		}
		addrs[name] = list
	}
	switch from := addrs["From"]; {
	case len(from) == 0:
		return nil, &Error{File: t.name, Line: 1, Col: 1, Err: errors.New("no From address: set from: in the front matter or a From: header")}
	case len(from) > 1 && len(addrs["Sender"]) == 0:
		f := b.single["From"]
		return nil, b.valueError(f.it, 0, "%d addresses; a message with several authors needs a Sender header", len(from))
	}
	if len(addrs["Sender"]) > 1 {
		return nil, b.valueError(b.single["Sender"].it, 0, "exactly one address expected")
	}
	if s := addrs["Sender"]; len(s) == 1 {
		m.From = s[0].Address
	} else {
		m.From = addrs["From"][0].Address
	}
	seen := map[string]bool{}
	for _, name := range []string{"To", "Cc", "Bcc"} {
		for _, a := range addrs[name] {
			key := strings.ToLower(a.Address)
			if !seen[key] {
				seen[key] = true
				m.Recipients = append(m.Recipients, a.Address)
			}
		}
	}
	if len(m.Recipients) == 0 {
		return nil, &Error{File: t.name, Line: 1, Col: 1, Err: errors.New("no recipient: set to:, cc: or bcc: in the front matter or a To:, Cc: or Bcc: header")}
	}
	for _, name := range []string{"From", "Sender", "To", "Cc", "Reply-To"} { // never Bcc
		if list := addrs[name]; len(list) > 0 {
			hdr = append(hdr, kv{outName(name, b.single[name]), formatAddressList(list), b.single[name]})
		}
	}

	if f := given(b.single["Subject"]); f != nil {
		vals, _ := nonEmpty(f)
		hdr = append(hdr, kv{outName("Subject", f), encodeText(vals[0]), f})
	}

	date := x.now
	dateField := given(b.single["Date"])
	if f := dateField; f != nil {
		vals, _ := nonEmpty(f)
		d, err := netmail.ParseDate(vals[0])
		if err != nil {
			return nil, b.valueError(f.it, 0, "invalid date %q: %v", vals[0], err)
		}
		date = d
	}
	dateValue := "" // as go-message's SetDate writes it
	if !date.IsZero() {
		dateValue = date.Format(rfc5322Date)
	}
	hdr = append(hdr, kv{outName("Date", dateField), dateValue, nil})

	msgID, err := b.messageID(x)
	if err != nil {
		return nil, err
	}
	if msgID != "" { // as go-message's SetMessageID writes it
		msgID = "<" + msgID + ">"
	}
	idField := given(b.single["Message-Id"])
	hdr = append(hdr, kv{outName("Message-Id", idField), msgID, idField})

	for _, f := range b.extra {
		vals, _ := nonEmpty(f)
		for _, v := range vals {
			hdr = append(hdr, kv{outName(f.it.name, f), encodeText(v), f})
		}
	}

	mimeField := given(b.single["Mime-Version"])
	if f := mimeField; f != nil {
		if vals, _ := nonEmpty(f); vals[0] != "1.0" {
			return nil, b.valueError(f.it, 0, "only MIME-Version 1.0 exists")
		}
	}
	hdr = append(hdr, kv{outName("Mime-Version", mimeField), "1.0", nil})

	// A Content-Transfer-Encoding from the template is ignored: the
	// encoding is chosen for each part.
	root, err := b.buildBody(x, m)
	if err != nil {
		return nil, err
	}
	m.root = root
	for _, f := range root.fields {
		hdr = append(hdr, kv{f[0], f[1], nil})
	}
	raws := make([]string, len(hdr))
	for i, h := range hdr {
		raw, ok := formatFieldChecked(h.k, h.v)
		if ok {
			raws[i] = raw
			continue
		}
		if h.f != nil {
			return nil, b.valueError(h.f.it, 0, "the %s header would have a line over 998 octets: it has a word too long to be folded (%q)", h.k, shorten(h.v))
		}
		return nil, &Error{File: t.name, Line: 1, Col: 1, Err: fmt.Errorf("the %s header would have a line over 998 octets (%q)", h.k, shorten(h.v))}
	}
	// The fields before MIME-Version are written as they are (m.head);
	// go-message writes MIME-Version and the root entity's fields (see
	// Message.write), also as formatted here: from the same buffer, with
	// Header.AddRaw, which keeps the names' spelling (Header.Add would
	// write Mime-Version).
	n := len(hdr) - len(root.fields) - 1
	size := 0
	for _, r := range raws {
		size += len(r)
	}
	buf := make([]byte, 0, size)
	for _, r := range raws[:n] {
		buf = append(buf, r...)
	}
	m.head = buf[:len(buf):len(buf)]
	ends := make([]int, 0, len(raws)-n)
	for _, r := range raws[n:] {
		buf = append(buf, r...)
		ends = append(ends, len(buf))
	}
	// go-message writes the field added last first: add in reverse.
	for i := len(ends) - 1; i >= 0; i-- {
		start := len(m.head)
		if i > 0 {
			start = ends[i-1]
		}
		m.rootHeader.AddRaw(buf[start:ends[i]:ends[i]])
	}
	m.keepTemps(x.mime.temps)
	x.mime.temps = nil
	return m, nil
}

func (b *builder) messageID(x *expansion) (string, error) {
	var scratch mail.Header
	check := func(id string) (string, error) {
		id = strings.TrimSpace(id)
		if !strings.HasPrefix(id, "<") {
			id = "<" + id + ">"
		}
		if hasControl(id) {
			return "", errors.New("contains a control character")
		}
		scratch.Set("Message-Id", id)
		return scratch.MessageID()
	}
	if f := b.single["Message-Id"]; f != nil {
		if vals, _ := nonEmpty(f); len(vals) > 0 {
			id, err := check(vals[0])
			if err != nil {
				return "", b.valueError(f.it, 0, "invalid Message-ID %q: %v", vals[0], err)
			}
			return id, nil
		}
	}
	if x.opts.MessageID != nil {
		v := x.opts.MessageID()
		id, err := check(v)
		if err != nil {
			return "", &Error{File: b.t.name, Err: fmt.Errorf("invalid Message-ID %q: %v", v, err)}
		}
		return id, nil
	}
	host := x.opts.Hostname
	if host == "" {
		host = hostname()
	}
	id, err := check(randomID() + "@" + host)
	if err != nil {
		id, _ = check(randomID() + "@localhost")
	}
	return id, nil
}

// hostname is os.Hostname, asked once: it does not change while a batch
// runs, and asking costs a system call or a file read per message.
var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// validBoundary checks a boundary against RFC 2046 section 5.1.1.
func validBoundary(s string) bool {
	if len(s) < 1 || len(s) > 70 || s[len(s)-1] == ' ' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("'()+_,-./:=? ", c)) {
			return false
		}
	}
	return true
}

// normalizeText turns every line ending (CRLF, LF or a lone CR) into CRLF,
// ends the text with one, and chooses the transfer encoding (see
// chooseEncoding).
func normalizeText(s string) ([]byte, string) {
	out := make([]byte, 0, len(s)+strings.Count(s, "\n")+2)
	for s != "" {
		j := strings.IndexByte(s, '\n')
		line := s
		if j >= 0 {
			line = s[:j]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1] // CRLF: one line break
			}
		}
		for { // every other CR is a line break of its own
			k := strings.IndexByte(line, '\r')
			if k < 0 {
				break
			}
			out = append(out, line[:k]...)
			out = append(out, '\r', '\n')
			line = line[k+1:]
		}
		out = append(out, line...)
		if j < 0 {
			break
		}
		out = append(out, '\r', '\n')
		s = s[j+1:]
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out, chooseEncoding(out)
}

// foldable reports whether go-message writes the field k: v with lines of at
// most 998 octets, folding only at white space: a word too long for that
// would be cut by an inserted line break and space, changing the value.
func foldable(k, v string) bool {
	_, ok := formatFieldChecked(k, v)
	return ok
}

// formatFieldChecked formats the header field k: v as go-message writes it
// (see formatField), but with the name k spelled as given (for
// Header.AddRaw, which writes it as it is), and reports
// whether that is possible with lines of at most 998 octets, folding only
// at white space (see foldable).
func formatFieldChecked(k, v string) (raw string, ok bool) {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < '!' || c > '~' || c == ':' {
			return "", false // go-message refuses to write it
		}
	}
	if strings.ContainsAny(v, "\r\n") {
		return "", false // go-message refuses to write it
	}
	if len(k) > 0 && len(k)+len(": ")+len(v) <= preferredHeaderLen {
		// go-message writes "k: v" on one line, unchanged.
		return k + ": " + v + "\r\n", true
	}
	defer func() {
		if recover() != nil {
			raw, ok = "", false
		}
	}()
	raw = formatField(k, v)
	out := raw
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(l) > maxHeaderLen {
			return "", false
		}
	}
	unfolded := unfoldReplacer.Replace(out)
	_, got, ok := strings.Cut(unfolded, ": ")
	if !ok || got != v+"\r\n" {
		return "", false
	}
	return raw, true
}

var unfoldReplacer = strings.NewReplacer("\r\n ", " ", "\r\n\t", "\t")

// The line lengths of go-message's header writer.
const (
	preferredHeaderLen = 76
	maxHeaderLen       = 998
)

// formatField returns the header field k: v with its CRLF exactly as
// go-message's textproto.WriteHeader writes it (except that go-message
// would write k in canonical form, Message-Id for Message-ID): folded at white
// space before 76 octets when possible, else before 998, else cut. It is
// that code (formatHeaderField and foldLine), in linear time: go-message's
// grows the result one line at a time, which takes seconds for a value of a
// megabyte. TestFormatFieldMatchesGoMessage compares the two.
func formatField(k, v string) string {
	var b strings.Builder
	b.Grow(len(k) + 4 + len(v) + len(v)/32)
	b.WriteString(k)
	b.WriteString(": ")
	if v == "" {
		b.WriteString("\r\n")
		return b.String()
	}
	first := true
	for len(v) > 0 {
		keylen := 0
		if first {
			keylen = len(k) + len(": ")
		}
		l, folding, next, ok := foldLine(v, preferredHeaderLen-keylen)
		if !ok {
			l, folding, next, _ = foldLine(v, maxHeaderLen-keylen)
		}
		b.WriteString(l)
		b.WriteString(folding)
		v = next
		first = false
	}
	return b.String()
}

// foldLine is go-message's foldLine, returning the line and the folding to
// append to it separately.
func foldLine(v string, maxlen int) (line, folding, next string, ok bool) {
	ok = true
	foldBefore := maxlen + 1
	foldAt := len(v)
	if foldBefore > len(v) {
		if v[len(v)-1] != '\n' {
			folding = "\r\n"
		}
	} else {
		foldAt = strings.LastIndexAny(v[:foldBefore], " \t\n")
		if foldAt == 0 {
			foldAt = foldBefore - 1
		} else if foldAt < 0 {
			foldAt = foldBefore - 2
		}
		switch v[foldAt] {
		case ' ', '\t':
			if v[foldAt-1] != '\n' {
				folding = "\r\n"
			}
		case '\n':
			folding = ""
		default:
			folding = "\r\n "
			ok = false
		}
	}
	return v[:foldAt], folding, v[foldAt:], ok
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// maxWordLen bounds the RFC 2047 encoded words this package writes, so that
// a header field can be folded at 78 characters between words (go-message
// folds only at white space, and mime.QEncoding makes words of up to 75).
const maxWordLen = 40

// encodeText encodes non-ASCII header text as short RFC 2047 Q-encoded words
// separated by spaces (the spaces between encoded words are not part of the
// decoded text). ASCII text is returned as it is.
func encodeText(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	const prefix, suffix = "=?utf-8?q?", "?="
	var b strings.Builder
	word := 0 // length of the current encoded text
	open := false
	for _, r := range s {
		var buf [4]byte
		enc := string(r)
		if r >= 0x80 || r == utf8RuneError {
			n := copy(buf[:], string(r))
			var e strings.Builder
			for _, c := range buf[:n] {
				fmt.Fprintf(&e, "=%02X", c)
			}
			enc = e.String()
		} else if r == ' ' {
			enc = "_"
		} else if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!*+-/", r)) {
			enc = fmt.Sprintf("=%02X", r)
		}
		if open && len(prefix)+word+len(enc)+len(suffix) > maxWordLen {
			b.WriteString(suffix)
			b.WriteByte(' ')
			open = false
		}
		if !open {
			b.WriteString(prefix)
			word = 0
			open = true
		}
		b.WriteString(enc)
		word += len(enc)
	}
	b.WriteString(suffix)
	return b.String()
}

const utf8RuneError = '\uFFFD'

// formatAddressList formats addresses for a header: display names that are
// not ASCII are encoded with encodeText, the rest is formatted by net/mail
// (through go-message's SetAddressList).
func formatAddressList(list []*mail.Address) string {
	if len(list) == 1 {
		return formatAddress(list[0])
	}
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = formatAddress(a)
	}
	return strings.Join(parts, ", ")
}

// formatAddress formats one address as formatAddressList does (what
// go-message's SetAddressList writes for it).
func formatAddress(a *mail.Address) string {
	if name := encodeText(a.Name); name != a.Name {
		return name + " " + (&mail.Address{Address: a.Address}).String()
	}
	return a.String()
}
