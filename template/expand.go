package template

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	htmltemplate "html/template"
)

// Options for one expansion.
type Options struct {
	Vars      map[string]string // values from --var; they override Values, template definitions and front-matter defaults
	Now       func() time.Time  // nil = time.Now (tests inject a fixed clock)
	Boundary  func() string     // nil = random MIME boundaries (tests inject fixed ones)
	MessageID func() string     // nil = "<random@hostname>" (tests inject); with or without angle brackets
	ContentID func() string     // nil = random Content-IDs for inline images (tests inject); with or without angle brackets
	Hostname  string            // for Message-ID; "" = os.Hostname

	// Values are named values from a values file (see LoadValues) or, in a
	// batch, from the data row. They may be nested (maps and lists, for
	// {{range .failed}}...{{end}}); they are only read, never changed, so one
	// map may be shared by concurrent expansions. Vars override them; they
	// override template definitions and front-matter defaults.
	Values map[string]any

	// NoShell refuses templates that contain an sh directive (for rendering
	// templates you did not write); the error points at the first one.
	NoShell bool
	// ShellTimeout bounds each sh directive; 0 means DefaultShellTimeout.
	ShellTimeout time.Duration
	// HideEnv names environment variables that sh commands must not see
	// (for example the one holding the SMTP password).
	HideEnv []string
	// IncludeRoot, when set, confines the directives that read files
	// (include, render, attach, inline) to this directory and the
	// directories under it: a path outside it ("../x", "/etc/passwd") and
	// a symbolic link that leads outside it are refused with an error
	// wrapping ErrOutsideRoot. Links are resolved when the template is
	// expanded and again, through os.Root, when a file is read. A relative
	// root is taken from the working directory. Commands (sh, attach_cmd)
	// are not confined: see NoShell.
	IncludeRoot string
	// ConfineToTemplateDir confines the same directives, when IncludeRoot
	// is empty, to the directory of the template being expanded (that of
	// the name given to Parse or ParseFile; files brought in by render
	// are held to it too). Set it with NoShell for templates you do not
	// fully trust.
	ConfineToTemplateDir bool
	// AllowEnv, when not nil, lists the only environment variables the env
	// directive may read (HideEnv's are never read): any other counts as
	// not set, so its default is used, else the error says it is not
	// allowed. Set it (empty for none) with NoShell for templates you do
	// not fully trust, which could otherwise put a CI token or a cloud key
	// in a message to anyone.
	AllowEnv []string
}

// DefaultShellTimeout is how long an sh directive may run when
// Options.ShellTimeout is 0.
const DefaultShellTimeout = 30 * time.Second

// maxPieceOutput bounds what one piece of a template (a header value or the
// body) may produce, so that a runaway loop fails instead of eating memory.
const maxPieceOutput = 64 << 20

// expansion is the state of one Expand call: the values known so far and
// the attachments collected.
type expansion struct {
	t           *Template
	opts        Options
	now         time.Time
	vals        map[string]any
	set         *boundSet      // the copy of the template set this expansion executes
	funcs       map[string]any // the directives bound to this expansion (set.funcs)
	renders     []string       // the chain of rendered template files, for cycles (see render)
	root        *fileRoot      // the directory file directives are confined to, nil when they are not
	attachments []attachment
	mime        mimeState // HTML part, inline images, temporary files (see mime.go)

	// While an address field value is executed: the output so far and
	// where each directive's output landed in it.
	out   *bytes.Buffer
	spans []valueSpan

	lw limitedWriter // bounds set.buf, the output of the piece being executed

	addrs   []addrResult // what {{addr NAME EMAIL}} printed, parsed (see parseAddresses)
	addrBuf [2]addrResult
	spanBuf [4]valueSpan
}

// fixed reports whether name is set by Options.Vars or Options.Values:
// definitions (chunk, front matter vars) don't override it.
func (x *expansion) fixed(name string) bool {
	if _, ok := x.opts.Vars[name]; ok {
		return true
	}
	_, ok := x.opts.Values[name]
	return ok
}

// binding is what the directives of a boundSet call: the expansion that
// uses the set at the moment.
type binding struct {
	x *expansion
}

