package template

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rootTree makes this tree under a new temporary directory (OUT and TOP
// are files outside the template's directory tmpl/) and returns the
// directory:
//
//	secret.txt                    OUT
//	tmpl/main.tmpl (not written: parsed from the test's source)
//	tmpl/sig.txt
//	tmpl/logo.png
//	tmpl/sub/footer.tmpl          includes ../sig.txt, then ../../secret.txt when asked
//	tmpl/sub/note.txt
//	tmpl/link-in.txt   -> sub/note.txt        (a link inside)
//	tmpl/link-out.txt  -> ../secret.txt       (a link out, relative)
//	tmpl/link-abs.txt  -> DIR/secret.txt      (a link out, absolute)
//	tmpl/link-dir      -> ..                  (a directory link out)
//	tmpl/dangling.txt  -> ../nothing.txt      (a link out to nothing)
//	tmpl/glob/a.log, tmpl/glob/b.log -> ../../secret.txt
//	alias -> tmpl                              (the root reached through a link)
func rootTree(t *testing.T) string {
	t.Helper()
	dir := writeFiles(t, map[string]string{
		"secret.txt":           "TOP SECRET",
		"tmpl/sig.txt":         "-- sig",
		"tmpl/logo.png":        "png",
		"tmpl/sub/note.txt":    "a note",
		"tmpl/sub/footer.tmpl": `footer {{include "../sig.txt"}}{{if get "deep" ""}} {{include "../../secret.txt"}}{{end}}`,
		"tmpl/glob/a.log":      "a",
	})
	for link, target := range map[string]string{
		"tmpl/link-in.txt":  "sub/note.txt",
		"tmpl/link-out.txt": "../secret.txt",
		"tmpl/link-abs.txt": filepath.Join(dir, "secret.txt"),
		"tmpl/link-dir":     "..",
		"tmpl/dangling.txt": "../nothing.txt",
		"tmpl/glob/b.log":   "../../secret.txt",
		"alias":             "tmpl",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skipf("symbolic links: %v", err)
		}
	}
	return dir
}

