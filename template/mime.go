package template

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/template"

	htmltemplate "html/template"

	"github.com/emersion/go-message"
)

// The MIME structure of a message (RFC 2045, 2046, 2387):
//
//	text only                  text/plain
//	HTML only                  text/html
//	text and HTML              multipart/alternative (text/plain, text/html)
//	HTML with inline images    multipart/related (text/html, image...)
//	attachments                multipart/mixed (body, attachment...)
//
// nested as needed, the richest being
//
//	multipart/mixed
//	    multipart/alternative
//	        text/plain
//	        multipart/related
//	            text/html
//	            image/png (Content-ID)
//	    application/pdf (attachment)

// Body formats, from the template's Content-Type field.
const (
	formatText     = "text/plain"
	formatHTML     = "text/html"
	formatMarkdown = "text/markdown"
)

// mimeState is what an expansion collects for the MIME structure, besides
// the attachments.
type mimeState struct {
	format  string                 // the body's format, known when the body is expanded
	define  bool                   // the template defines an HTML part (known with format)
	inlines []attachment           // files of multipart/related, referenced by Content-ID
	temps   []string               // temporary files (attach_cmd output)
	html    *htmltemplate.Template // the HTML template set, built on first use (see htmlTemplates)
}

var errNoHTMLPart = errors.New(`the message has no HTML part to show inline images (use Content-Type: text/html, text/markdown or {{define "html"}}; or attach the file with "disposition=inline")`)

// part is one MIME entity: a leaf with its content in memory (text) or in a
// file (attachments, inline images), or a multipart entity.
type part struct {
	fields   [][2]string // header fields, in the order written
	body     []byte      // a text leaf's content, CRLF line endings
	verbatim bool        // a text leaf in 7bit: body is written as it is (see normalizeText)
	qp       bool        // a text leaf in quoted-printable
	file     string      // a file leaf's content
	root     string      // the include root the file is read from, "" when not confined
	rel      string      // the file's path inside root
	children []*part     // a multipart entity's parts
}

// header returns the part's header fields for go-message, with their names
// spelled as in p.fields. go-message writes a field added with Header.Add
// with its name in canonical form (Content-Id): a field whose name is not
// canonical (Content-ID) is added formatted, with Header.AddRaw, which
// go-message writes as it is.
func (p *part) header() message.Header {
	var h message.Header
	// go-message writes the field added last first: add in reverse.
	for i := len(p.fields) - 1; i >= 0; i-- {
		k, v := p.fields[i][0], p.fields[i][1]
		if k != textproto.CanonicalMIMEHeaderKey(k) {
			if raw, ok := formatFieldChecked(k, v); ok {
				h.AddRaw([]byte(raw))
				continue
			}
		}
		h.Add(k, v) // go-message folds it as it can, or reports the error
	}
	return h
}

// addMIMEFuncs adds the MIME directives (besides attach), bound to b.
func (b *binding) addMIMEFuncs(m map[string]any) {
	m["inline"] = func(path string, opts ...string) (htmltemplate.URL, error) { return b.x.inline(path, opts...) }
	m["attach_cmd"] = func(command string, opts ...string) (string, error) { return b.x.attachCmd(command, opts...) }
}

// bodyFormat returns the format of the body given by the template's
// Content-Type field: text/plain (the default), text/html or
// text/markdown.
func (b *builder) bodyFormat() (string, error) {
	f := b.single[sContentType]
	v := firstNonEmpty(f)
	if v == "" {
		return formatText, nil
	}
	mt, _, err := mime.ParseMediaType(v)
	switch {
	case err != nil:
	case mt == formatText, mt == formatHTML, mt == formatMarkdown:
		return mt, nil
	case mt == "text/x-markdown":
		return formatMarkdown, nil
	}
	return "", b.valueError(f.it, 0, "%q: the body may be text/plain, text/html or text/markdown (mailscript writes the MIME structure and charset itself)", v)
}

// execPiece executes one piece of the template: the body of a text/html
// template with html/template (values are escaped for their HTML context),
// everything else with text/template.
//
// A piece with a fast program (see fastProg) is run by it when it can be;
// the output then goes to x.out directly, bounded as w would bound it.
func (x *expansion) execPiece(tt *template.Template, b *builder, it *item, p *piece, w *limitedWriter) error {
	if it.kind == itemBody {
		format, err := b.bodyFormat()
		if err != nil {
			return err
		}
		x.mime.format, x.mime.define = format, x.t.hasHTMLDefine()
		if format == formatHTML {
			return x.execHTML(p.name, w)
		}
	}
	if p.fast != nil && x.out != nil && w.w == io.Writer(x.out) {
		start := x.out.Len()
		if x.execFast(p.fast, x.out, w.n) {
			w.n -= x.out.Len() - start
			return nil
		}
	}
	return tt.Execute(w, x.vals)
}

