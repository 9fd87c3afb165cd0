package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"os"
	"slices"
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
	rootRaw    []byte   // a single text part's fields, formatted (see writeLeaf); then rootHeader is empty
	root       *part    // the root entity (its header fields are in header)
	text       []byte   // the text/plain part, CRLF line endings (nil without one)
	html       []byte   // the text/html part, CRLF line endings (nil without one)
	temps      []string // temporary files, removed by Close
	closed     bool
	noFiles    bool // tests: write file parts empty
}

// The fields that may appear only once in a message, as indexes into
// builder.single; the address fields first, in the order of singleNames.
const (
	sFrom = iota
	sSender
	sTo
	sCc
	sBcc
	sReplyTo
	sSubject
	sDate
	sMessageID
	sMimeVersion
	sContentType
	sContentTransferEncoding
	nSingle
	nAddressFields = sReplyTo + 1
)

// singleNames are the names of the fields that may appear only once in a
// message, by index (sFrom...), in canonical form
// (textproto.CanonicalMIMEHeaderKey).
var singleNames = [nSingle]string{
	"From", "Sender", "To", "Cc", "Bcc", "Reply-To",
	"Subject", "Date", "Message-Id", "Mime-Version",
	"Content-Type", "Content-Transfer-Encoding",
}

// singleFields maps the canonical name of each field of singleNames to its
// index.
var singleFields = func() map[string]int {
	m := make(map[string]int, nSingle)
	for i, name := range singleNames {
		m[name] = i
	}
	return m
}()