func TestIncludeRoot(t *testing.T) {
	dir := rootTree(t)
	tmplDir := filepath.Join(dir, "tmpl")
	confine := func(o *Options) { o.ConfineToTemplateDir = true }
	root := func(r string) func(*Options) { return func(o *Options) { o.IncludeRoot = r } }
	const html = "Content-Type: text/html\n"
	tests := []struct {
		name   string
		header string // extra header lines
		body   string
		opts   func(*Options)
		want   string // in the body (without error)
		err    string // the error: DIR stands for the directory; ... at the end for a prefix
		is     error
	}{
		// Allowed.
		{name: "include inside", body: `{{include "sub/note.txt"}}`, opts: confine, want: "a note"},
		{name: "absolute path inside", body: `{{include "DIR/tmpl/sig.txt"}}`, opts: confine, want: "-- sig"},
		{name: "link inside", body: `{{include "link-in.txt"}}`, opts: confine, want: "a note"},
		{name: "render inside, its includes from its own directory", body: `{{render "sub/footer.tmpl"}}`, opts: confine, want: "footer -- sig"},
		{name: "attach inside", body: `x{{attach "sig.txt"}}`, opts: confine, want: "LS0gc2ln"}, // base64 of "-- sig"
		{name: "path through the root's alias", body: `{{include "DIR/alias/sig.txt"}}`, opts: confine, want: "-- sig"},
		{name: "root given through a link", body: `{{include "sig.txt"}}`, opts: root("DIR/alias"), want: "-- sig"},
		{name: "root above the template", body: `{{include "../secret.txt"}}`, opts: root("DIR"), want: "TOP SECRET"},
		{name: "not confined", body: `{{include "../secret.txt"}}{{include "link-abs.txt"}}`, want: "TOP SECRETTOP SECRET"},

		// Refused: the path.
		{name: "dot dot", body: `{{include "../secret.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: include: ../secret.txt: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "absolute path", body: `{{include "/etc/passwd"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: include: /etc/passwd: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "a missing file outside is refused, not reported missing", body: `{{include "/nonexistent/x"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: include: /nonexistent/x: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "render", body: `{{render "../secret.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: render: ../secret.txt: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "attach", body: `{{attach "../secret.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: attach: ../secret.txt: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "attach optional is still refused", body: `{{attach "../secret.txt" "optional"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: attach: ../secret.txt: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "inline", header: html, body: `<img src="{{inline "../secret.txt"}}">`, opts: confine,
			err: `DIR/tmpl/main.tmpl:5:13: inline: ../secret.txt: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "an include inside a rendered file", body: `{{render "sub/footer.tmpl"}}`, opts: func(o *Options) { confine(o); o.Values = map[string]any{"deep": true} },
			err: `DIR/tmpl/sub/footer.tmpl:1:55: include: ../../secret.txt: outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "explicit root", body: `{{include "sig.txt"}}`, opts: root("DIR/tmpl/sub"),
			err: `DIR/tmpl/main.tmpl:4:3: include: sig.txt: outside the include root DIR/tmpl/sub`, is: ErrOutsideRoot},
		{name: "explicit root wins over the template's directory", body: `{{include "sig.txt"}}`, opts: func(o *Options) { confine(o); o.IncludeRoot = dir + "/tmpl/sub" },
			err: `DIR/tmpl/main.tmpl:4:3: include: sig.txt: outside the include root DIR/tmpl/sub`, is: ErrOutsideRoot},

		// Refused: symbolic links.
		{name: "link out", body: `{{include "link-out.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: include: link-out.txt: a symbolic link to DIR/secret.txt, outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "absolute link out", body: `{{include "link-abs.txt" "tail=1"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: include: link-abs.txt: a symbolic link to DIR/secret.txt, outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "directory link out", body: `{{include "link-dir/secret.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: include: link-dir/secret.txt: a symbolic link to DIR/secret.txt, outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "attach link out", body: `{{attach "link-out.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: attach: link-out.txt: a symbolic link to DIR/secret.txt, outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "glob matching a link out", body: `{{attach "glob/*.log"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: attach: glob/b.log: a symbolic link to DIR/secret.txt, outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "render through a link out", body: `{{render "link-abs.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: render: link-abs.txt: a symbolic link to DIR/secret.txt, outside the include root DIR/tmpl`, is: ErrOutsideRoot},
		{name: "a dangling link is a missing file", body: `{{include "dangling.txt"}}`, opts: confine,
			err: `DIR/tmpl/main.tmpl:4:3: include: dangling.txt: no such file or directory`, is: fs.ErrNotExist},

		// The root itself.
		{name: "missing root", body: `{{include "sig.txt"}}`, opts: root("DIR/nope"),
			err: `DIR/tmpl/main.tmpl:4:3: include: include root DIR/nope: no such file or directory`, is: fs.ErrNotExist},
		{name: "root is a file", body: `{{include "sig.txt"}}`, opts: root("DIR/secret.txt"),
			err: `DIR/tmpl/main.tmpl:4:3: include: include root DIR/secret.txt: not a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "From: a@example.com\nTo: b@example.com\n" + tt.header + "\n" + strings.ReplaceAll(tt.body, "DIR", dir) + "\n"
			tmpl, err := Parse(filepath.Join(tmplDir, "main.tmpl"), []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			opts := fixedOptions(nil)
			if tt.opts != nil {
				tt.opts(&opts)
			}
			opts.IncludeRoot = strings.ReplaceAll(opts.IncludeRoot, "DIR", dir)
			m, err := tmpl.Expand(opts)
			if tt.err != "" {
				matchError(t, err, strings.ReplaceAll(tt.err, "DIR", dir))
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
				}
				if errors.Is(err, ErrOutsideRoot) && errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%v is both outside the root and missing", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := m.body(); !strings.Contains(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// A relative IncludeRoot is taken from the working directory.
func TestIncludeRootRelative(t *testing.T) {
	dir := rootTree(t)
	t.Chdir(dir)
	tmpl, err := Parse("tmpl/main.tmpl", []byte("From: a@example.com\nTo: b@example.com\n\n{{include \"sig.txt\"}}{{include \"../secret.txt\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	opts := fixedOptions(nil)
	opts.IncludeRoot = "tmpl"
	_, err = tmpl.Expand(opts)
	matchError(t, err, "tmpl/main.tmpl:4:24: include: ../secret.txt: outside the include root "+filepath.Join(dir, "tmpl"))
	opts.IncludeRoot = ""
	opts.ConfineToTemplateDir = true
	_, err = tmpl.Expand(opts)
	matchError(t, err, "tmpl/main.tmpl:4:24: include: ../secret.txt: outside the include root "+filepath.Join(dir, "tmpl"))
}

// An attachment checked at expansion and replaced by a link out of the root
// before the message is written is not read: the file is opened through
// os.Root.
func TestIncludeRootAtWriteTime(t *testing.T) {
	dir := rootTree(t)
	tmplDir := filepath.Join(dir, "tmpl")
	tmpl, err := Parse(filepath.Join(tmplDir, "main.tmpl"), []byte("From: a@example.com\nTo: b@example.com\n\nbody\n{{attach \"sig.txt\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, confined := range []bool{true, false} {
		opts := fixedOptions(nil)
		opts.ConfineToTemplateDir = confined
		m, err := tmpl.Expand(opts)
		if err != nil {
			t.Fatal(err)
		}
		sig := filepath.Join(tmplDir, "sig.txt")
		if err := os.Rename(sig, sig+".orig"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(dir, "secret.txt"), sig); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = m.WriteTo(&buf)
		if confined {
			if err == nil || !strings.Contains(err.Error(), "sig.txt") {
				t.Errorf("confined: WriteTo: %v, want an error naming sig.txt", err)
			}
		} else if err != nil {
			t.Errorf("not confined: WriteTo: %v", err)
		}
		if confined && bytes.Contains(buf.Bytes(), []byte("VE9QIFNFQ1JFVA")) { // base64 of TOP SECRET
			t.Errorf("confined: the secret was attached")
		}
		m.Close()
		if err := os.Remove(sig); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(sig+".orig", sig); err != nil {
			t.Fatal(err)
		}
	}
}