// boundSet is a copy of a Template's text/template set whose directives
// call the expansion that uses it, one expansion at a time. Cloning the set
// and binding the functions cost more than the rest of an expansion, so
// the copies are kept in Template.sets and reused: concurrent expansions
// each take their own.
type boundSet struct {
	t      *Template
	set    *template.Template
	b      *binding
	funcs  map[string]any
	pieces []*template.Template   // the set's template of each piece, by index
	html   *htmltemplate.Template // the HTML set (see htmlTemplates), built on first use

	buf       bytes.Buffer           // the output of the piece being executed
	addrs     map[string]parsedAddrs // address fields parsed lately (see expansion.parseAddresses)
	outs      []string               // the latest output of each piece (see pieceText)
	slab      []string               // the array of expansion.run's values, kept
	fields    []field                // the array of builder.fields, kept
	addrCache addrCache              // the latest results of {{addr NAME EMAIL}}

	// The Date field of the latest message (see formatDate).
	dateUnix int64
	dateLoc  *time.Location
	dateText string
}

// maxPieceText bounds the outputs of pieces that pieceText keeps.
const maxPieceText = 256

// pieceText returns b, the output of piece i, as a string: the string of
// the previous expansion of the set when that piece printed the same (in a
// batch, the From field, often others), else a new one.
func (bs *boundSet) pieceText(i int, b []byte) string {
	if i >= len(bs.outs) {
		return string(b)
	}
	if s := bs.outs[i]; s == string(b) {
		return s
	}
	s := string(b)
	if len(s) <= maxPieceText {
		bs.outs[i] = s
	}
	return s
}

// formatDate formats t in the RFC 5322 form (rfc5322Date), reusing the
// text of the previous call when t is in the same second and location: the
// layout shows nothing finer than seconds, and one location gives one
// offset and zone name at one instant.
func (bs *boundSet) formatDate(t time.Time) string {
	if bs.dateText != "" && t.Unix() == bs.dateUnix && t.Location() == bs.dateLoc {
		return bs.dateText
	}
	bs.dateUnix, bs.dateLoc, bs.dateText = t.Unix(), t.Location(), t.Format(rfc5322Date)
	return bs.dateText
}

// maxPooledBuf is the largest piece buffer kept for the next expansion.
const maxPooledBuf = 1 << 20

// maxPooledVals is the largest map of values kept for the next expansion.
const maxPooledVals = 256

// getVals takes an empty map for the values of an expansion from the pool
// (see putVals), or makes one for size values.
func (t *Template) getVals(size int) map[string]any {
	if m, ok := t.vals.Get().(map[string]any); ok {
		return m
	}
	return make(map[string]any, size)
}

// putVals empties m and keeps it for a later expansion. The values are
// only ever read through the expansion that holds the map: no Message, no
// error and no set keeps it.
func (t *Template) putVals(m map[string]any) {
	if len(m) > maxPooledVals {
		return
	}
	clear(m)
	t.vals.Put(m)
}

// getSet takes a bound copy of the template set from the pool, or makes
// one. putSet gives it back.
func (t *Template) getSet() (*boundSet, error) {
	if bs, ok := t.sets.Get().(*boundSet); ok {
		return bs, nil
	}
	set, err := t.set.Clone()
	if err != nil {
		return nil, err
	}
	bs := &boundSet{t: t, set: set, b: &binding{}}
	bs.funcs = bs.b.funcs()
	set.Funcs(bs.funcs)
	bs.pieces = make([]*template.Template, len(t.pieces))
	bs.outs = make([]string, len(t.pieces))
	for i := range t.pieces {
		bs.pieces[i] = set.Lookup(t.pieces[i].name)
	}
	return bs, nil
}

func (t *Template) putSet(bs *boundSet) {
	bs.b.x = nil
	if bs.buf.Cap() > maxPooledBuf {
		bs.buf = bytes.Buffer{}
	}
	t.sets.Put(bs)
}

// funcs returns the directives and helpers, bound to b.
func (b *binding) funcs() map[string]any {
	m := make(map[string]any, len(stubFuncs)+1)
	m["chunk"] = func(name string, value ...any) (any, error) { return b.x.chunk(name, value...) }
	m["sh"] = func(command string) (string, error) { return b.x.sh(command) }
	m["date"] = func(args ...string) (string, error) { return b.x.date(args...) }
	m["attach"] = func(path string, opts ...string) (string, error) { return b.x.attach(path, opts...) }
	m["addr"] = func(args ...string) (addrText, error) { return b.x.addr(args...) }
	m[markFunc] = func(pos string, v any) string { return b.x.mark(pos, v) }
	b.addMIMEFuncs(m)
	b.addFuncs(m)
	return m
}