// htmlDefine is the name of the template that holds the HTML part of a
// text/plain template: {{define "html"}}...{{end}}.
const htmlDefine = "html"

// hasHTMLDefine reports whether the template defines an HTML part.
func (t *Template) hasHTMLDefine() bool {
	d := t.set.Lookup(htmlDefine)
	return d != nil && d.Tree != nil
}

// hasHTML reports whether the message will have an HTML part, once the
// body's format is known.
func (x *expansion) hasHTML() (has, known bool) {
	switch x.mime.format {
	case "":
		return false, false
	case formatText:
		return x.mime.define, true
	}
	return true, true
}

// cleanup removes the temporary files of a failed expansion.
func (x *expansion) cleanup() {
	removeFiles(x.mime.temps)
	x.mime.temps = nil
}

func removeFiles(paths []string) {
	for _, p := range paths {
		os.Remove(p)
	}
}

// buildBody expands what follows the body (the HTML part, Markdown) and
// builds the MIME structure. It returns the root entity, whose header
// fields belong to the message header.
func (b *builder) buildBody(x *expansion, m *Message) (*part, error) {
	t := b.t
	format, err := b.bodyFormat()
	if err != nil {
		return nil, err
	}
	x.mime.format = format
	var text, html *part
	switch format {
	case formatText:
		if t.hasHTMLDefine() {
			var buf bytes.Buffer
			w := &limitedWriter{w: &buf, n: maxPieceOutput}
			if err := x.execHTML(htmlDefine, w); err != nil {
				if w.n < 0 {
					l, c := t.definePos(htmlDefine)
					return nil, &Error{File: t.name, Line: l, Col: c, Err: fmt.Errorf("output exceeds %d MiB", maxPieceOutput>>20)}
				}
				return nil, t.convertError(err)
			}
			html = textPart(formatHTML, buf.Bytes())
			if strings.TrimSpace(b.body) == "" {
				break // HTML only
			}
		}
		text = b.bodyPart(formatText)
	case formatHTML:
		if t.hasHTMLDefine() {
			l, c := t.definePos(htmlDefine)
			return nil, t.errorf(l, c, "define: an HTML part is defined, but the body is already HTML (Content-Type: text/html)")
		}
		html = b.bodyPart(formatHTML)
	case formatMarkdown:
		if t.hasHTMLDefine() {
			l, c := t.definePos(htmlDefine)
			return nil, t.errorf(l, c, "define: an HTML part is defined, but the body is Markdown and makes its own (Content-Type: text/markdown)")
		}
		text = b.bodyPart(formatText)
		out, err := renderMarkdown(b.body)
		if err != nil {
			return nil, &Error{File: t.name, Line: b.bodyLine(), Col: 1, Err: fmt.Errorf("markdown: %v", err)}
		}
		html = textPart(formatHTML, out)
	}
	if text != nil {
		m.text = text.body
	}
	if html != nil {
		m.html = html.body
	}

	boundary := func() (string, error) {
		s := ""
		if x.opts.Boundary != nil {
			s = x.opts.Boundary()
		}
		if !validBoundary(s) {
			if s != "" {
				return "", &Error{File: t.name, Err: fmt.Errorf("invalid MIME boundary %q", s)}
			}
			s = randomBoundary()
		}
		return s, nil
	}
	multipart := func(subtype string, params map[string]string, children ...*part) (*part, error) {
		s, err := boundary()
		if err != nil {
			return nil, err
		}
		p := map[string]string{"boundary": s}
		for k, v := range params {
			p[k] = v
		}
		return &part{fields: [][2]string{{"Content-Type", formatMediaType("multipart/"+subtype, p)}}, children: children}, nil
	}

	// Boundaries are drawn from the outside in.
	var mixed, alt, related *part
	if len(x.attachments) > 0 {
		if mixed, err = multipart("mixed", nil); err != nil {
			return nil, err
		}
	}
	if text != nil && html != nil {
		if alt, err = multipart("alternative", nil, text); err != nil {
			return nil, err
		}
	}
	if len(x.mime.inlines) > 0 {
		if html == nil {
			return nil, &Error{File: t.name, Line: b.bodyLine(), Col: 1, Directive: "inline", Err: errNoHTMLPart}
		}
		if related, err = multipart("related", map[string]string{"type": formatHTML}, html); err != nil {
			return nil, err
		}
		for _, a := range x.mime.inlines {
			related.children = append(related.children, filePart(a))
		}
		html = related
	}
	root := text
	if html != nil {
		root = html
	}
	if alt != nil {
		alt.children = append(alt.children, html)
		root = alt
	}
	if mixed != nil {
		mixed.children = append(mixed.children, root)
		for _, a := range x.attachments {
			mixed.children = append(mixed.children, filePart(a))
		}
		root = mixed
	}
	return root, nil
}

