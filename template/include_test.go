package template

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles creates files (name -> content) under a new temporary
// directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var includeFiles = map[string]string{
	"sig.txt":           "-- \nJoe {{not a directive}}\n",
	"sub/footer.tmpl":   "Bye {{.name | upper}}{{chunk \"seen\" \"footer\"}}\n{{include \"note.txt\"}} from {{sh \"basename \\\"$PWD\\\"\"}}\n",
	"sub/note.txt":      "a note\n",
	"sub/bad.tmpl":      "fine\n  {{chunk \"nope\"}}\n",
	"sub/syntax.tmpl":   "x\n{{if}}\n",
	"sub/shell.tmpl":    "x {{sh \"true\"}}\n",
	"a.tmpl":            "A{{render \"sub/b.tmpl\"}}",
	"sub/b.tmpl":        "B{{render \"../a.tmpl\"}}",
	"self.tmpl":         "{{render \"self.tmpl\"}}",
	"app.log":           numberedLines(1000),
	"short.log":         "one\ntwo",
	"sub/dir/.keep":     "",
	"sub/linkdir/.keep": "",
}

func numberedLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestInclude(t *testing.T) {
	dir := writeFiles(t, includeFiles)
	tests := []struct {
		name, body, want string
		opts             func(*Options)
	}{
		{name: "text as is", body: `{{include "sig.txt"}}|`, want: "-- \nJoe {{not a directive}}|"},
		{name: "render with values", body: `{{render "sub/footer.tmpl"}}|{{.seen}}`, want: "Bye ANN\na note from sub|footer"},
		{name: "tail", body: `{{include "app.log" "tail=3"}}|`, want: "line 998\nline 999\nline 1000|"},
		{name: "tail one", body: `{{include "app.log" "tail=1"}}|`, want: "line 1000|"},
		{name: "tail zero", body: `[{{include "app.log" "tail=0"}}]`, want: "[]"},
		{name: "tail more than the file", body: `{{include "short.log" "tail=5"}}|`, want: "one\ntwo|"},
		{name: "tail without final newline", body: `{{include "short.log" "tail=1"}}|`, want: "two|"},
		{name: "inside the root", body: `{{include "sub/note.txt"}}`, want: "a note", opts: func(o *Options) { o.IncludeRoot = dir }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse(filepath.Join(dir, "main.tmpl"), []byte("From: a@example.com\nTo: b@example.com\n\n"+tt.body+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			opts := fixedOptions(map[string]string{"name": "ann"})
			if tt.opts != nil {
				tt.opts(&opts)
			}
			m, err := tmpl.Expand(opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.body(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := writeFiles(t, includeFiles)
	if err := os.Symlink(filepath.Join(dir, "app.log"), filepath.Join(dir, "sub", "link.log")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body, want string // want: DIR stands for the directory
		opts             func(*Options)
		is               error
	}{
		{name: "missing", body: `x {{include "nope.txt"}}`, want: `DIR/main.tmpl:4:5: include: nope.txt: no such file or directory`, is: fs.ErrNotExist},
		{name: "missing render", body: `{{render "nope.tmpl"}}`, want: `DIR/main.tmpl:4:3: render: nope.tmpl: no such file or directory`, is: fs.ErrNotExist},
		{name: "directory", body: `{{include "sub"}}`, want: `DIR/main.tmpl:4:3: include: sub: not a regular file`},
		{name: "device", body: `{{include "/dev/null"}}`, want: `DIR/main.tmpl:4:3: include: /dev/null: not a regular file`},
		{name: "empty path", body: `{{include ""}}`, want: `DIR/main.tmpl:4:3: include: empty path`},
		{name: "bad option", body: `{{include "sig.txt" "head=3"}}`, want: `DIR/main.tmpl:4:3: include: unknown option "head=3" (known: tail=LINES)`},
		{name: "bad tail", body: `{{include "app.log" "tail=x"}}`, want: `DIR/main.tmpl:4:3: include: tail=x: expected a number of lines from 0 to 1000000`},
		{name: "error in a rendered file", body: "{{chunk \"name\" \"x\"}}\n{{render \"sub/bad.tmpl\"}}", want: `DIR/sub/bad.tmpl:2:5: chunk: undefined chunk "nope" ...`},
		{name: "syntax error in a rendered file", body: `{{render "sub/syntax.tmpl"}}`, want: `DIR/sub/syntax.tmpl:2:1: missing value for if`},
		{name: "cycle", body: `{{render "a.tmpl"}}`, want: `DIR/sub/b.tmpl:1:4: render: cycle: DIR/a.tmpl -> DIR/sub/b.tmpl -> DIR/a.tmpl`},
		{name: "self", body: `{{render "self.tmpl"}}`, want: `DIR/self.tmpl:1:3: render: cycle: DIR/self.tmpl -> DIR/self.tmpl`},
		{name: "no shell in a rendered file", body: `{{render "sub/shell.tmpl"}}`, opts: func(o *Options) { o.NoShell = true },
			want: `DIR/sub/shell.tmpl:1:5: sh: shell commands are disabled (--no-shell)`},
		{name: "outside the root", body: `{{include "sig.txt"}}`, opts: func(o *Options) { o.IncludeRoot = filepath.Join(dir, "sub") },
			want: `DIR/main.tmpl:4:3: include: sig.txt: outside the include root DIR/sub`, is: ErrOutsideRoot},
		{name: "symlink out of the root", body: `{{include "sub/link.log" "tail=1"}}`, opts: func(o *Options) { o.IncludeRoot = filepath.Join(dir, "sub") },
			want: `DIR/main.tmpl:4:3: include: sub/link.log: a symbolic link to DIR/app.log, outside the include root DIR/sub`, is: ErrOutsideRoot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse(filepath.Join(dir, "main.tmpl"), []byte("From: a@example.com\nTo: b@example.com\n\n"+tt.body+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			opts := fixedOptions(nil)
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, err = tmpl.Expand(opts)
			matchError(t, err, strings.ReplaceAll(tt.want, "DIR", dir))
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

// countingFile is a large synthetic file: "xxx...x\n" lines of 100 bytes.
// It counts the bytes read.
type countingFile struct {
	size, read int64
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		if (off+int64(i))%100 == 99 {
			p[i] = '\n'
		} else {
			p[i] = 'x'
		}
	}
	f.read += int64(len(p))
	return len(p), nil
}

// tail=N reads from the end: the cost does not depend on the file's size.
func TestTailReadsOnlyTheEnd(t *testing.T) {
	f := &countingFile{size: 1 << 40} // 1 TiB
	f.size -= f.size % 100
	s, err := readTail(f, f.size, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 50*100 || strings.Count(s, "\n") != 50 {
		t.Errorf("got %d bytes, %d lines", len(s), strings.Count(s, "\n"))
	}
	if f.read > 2*tailBlock {
		t.Errorf("read %d bytes for 50 lines", f.read)
	}
}