// Expand evaluates every directive and builds the message. Everything that
// can fail (an undefined value, a failing shell command, a bad address, a
// missing attachment file) fails here, before any byte is sent. The returned
// error is an *Error.
//
// Evaluation order is: front matter vars, the rest of the front matter in
// file order, header lines in order, then the body. A value must be defined
// before it is recalled.
func (t *Template) Expand(opts Options) (m *Message, err error) {
	x := &expansion{
		t:    t,
		opts: opts,
		vals: t.getVals(len(opts.Vars) + len(opts.Values) + len(t.items)),
		root: newFileRoot(t, opts),
	}
	defer t.putVals(x.vals) // nothing keeps it after the expansion
	x.addrs, x.spans = x.addrBuf[:0], x.spanBuf[:0]
	if err := x.setValues(); err != nil {
		return nil, err
	}
	for k, v := range opts.Vars {
		if !validName(k) {
			return nil, &Error{File: t.name, Err: fmt.Errorf("invalid value name %q (use letters, digits and _, not starting with a digit)", k)}
		}
		x.vals[k] = v
	}
	defer func() {
		if err != nil {
			x.cleanup() // temporary files of attach_cmd
		}
	}()
	if opts.NoShell {
		if err := t.checkNoShell(); err != nil {
			return nil, err
		}
	}
	if err := x.checkRequired(); err != nil {
		return nil, err
	}
	if opts.Now != nil {
		x.now = opts.Now()
	} else {
		x.now = time.Now()
	}

	bs, err := t.getSet()
	if err != nil {
		return nil, &Error{File: t.name, Err: err}
	}
	bs.b.x = x
	x.set, x.funcs = bs, bs.funcs
	completed := false
	defer func() {
		// A set goes back to the pool only after a normal return (not a
		// panic); the HTML set only after a success.
		if !completed {
			return
		}
		if err != nil {
			bs.html = nil
		}
		t.putSet(bs)
	}()
	m, err = x.run()
	completed = true
	return m, err
}

// run evaluates the items of the template and builds the message.
func (x *expansion) run() (*Message, error) {
	t := x.t
	bs := x.set
	var b builder
	b.init(t, bs.fields)
	buf := &bs.buf
	// The values of every item, in one array: slab never grows beyond its
	// capacity, so that each item's values (a part of it, kept by
	// builder.add) stay as they are.
	n := 0
	for i := range t.items {
		n += max(1, len(t.items[i].pieces))
	}
	slab := bs.slab[:0]
	if cap(slab) < n {
		slab = make([]string, 0, n)
	}
	defer func() {
		// The set keeps both arrays for the next expansion, empty:
		// neither the message nor an error holds them.
		clear(slab)
		clear(b.fields)
		bs.slab, bs.fields = slab[:0], b.fields[:0]
	}()
	for i := range t.items {
		it := &t.items[i]
		if it.kind == itemVar && x.fixed(it.name) {
			continue // --var wins; don't even run the default
		}
		start := len(slab)
		for _, pi := range it.pieces {
			buf.Reset()
			p := &t.pieces[pi]
			x.out, x.spans = buf, x.spans[:0]
			x.lw = limitedWriter{w: buf, n: maxPieceOutput}
			if err := x.execPiece(x.set.pieces[pi], &b, it, p, &x.lw); err != nil {
				if x.lw.n < 0 {
					l, c := p.pos(1, 0)
					return nil, &Error{File: t.name, Line: l, Col: c, Err: fmt.Errorf("output exceeds %d MiB", maxPieceOutput>>20)}
				}
				return nil, t.convertError(err)
			}
			var v string
			if it.kind == itemBody && len(it.pieces) == 1 {
				// The body's text part is made of buf as it is
				// (see bodyPart); the text is needed only for
				// Markdown and beside an HTML part.
				b.bodyText, b.bodyCTE = normalizeText(buf.Bytes())
				b.bodyDone = true
				if x.mime.format == formatMarkdown || x.mime.define {
					v = buf.String()
				}
			} else {
				v = x.set.pieceText(pi, buf.Bytes())
			}
			if p.addr && !hasControl(v) && !hasLineBreak(v) {
				if k, err := checkAddressValues(v, x.spans); err != nil {
					l, c := p.posAt(x.spans[k].pos)
					return nil, &Error{File: t.name, Line: l, Col: c, Err: fmt.Errorf("%s: %w", it.key, err)}
				}
			}
			slab = append(slab, v)
		}
		if len(slab) == start && it.kind != itemHeader {
			slab = append(slab, "") // cannot happen: every other item has a piece
		}
		values := slab[start:len(slab):len(slab)]
		switch it.kind {
		case itemVar:
			x.vals[it.name] = values[0]
		case itemDirective:
			if strings.TrimSpace(values[0]) != "" {
				return nil, t.errorf(it.line, it.col, "header: a {{directive}} line in the header must not produce output (got %q)", shorten(values[0]))
			}
		case itemBody:
			b.body = values[0]
		default:
			if err := b.add(it, values); err != nil {
				return nil, err
			}
		}
	}
	return b.finish(x)
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

type limitedWriter struct {
	w io.Writer
	n int
}

var errTooLong = errors.New("output too long")

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.n -= len(p)
	if l.n < 0 {
		return 0, errTooLong
	}
	return l.w.Write(p)
}