// definePos returns the position of {{define "name"}}.
func (t *Template) definePos(name string) (int, int) {
	d := t.set.Lookup(name)
	if d == nil || d.Tree == nil {
		return 1, 1
	}
	p := t.pieceNamed(d.Tree.ParseName)
	if p == nil {
		return 1, 1
	}
	// The define's text starts after `{{define "name"}}`: point at its
	// first directive keyword instead.
	src := p.src
	at := strings.Index(src, `define "`+name+`"`)
	if at < 0 {
		at = strings.Index(src, "define")
	}
	if at < 0 {
		return p.line, p.col
	}
	return p.posAt(at)
}

// bodyLine returns the file line where the body starts.
func (b *builder) bodyLine() int {
	for _, it := range b.t.items {
		if it.kind == itemBody {
			return it.line
		}
	}
	return 1
}

// textPart makes a text/plain or text/html part of UTF-8 text, with CRLF
// line endings and its transfer encoding.
func textPart(mediaType string, s []byte) *part {
	body, cte := normalizeText(s)
	return newTextPart(mediaType, body, cte)
}

// bodyPart makes the part of the body (see textPart), of the text
// normalized as the body was expanded when it was (see expansion.run).
func (b *builder) bodyPart(mediaType string) *part {
	if !b.bodyDone {
		b.bodyText, b.bodyCTE = normalizeText([]byte(b.body))
		b.bodyDone = true
	}
	return newTextPart(mediaType, b.bodyText, b.bodyCTE)
}

// newTextPart makes a text part of body, normalized by normalizeText
// (which chose cte).
func newTextPart(mediaType string, body []byte, cte string) *part {
	ct, ok := textTypes[mediaType]
	if !ok {
		ct = formatMediaType(mediaType, map[string]string{"charset": "utf-8"})
	}
	// The part and its fields in one allocation.
	p := &struct {
		part
		fields [2][2]string
	}{fields: [2][2]string{{"Content-Type", ct}, {"Content-Transfer-Encoding", cte}}}
	p.part.fields, p.body = p.fields[:], body
	p.verbatim, p.qp = cte == "7bit", cte == "quoted-printable"
	return &p.part
}

// textTypes are the Content-Type values of textPart, formatted once.
var textTypes = map[string]string{
	formatText: formatMediaType(formatText, map[string]string{"charset": "utf-8"}),
	formatHTML: formatMediaType(formatHTML, map[string]string{"charset": "utf-8"}),
}

// filePart makes the part of an attachment or inline file.
func filePart(a attachment) *part {
	ct, disp := attachmentHeader(a)
	p := &part{file: a.path, root: a.root, rel: a.rel, fields: [][2]string{{"Content-Type", ct}, {"Content-Disposition", disp}}}
	if a.contentID != "" {
		p.fields = append(p.fields, [2]string{"Content-ID", a.contentID})
	}
	p.fields = append(p.fields, [2]string{"Content-Transfer-Encoding", "base64"})
	return p
}

// attachmentHeader returns the Content-Type and Content-Disposition of an
// attachment's part.
func attachmentHeader(a attachment) (ct, disp string) {
	mt, params, err := mime.ParseMediaType(attachmentType(a.contentType))
	if err != nil {
		mt, params = "application/octet-stream", map[string]string{}
	}
	params["name"] = a.filename
	ct = formatMediaType(mt, params)
	if ct == "" {
		ct = mt
	}
	d := "attachment"
	if a.inline {
		d = "inline"
	}
	disp = formatMediaType(d, map[string]string{"filename": a.filename})
	if disp == "" {
		disp = d
	}
	return ct, disp
}

