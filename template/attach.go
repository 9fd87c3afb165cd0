package template

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"

	"github.com/emersion/go-message/mail"
)

// attachment is a file sent as a part of its own: an attachment in
// multipart/mixed, or an inline image in multipart/related.
type attachment struct {
	path        string // resolved path
	root        string // the include root, resolved ("" when not confined)
	rel         string // the file's path inside root (see checkRoot)
	filename    string // file name shown to the recipient
	contentType string // media type with parameters
	inline      bool   // Content-Disposition: inline rather than attachment
	contentID   string // "<id>" for an image referenced from the HTML part
}

// attachOptions are the options of attach, inline and attach_cmd, written
// "key=value" (and "optional" alone).
type attachOptions struct {
	contentType string // type=
	filename    string // name=
	inline      bool   // disposition=inline
	optional    bool   // optional: no file is not an error
}

// parseAttachOptions reads the options of a directive. allowed lists the
// keys it accepts.
func parseAttachOptions(directive string, opts []string, allowed ...string) (attachOptions, error) {
	var o attachOptions
	ok := func(k string) bool {
		for _, a := range allowed {
			if a == k {
				return true
			}
		}
		return false
	}
	for _, opt := range opts {
		k, v, hasValue := strings.Cut(opt, "=")
		if !hasValue {
			v = ""
		}
		switch {
		case !ok(k) || (k == "optional") == hasValue:
			var known []string
			for _, a := range allowed {
				known = append(known, map[string]string{
					"type":        "type=MEDIA/TYPE",
					"name":        "name=FILENAME",
					"disposition": "disposition=inline|attachment",
					"optional":    "optional",
				}[a])
			}
			return o, dirErr(directive, "unknown option %q (known: %s)", opt, strings.Join(known, ", "))
		case k == "type":
			mt, params, err := mime.ParseMediaType(v)
			if err != nil || !strings.Contains(mt, "/") {
				return o, dirErr(directive, "invalid content type %q", v)
			}
			if strings.HasPrefix(mt, "multipart/") {
				return o, dirErr(directive, "type=%s: a file cannot be attached as a multipart entity (mailscript writes the MIME structure; use a type such as application/octet-stream)", mt)
			}
			o.contentType = formatMediaType(mt, params)
		case k == "name":
			if v == "" || strings.ContainsAny(v, "/\\") || hasControl(v) {
				return o, dirErr(directive, "invalid file name %q", v)
			}
			o.filename = v
		case k == "disposition":
			switch strings.ToLower(v) {
			case "inline":
				o.inline = true
			case "attachment":
				o.inline = false
			default:
				return o, dirErr(directive, "disposition=%s: expected inline or attachment", v)
			}
		case k == "optional":
			o.optional = true
		}
	}
	return o, nil
}

// isGlob reports whether path contains a glob metacharacter.
func isGlob(path string) bool { return strings.ContainsAny(path, "*?[") }

// resolvePath makes a directive's path absolute: relative paths are taken
// from the template's directory (that of the rendered file inside
// {{render}}).
func (x *expansion) resolvePath(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(x.t.dir, path)
}

// attach records file attachments: one file, or every regular file a glob
// pattern matches (in lexical order). The files are checked now and read
// only when the message is written.
func (x *expansion) attach(path string, opts ...string) (string, error) {
	if path == "" {
		return "", dirErr("attach", "empty path")
	}
	o, err := parseAttachOptions("attach", opts, "type", "name", "disposition", "optional")
	if err != nil {
		return "", err
	}
	paths := []string{x.resolvePath(path)}
	if isGlob(path) {
		// A pattern outside the root is refused whether it matches or
		// not, naming none of the files it matches: a template cannot
		// list or probe files outside (its matches inside are checked
		// one by one below, symbolic links resolved).
		if err := x.checkPatternRoot("attach", path, paths[0]); err != nil {
			return "", err
		}
	}
	if _, err := os.Lstat(paths[0]); err != nil && isGlob(path) {
		// A pattern, unless a file has this very name.
		paths, err = filepath.Glob(paths[0])
		if err != nil {
			return "", dirErr("attach", "invalid pattern %q: %v", path, err)
		}
		files := paths[:0]
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		paths = files
		switch {
		case len(paths) == 0 && o.optional:
			return "", nil
		case len(paths) == 0:
			return "", dirErr("attach", "%q matches no file (add \"optional\" to allow that)", path)
		case len(paths) > 1 && o.filename != "":
			return "", dirErr("attach", "name=%s: %q matches %d files; name= needs exactly one", o.filename, path, len(paths))
		}
	}
	for _, p := range paths {
		shown := path
		if p != x.resolvePath(path) { // a file the pattern matched: name it
			shown = p
			if rel, err := filepath.Rel(x.t.dir, p); err == nil && !filepath.IsAbs(path) {
				shown = rel
			}
		}
		a, err := x.fileAttachment("attach", shown, p, o)
		if errors.Is(err, fs.ErrNotExist) && o.optional {
			continue
		}
		if err != nil {
			return "", err
		}
		x.attachments = append(x.attachments, a)
	}
	return "", nil
}