// chunk defines (two arguments) or recalls (one argument) a named value.
// A recalled value keeps its type (a list from a values file can be ranged
// over).
func (x *expansion) chunk(name string, value ...any) (any, error) {
	if !validName(name) {
		return "", dirErr("chunk", "invalid name %q (use letters, digits and _, not starting with a digit)", name)
	}
	switch len(value) {
	case 0:
		v, ok := x.vals[name]
		if !ok {
			return "", dirErr("chunk", "undefined chunk %q%s", name, defineHint(name))
		}
		return v, nil
	case 1:
		if !x.fixed(name) {
			x.vals[name] = fmt.Sprint(value[0])
		}
		return "", nil
	default:
		return "", dirErr("chunk", "takes a name and at most one value, got %d values", len(value))
	}
}

// mark records where the output of one action of an address field value
// lands (see Template.markValues) and prints it as text/template would.
func (x *expansion) mark(pos string, v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "<no value>"
	case addrText:
		s = string(v)
	case string:
		s = v // as fmt.Sprint prints it
	default:
		s = fmt.Sprint(v)
	}
	_, isAddr := v.(addrText)
	return x.markText(pos, s, isAddr)
}

// markText is mark for the text s, printed by {{addr}} when isAddr.
func (x *expansion) markText(pos, s string, isAddr bool) string {
	if x.out != nil {
		p, _ := strconv.Atoi(pos)
		x.spans = append(x.spans, valueSpan{start: x.out.Len(), end: x.out.Len() + len(s), pos: p, addr: isAddr})
	}
	return s
}

// randomBoundary is a MIME boundary that cannot occur in base64 or
// quoted-printable output.
func randomBoundary() string {
	var b [24]byte
	randomBytes(b[:])
	return "=_" + hex.EncodeToString(b[:])
}

func randomID() string {
	var b [16]byte
	randomBytes(b[:])
	return hex.EncodeToString(b[:])
}

// randBuf is a block of bytes from crypto/rand, handed out in pieces: one
// read of 4 KiB costs far less than a read for every ID. Each block is used
// by one goroutine at a time (see randPool) and each byte once.
type randBuf struct {
	b   [4096]byte
	off int // bytes already handed out
}

var randPool = sync.Pool{New: func() any { return &randBuf{off: 4096} }}

// randomBytes fills p (at most 4 KiB) with bytes from crypto/rand.
func randomBytes(p []byte) {
	r := randPool.Get().(*randBuf)
	if len(r.b)-r.off < len(p) {
		if _, err := rand.Read(r.b[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		r.off = 0
	}
	n := copy(p, r.b[r.off:])
	clear(r.b[r.off : r.off+n]) // a byte handed out is not kept
	r.off += n
	randPool.Put(r)
}

// hasLineBreak reports whether s holds a CR or an LF.
func hasLineBreak(s string) bool {
	return strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, '\n') >= 0
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