// formatMediaType is mime.FormatMediaType (the value of a Content-Type or
// Content-Disposition field: "type/subtype; name=value..."), except that a
// parameter value holding "*", "'" or "%" is always a quoted string:
// filename="we*ird.txt", never filename=we*ird.txt. RFC 2045 allows those
// characters in a bare token, but they are the syntax of RFC 2231's
// extended parameters (filename*=..., filename*0=..., values such as
// utf-8'en'a%20b), and readers that decode parameters loosely may take
// such a token for one. go-message and Go's mime package (which go-message
// uses to write and read parameters) read both forms alike. Values that are
// not ASCII are encoded per RFC 2231 as mime.FormatMediaType does (those
// characters percent-encoded). It returns "" when t or a parameter name is
// not a valid token.
func formatMediaType(t string, params map[string]string) string {
	risky := false
	for _, v := range params {
		if strings.ContainsAny(v, rfc2231Chars) {
			risky = true
			break
		}
	}
	if !risky {
		return mime.FormatMediaType(t, params)
	}
	head := mime.FormatMediaType(t, nil)
	if head == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(head)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		p := mime.FormatMediaType(t, map[string]string{k: v})
		if p == "" {
			return ""
		}
		p = p[len(head):] // "; name=value"
		if strings.ContainsAny(v, rfc2231Chars) && strings.HasSuffix(p, "="+v) {
			// A bare token (so without '"' or '\'): quote it.
			p = p[:len(p)-len(v)] + `"` + v + `"`
		}
		b.WriteString(p)
	}
	return b.String()
}

// rfc2231Chars are the characters of RFC 2231's parameter syntax that may
// stand in a bare token: formatMediaType quotes the values that hold one.
const rfc2231Chars = "*'%"

// checkAttachmentHeader makes sure the header fields of an attachment can
// be written within 998 octets per line.
func checkAttachmentHeader(a attachment) error {
	ct, disp := attachmentHeader(a)
	if !foldable("Content-Type", ct) || !foldable("Content-Disposition", disp) {
		return fmt.Errorf("file name %q is too long for a header line", shorten(a.filename))
	}
	return nil
}

// chooseEncoding returns the Content-Transfer-Encoding of a text part whose
// content is body (CRLF line endings): 7bit when it is ASCII without control
// characters and no line exceeds 998 octets; otherwise quoted-printable
// (readable, and shorter for mostly-ASCII text), unless more than a quarter
// of its bytes would need escaping (mostly non-Latin text, where base64 is
// much shorter).
func chooseEncoding(body []byte) string {
	unsafe, lineLen, long, total := 0, 0, false, len(body)
	for len(body) > 0 {
		// The text up to the next LF; a CR right before it ends the line
		// with it, a lone LF is a byte of the line like any other.
		j := bytes.IndexByte(body, '\n')
		seg, crlf := body, false
		if j >= 0 {
			seg = body[:j]
			if n := len(seg); n > 0 && seg[n-1] == '\r' {
				seg, crlf = seg[:n-1], true
			} else {
				seg = body[:j+1]
			}
			body = body[j+1:]
		} else {
			body = nil
		}
		unsafe += countUnsafe(seg)
		lineLen += len(seg)
		if lineLen > 998 {
			long = true
		}
		if crlf {
			lineLen = 0
		}
	}
	return textStats{unsafe, long}.encoding(total)
}

// textStats is what chooseEncoding looks at in a text: the bytes that 7bit
// cannot carry, and whether a line is too long for it.
type textStats struct {
	unsafe int  // bytes >= 0x80, < 0x20 (but tab) or 0x7f
	long   bool // a line over 998 octets
}

// line counts one line of the text, without its line break.
func (st *textStats) line(s []byte) {
	st.unsafe += countUnsafe(s)
	if len(s) > 998 {
		st.long = true
	}
}

// encoding returns the transfer encoding for a text of total bytes.
func (st textStats) encoding(total int) string {
	switch {
	case st.unsafe == 0 && !st.long:
		return "7bit"
	case st.unsafe > total/4:
		return "base64"
	}
	return "quoted-printable"
}

// countUnsafe returns the number of bytes of s that are >= 0x80, < 0x20
// (but tab) or 0x7f. It looks at eight bytes at a time, and at each byte
// of the eight only when one of them may be such a byte.
func countUnsafe(s []byte) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	n, i := 0, 0
	for ; i+8 <= len(s); i += 8 {
		w := binary.LittleEndian.Uint64(s[i:])
		// The high bit of a byte of w+lo|w is set when a byte of w is
		// >= 0x7f, that of (w-0x20*lo)&^w when one is < 0x20 (and
		// w >= 0x80 where it is not): exact about whether there is one,
		// if not about which.
		if (w+lo|w|(w-0x20*lo)&^w)&hi == 0 {
			continue
		}
		for _, c := range s[i : i+8] {
			if unsafeByte(c) {
				n++
			}
		}
	}
	for _, c := range s[i:] {
		if unsafeByte(c) {
			n++
		}
	}
	return n
}