var addressFields = map[string]bool{"From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true}

// field is one expanded header field with where it came from.
type field struct {
	it     *item // in Template.items
	values []string
}

// builder collects expanded header fields and settings.
type builder struct {
	t        *Template
	single   [nSingle]*field // by index (sFrom...)
	extra    []*field
	settings Settings
	body     string
	fields   []field // where the fields of single and extra are kept (see add)

	// The body normalized (see bodyPart), when bodyDone.
	bodyText []byte
	bodyCTE  string
	bodyDone bool
}

// init prepares b for the items of t, with fields as the array of its
// fields when it is large enough.
func (b *builder) init(t *Template, fields []field) {
	b.t = t
	// One array for every field: add never grows fields beyond its
	// capacity, so that the pointers into it stay valid.
	b.fields = fields[:0]
	if cap(fields) < len(t.items) {
		b.fields = make([]field, 0, len(t.items))
	}
}

// valueError is an error about the k-th value of an item, placed at that
// value.
func (b *builder) valueError(it *item, k int, format string, args ...any) *Error {
	line, col := it.line, it.col
	if k < len(it.pieces) {
		p := &b.t.pieces[it.pieces[k]]
		line, col = p.line, p.col
	}
	return &Error{File: b.t.name, Line: line, Col: col, Err: fmt.Errorf(it.key+": "+format, args...)}
}

func (b *builder) add(it *item, values []string) error {
	for k, v := range values {
		if hasLineBreak(v) {
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
	var f *field
	if len(b.fields) < cap(b.fields) {
		b.fields = append(b.fields, field{it: it, values: values})
		f = &b.fields[len(b.fields)-1]
	} else {
		f = &field{it: it, values: values} // cannot happen: one field per item
	}
	if i, ok := singleFields[it.name]; ok {
		if prev := b.single[i]; prev != nil {
			return &Error{File: b.t.name, Line: it.line, Col: it.col,
				Err: fmt.Errorf("%s: %s is already set at line %d; give it once, in the front matter or in the header", it.key, fieldName(it.name), prev.it.line)}
		}
		b.single[i] = f
		return nil
	}
	b.extra = append(b.extra, f)
	return nil
}

// maxAddrCache bounds the parsed address fields a boundSet keeps.
const maxAddrCache = 64

// parsedAddrs is an address field value parsed (see parseAddresses) and
// the list formatted for the header (see formatAddressList).
type parsedAddrs struct {
	list []*mail.Address
	text string
}

// parseAddresses is parseAddresses, remembering the lists parsed by the
// expansions of this set: in a batch the From field, and often others, are
// the same for every message. The lists are only read, never changed. It
// also returns the list formatted by formatAddressList.
func (x *expansion) parseAddresses(v string) ([]*mail.Address, string, error) {
	bs := x.set
	if p, ok := bs.addrs[v]; ok {
		return p.list, p.text, nil
	}
	for _, a := range x.addrs {
		if a.text == v {
			// What {{addr}} printed and parsed: the checks of
			// parseAddresses only.
			list, err := checkAddresses(v, a.list)
			if err != nil {
				return nil, "", err
			}
			// net/mail formats an address with an ASCII display name as
			// addr printed it.
			text := ""
			if isASCII(list[0].Name) {
				text = v
			}
			return list, text, nil
		}
	}
	list, err := parseAddresses(v)
	if err != nil {
		return nil, "", err
	}
	text := formatAddressList(list)
	if bs.addrs == nil || len(bs.addrs) >= maxAddrCache {
		bs.addrs = make(map[string]parsedAddrs)
	}
	if len(v) <= 1024 {
		bs.addrs[v] = parsedAddrs{list, text}
	}
	return list, text, nil
}

// given returns f when it has a non-blank value, else nil.
func given(f *field) *field {
	if firstNonEmpty(f) != "" {
		return f
	}
	return nil
}

// firstNonEmpty returns the first non-blank value of a field, trimmed, or
// "".
func firstNonEmpty(f *field) string {
	if f == nil {
		return ""
	}
	for _, v := range f.values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
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

// singleOutName is outName for the field singleNames[i].
func singleOutName(i int, f *field) string {
	if f != nil && f.it.field != "" {
		return f.it.field
	}
	return singleFieldNames[i]
}

// singleFieldNames are the conventional spellings of singleNames (see
// fieldName).
var singleFieldNames = func() (names [nSingle]string) {
	for i, name := range singleNames {
		names[i] = fieldName(name)
	}
	return names
}()

// addresses parses the addresses of the field single[i]: the address
// lists of its non-blank values, in order, and the list formatted for the
// header (formatAddressList), or "" when not known yet.
func (b *builder) addresses(x *expansion, i int) ([]*mail.Address, string, error) {
	f := b.single[i]
	if f == nil {
		return nil, "", nil
	}
	var all []*mail.Address
	text := ""
	for k, v := range f.values {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		list, t, err := x.parseAddresses(v)
		if err != nil {
			return nil, "", b.valueError(f.it, k, "%v", err)
		}
		if all == nil {
			all = list[:len(list):len(list)] // shared, read only: an append copies it
			text = t
			continue
		}
		all = append(all, list...)
		text = ""
	}
	return all, text, nil
}

func (b *builder) finish(x *expansion) (*Message, error) {
	t := b.t
	m := &Message{Settings: b.settings}
	type kv struct {
		k, v string
		f    *field // where the value comes from, if from the template
	}
	var hdrBuf [16]kv
	hdr := hdrBuf[:0]

	var addrs [nAddressFields][]*mail.Address // by index (sFrom...)
	var addrTexts [nAddressFields]string      // formatAddressList(addrs[i]), when known
	for i := range addrs {
		list, text, err := b.addresses(x, i)
		if err != nil {
			return nil, err
		}
		addrs[i], addrTexts[i] = list, text
	}
	switch from := addrs[sFrom]; {
	case len(from) == 0:
		return nil, &Error{File: t.name, Line: 1, Col: 1, Err: errors.New("no From address: set from: in the front matter or a From: header")}
	case len(from) > 1 && len(addrs[sSender]) == 0:
		f := b.single[sFrom]
		return nil, b.valueError(f.it, 0, "%d addresses; a message with several authors needs a Sender header", len(from))
	}
	if len(addrs[sSender]) > 1 {
		return nil, b.valueError(b.single[sSender].it, 0, "exactly one address expected")
	}
	if s := addrs[sSender]; len(s) == 1 {
		m.From = s[0].Address
	} else {
		m.From = addrs[sFrom][0].Address
	}
	m.Recipients = recipients(addrs[sTo], addrs[sCc], addrs[sBcc])
	if len(m.Recipients) == 0 {
		return nil, &Error{File: t.name, Line: 1, Col: 1, Err: errors.New("no recipient: set to:, cc: or bcc: in the front matter or a To:, Cc: or Bcc: header")}
	}
	for _, i := range [...]int{sFrom, sSender, sTo, sCc, sReplyTo} { // never Bcc
		if list := addrs[i]; len(list) > 0 {
			text := addrTexts[i]
			if text == "" {
				text = formatAddressList(list)
			}
			f := b.single[i]
			hdr = append(hdr, kv{singleOutName(i, f), text, f})
		}
	}

	if f := given(b.single[sSubject]); f != nil {
		hdr = append(hdr, kv{singleOutName(sSubject, f), encodeText(firstNonEmpty(f)), f})
	}

	date := x.now
	dateField := given(b.single[sDate])
	if f := dateField; f != nil {
		v := firstNonEmpty(f)
		d, err := netmail.ParseDate(v)
		if err != nil {
			return nil, b.valueError(f.it, 0, "invalid date %q: %v", v, err)
		}
		date = d
	}
	dateValue := "" // as go-message's SetDate writes it
	if !date.IsZero() {
		dateValue = x.set.formatDate(date)
	}
	hdr = append(hdr, kv{singleOutName(sDate, dateField), dateValue, nil})

	msgID, err := b.messageID(x)
	if err != nil {
		return nil, err
	}
	idField := given(b.single[sMessageID])
	hdr = append(hdr, kv{singleOutName(sMessageID, idField), msgID, idField})

	for _, f := range b.extra {
		for _, v := range f.values {
			if v = strings.TrimSpace(v); v != "" {
				hdr = append(hdr, kv{outName(f.it.name, f), encodeText(v), f})
			}
		}
	}

	mimeField := given(b.single[sMimeVersion])
	if f := mimeField; f != nil {
		if firstNonEmpty(f) != "1.0" {
			return nil, b.valueError(f.it, 0, "only MIME-Version 1.0 exists")
		}
	}
	hdr = append(hdr, kv{singleOutName(sMimeVersion, mimeField), "1.0", nil})

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
	// The fields before MIME-Version are written as they are (m.head);
	// go-message writes MIME-Version and the root entity's fields (see
	// Message.write), also as formatted here: from the same buffer, with
	// Header.AddRaw, which keeps the names' spelling (Header.Add would
	// write Mime-Version). A message of one text part writes them itself
	// (m.rootRaw, see writeLeaf).
	n := len(hdr) - len(root.fields) - 1
	size := 0
	for _, h := range hdr {
		size += len(h.k) + len(": ") + len(h.v) + len("\r\n")
	}
	buf := make([]byte, 0, size+size/16) // room for some folding
	headEnd := 0
	var endBuf [8]int
	ends := endBuf[:0] // where each field from MIME-Version on ends in buf
	for i, h := range hdr {
		var ok bool
		if buf, ok = appendFieldChecked(buf, h.k, h.v); !ok {
			if h.f != nil {
				return nil, b.valueError(h.f.it, 0, "the %s header would have a line over 998 octets: it has a word too long to be folded (%q)", h.k, shorten(h.v))
			}
			return nil, &Error{File: t.name, Line: 1, Col: 1, Err: fmt.Errorf("the %s header would have a line over 998 octets (%q)", h.k, shorten(h.v))}
		}
		if i < n {
			headEnd = len(buf)
		} else {
			ends = append(ends, len(buf))
		}
	}
	m.head = buf[:headEnd:headEnd]
	if root.verbatim || root.qp {
		m.rootRaw = buf[headEnd:]
	} else {
		// go-message writes the field added last first: add in reverse.
		for i := len(ends) - 1; i >= 0; i-- {
			start := headEnd
			if i > 0 {
				start = ends[i-1]
			}
			m.rootHeader.AddRaw(buf[start:ends[i]:ends[i]])
		}
	}
	m.keepTemps(x.mime.temps)
	x.mime.temps = nil
	return m, nil
}

// recipients returns the envelope recipients: the addresses of to, cc and
// bcc, in order, without the repetitions of an address (compared in lower
// case).
func recipients(to, cc, bcc []*mail.Address) []string {
	n := len(to) + len(cc) + len(bcc)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	var keyBuf [8]string
	keys := keyBuf[:0] // the lower-case addresses in out, when few
	var seen map[string]bool
	if n > len(keyBuf) {
		seen = make(map[string]bool, n)
	}
	for _, list := range [...][]*mail.Address{to, cc, bcc} {
		for _, a := range list {
			key := strings.ToLower(a.Address)
			if seen != nil {
				if seen[key] {
					continue
				}
				seen[key] = true
			} else {
				if slices.Contains(keys, key) {
					continue
				}
				keys = append(keys, key)
			}
			out = append(out, a.Address)
		}
	}
	return out
}

// messageID returns the value of the Message-ID field, "<id>", as
// go-message's SetMessageID writes the id that its MessageID parses.
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
		if _, ok := simpleMsgID(id); ok {
			return id, nil // "<" + the id parsed + ">"
		}
		scratch.Set("Message-Id", id)
		v, err := scratch.MessageID()
		if v != "" {
			v = "<" + v + ">"
		}
		return v, err
	}
	if f := b.single[sMessageID]; f != nil {
		if v := firstNonEmpty(f); v != "" {
			id, err := check(v)
			if err != nil {
				return "", b.valueError(f.it, 0, "invalid Message-ID %q: %v", v, err)
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

// simpleMsgID returns what go-message's Header.MessageID returns for the
// field value id when id is "<left@right>" with left and right made of
// ASCII atext and dots only (as random and batch Message-IDs are): the
// text between the brackets. Other values are for go-message to parse:
// ok is false.
func simpleMsgID(id string) (v string, ok bool) {
	if len(id) < 2 || id[0] != '<' || id[len(id)-1] != '>' {
		return "", false
	}
	v = id[1 : len(id)-1]
	at := strings.IndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if i != at && !msgIDText(v[i]) {
			return "", false
		}
	}
	return v, true
}

// msgIDText reports whether go-message's msg-id parser takes c as part of
// an atom with dots (isAtext(c, true) there), for ASCII c.
func msgIDText(c byte) bool {
	switch c {
	case '(', ')', '[', ']', ';', '@', '\\', ',', '<', '>', '"', ':':
		return false
	}
	return '!' <= c && c <= '~'
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
// ends the text with one, and chooses the transfer encoding as
// chooseEncoding would for the result, looking at each line as it is
// copied.
//
// The result is in a buffer of getTextBuf, which Message.Close gives back.
func normalizeText(s []byte) ([]byte, string) {
	out := getTextBuf(len(s) + bytes.Count(s, []byte("\n")) + 2)
	var enc textStats
	cr := bytes.IndexByte(s, '\r') >= 0 // else no line needs looking for one
	for len(s) > 0 {
		j := bytes.IndexByte(s, '\n')
		line := s
		if j >= 0 {
			line = s[:j]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1] // CRLF: one line break
			}
		}
		for cr { // every other CR is a line break of its own
			k := bytes.IndexByte(line, '\r')
			if k < 0 {
				break
			}
			enc.line(line[:k])
			out = append(out, line[:k]...)
			out = append(out, '\r', '\n')
			line = line[k+1:]
		}
		enc.line(line)
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
	return out, enc.encoding(len(out))
}

// textBufSizes are the capacities of the buffers of text parts kept for
// later messages (see getTextBuf): some of the size classes of Go's memory
// allocator, so that a buffer made with one of these capacities takes
// little or no more memory than one made for the exact size.
var textBufSizes = [...]int{
	512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 2688, 3072, 3456, 4096,
	4864, 5376, 6144, 6784, 8192, 9472, 10240, 12288, 13568, 14336, 16384,
	18432, 20480, 21760, 24576, 27264, 28672, 32768,
}

// textBufs hold the buffers of text parts given back by Message.Close, by
// capacity (textBufSizes).
var textBufs [len(textBufSizes)]sync.Pool

// getTextBuf returns an empty buffer for at least n bytes: one given back
// by putTextBuf, or a new one (of the least size of textBufSizes that
// holds n bytes, when one does).
func getTextBuf(n int) []byte {
	i, _ := slices.BinarySearch(textBufSizes[:], n)
	if i == len(textBufSizes) {
		return make([]byte, 0, n)
	}
	if b, ok := textBufs[i].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, textBufSizes[i])
}

// putTextBuf keeps b, which nothing uses any more, for getTextBuf.
func putTextBuf(b []byte) {
	if i, ok := slices.BinarySearch(textBufSizes[:], cap(b)); ok {
		textBufs[i].Put(&b)
	}
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
	if !writableFieldName(k) {
		return "", false // go-message refuses to write it
	}
	if hasLineBreak(v) {
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

// appendFieldChecked appends the field k: v to dst as formatFieldChecked
// formats it, and reports whether it could.
func appendFieldChecked(dst []byte, k, v string) ([]byte, bool) {
	if len(k) > 0 && len(k)+len(": ")+len(v) <= preferredHeaderLen && writableFieldName(k) && !hasLineBreak(v) {
		// formatFieldChecked's "k: v" on one line, without building it.
		dst = append(dst, k...)
		dst = append(dst, ": "...)
		dst = append(dst, v...)
		return append(dst, "\r\n"...), true
	}
	raw, ok := formatFieldChecked(k, v)
	if !ok {
		return dst, false
	}
	return append(dst, raw...), true
}

// writableFieldName reports whether go-message writes a field named k
// (see formatFieldChecked): k has no character outside printable US-ASCII
// and no colon.
func writableFieldName(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < '!' || c > '~' || c == ':' {
			return false
		}
	}
	return true
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// formatAddress formats one address as formatAddressList does (what
// go-message's SetAddressList writes for it).
func formatAddress(a *mail.Address) string {
	if name := encodeText(a.Name); name != a.Name {
		return name + " " + (&mail.Address{Address: a.Address}).String()
	}
	return a.String()
}