// inline adds an image (or any file) to the multipart/related entity of the
// HTML part and returns the URL that refers to it, "cid:...". The same file
// inlined twice is sent once.
func (x *expansion) inline(path string, opts ...string) (htmltemplate.URL, error) {
	if path == "" {
		return "", dirErr("inline", "empty path")
	}
	o, err := parseAttachOptions("inline", opts, "type", "name")
	if err != nil {
		return "", err
	}
	if has, known := x.hasHTML(); known && !has {
		return "", dirErr("inline", "%s", errNoHTMLPart)
	}
	a, err := x.fileAttachment("inline", path, x.resolvePath(path), o)
	if err != nil {
		return "", err
	}
	a.inline = true
	for _, b := range x.mime.inlines {
		if b.path == a.path && b.filename == a.filename && b.contentType == a.contentType {
			return cidURL(b.contentID), nil
		}
	}
	a.contentID, err = x.contentID()
	if err != nil {
		return "", &directiveError{"inline", err}
	}
	x.mime.inlines = append(x.mime.inlines, a)
	return cidURL(a.contentID), nil
}

// cidURL turns a Content-ID into the URL that refers to it (RFC 2392).
func cidURL(id string) htmltemplate.URL {
	return htmltemplate.URL("cid:" + strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"))
}

// contentID returns a new Content-ID, with angle brackets.
func (x *expansion) contentID() (string, error) {
	var scratch mail.Header
	id := ""
	if x.opts.ContentID != nil {
		id = strings.TrimSpace(x.opts.ContentID())
	} else {
		id = randomID() + "@mailscript"
	}
	if !strings.HasPrefix(id, "<") {
		id = "<" + id + ">"
	}
	if hasControl(id) || strings.ContainsAny(id, " \t") {
		return "", fmt.Errorf("invalid Content-ID %q", id)
	}
	scratch.Set("Message-Id", id) // the same syntax (RFC 2392)
	if _, err := scratch.MessageID(); err != nil || strings.Count(id, "<") != 1 {
		return "", fmt.Errorf("invalid Content-ID %q", id)
	}
	return id, nil
}

// fileAttachment checks the file at path (as written in the template: shown)
// resolved to file and describes it as an attachment.
func (x *expansion) fileAttachment(directive, shown, file string, o attachOptions) (attachment, error) {
	a := attachment{path: file, filename: filepath.Base(file), inline: o.inline}
	if o.filename != "" {
		a.filename = o.filename
	}
	rel, err := x.checkRoot(directive, shown, file)
	if err != nil {
		return a, err
	}
	a.root, a.rel = x.rootReal(), rel
	fi, err := os.Stat(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if file != x.resolvePath(shown) {
			shown = file
		}
		return a, &directiveError{directive, fmt.Errorf("%s: %w", shown, err)}
	}
	if !fi.Mode().IsRegular() {
		return a, dirErr(directive, "%s: not a regular file", shown)
	}
	a.contentType = o.contentType
	if a.contentType == "" {
		a.contentType = guessType(a.filename, file)
	}
	a.contentType = attachmentType(a.contentType)
	if err := checkAttachmentHeader(a); err != nil {
		return a, &directiveError{directive, err}
	}
	return a, nil
}

// guessType guesses a media type from the extension of the file name shown
// to the recipient, then from that of the file: application/octet-stream
// when neither is known.
func guessType(names ...string) string {
	for _, n := range names {
		if ct := mime.TypeByExtension(filepath.Ext(n)); ct != "" {
			if mt, params, err := mime.ParseMediaType(ct); err == nil {
				return formatMediaType(mt, params)
			}
		}
	}
	return "application/octet-stream"
}

// attachmentType returns the content type an attachment is sent with.
// Attachments are always base64-encoded, which RFC 2046 forbids for
// multipart/* and message/* entities (go-message would even write a
// multipart body raw): those are sent as application/octet-stream.
func attachmentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
		return "application/octet-stream"
	}
	return ct
}