func unsafeByte(c byte) bool {
	return c-0x20 > 0x7e-0x20 && c != '\t' // >= 0x80, < 0x20 or 0x7f
}

// WriteTo streams the raw RFC 5322/MIME message to w, with CRLF line endings
// only. Files (attachments, inline images, command output) are read and
// base64-encoded as they are written, never held in memory whole.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := m.write(cw)
	return cw.n, err
}

// ErrClosed is returned by WriteTo after Close.
var ErrClosed = errors.New("template: message is closed")

func (m *Message) write(w io.Writer) error {
	if m.closed {
		return ErrClosed
	}
	if _, err := w.Write(m.head); err != nil {
		return err
	}
	if m.rootRaw != nil {
		return m.writeLeaf(w)
	}
	// CreateWriter adds MIME-Version: 1.0 before the root's fields.
	mw, err := message.CreateWriter(w, m.rootHeader)
	if err != nil {
		return err
	}
	if err := m.writeBody(mw, m.root); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	if m.root.children == nil && m.rootHeader.Get("Content-Transfer-Encoding") == "base64" {
		// go-message ends base64 without a line break; in a multipart
		// body the delimiter brings one.
		_, err := io.WriteString(w, "\r\n")
		return err
	}
	return nil
}

// writeLeaf writes the rest of a message that is a single text part, in
// 7bit or quoted-printable, as go-message's CreateWriter would: the root
// fields (MIME-Version first, formatted by finish), the empty line and the
// encoded body. A 7bit body has CRLF line endings only and no line over 998
// octets (see normalizeText): go-message's line wrapper would
// write it unchanged. Quoted-printable is mime/quotedprintable's writer,
// the one go-message uses.
func (m *Message) writeLeaf(w io.Writer) error {
	if _, err := w.Write(m.rootRaw); err != nil {
		return err
	}
	if _, err := w.Write(crlf); err != nil {
		return err
	}
	p := m.root
	if p.verbatim {
		_, err := w.Write(p.body)
		return err
	}
	qw := quotedprintable.NewWriter(w)
	if _, err := qw.Write(p.body); err != nil {
		return err
	}
	return qw.Close()
}

var crlf = []byte("\r\n")

func (m *Message) writeBody(mw *message.Writer, p *part) error {
	switch {
	case p.children != nil:
		for _, c := range p.children {
			pw, err := mw.CreatePart(c.header())
			if err != nil {
				return err
			}
			if err := m.writeBody(pw, c); err != nil {
				return err
			}
			if err := pw.Close(); err != nil {
				return err
			}
		}
		return nil
	case p.file != "":
		if m.noFiles {
			return nil
		}
		// Inside the include root, if any, even if a symbolic link was
		// changed since the expansion checked the file.
		f, err := openInRoot(p.root, p.rel, p.file)
		if err != nil {
			return fmt.Errorf("attachment %s: %w", p.file, err)
		}
		defer f.Close()
		if _, err := io.Copy(mw, f); err != nil {
			return fmt.Errorf("attachment %s: %w", p.file, err)
		}
		return nil
	}
	_, err := mw.Write(p.body)
	return err
}

// Close removes the temporary files the message holds (the output of
// attach_cmd); WriteTo fails after it. Close may be called more than once.
// A Message dropped without Close has its files removed when it is garbage
// collected, which may be never: call Close when done with the message.
func (m *Message) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	// The text parts' buffers go to later messages: WriteTo does not
	// read them any more.
	m.root.releaseText()
	m.text, m.html = nil, nil
	var first error
	for _, p := range m.temps {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	m.temps = nil
	return first
}

// releaseText gives the buffers of the text parts under p back to
// getTextBuf.
func (p *part) releaseText() {
	if p == nil {
		return
	}
	if p.body != nil {
		putTextBuf(p.body)
		p.body = nil
	}
	for _, c := range p.children {
		c.releaseText()
	}
}

// keepTemps hands the expansion's temporary files to the message, with a
// cleanup that removes them if the message is dropped without Close.
func (m *Message) keepTemps(temps []string) {
	if len(temps) == 0 {
		return
	}
	m.temps = temps
	runtime.AddCleanup(m, removeFiles, append([]string(nil), temps...))
}
