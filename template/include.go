package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// maxIncludeSize bounds a file read whole by include or render; include
// "tail=N" reads only the end of a file of any size.
const maxIncludeSize = 16 << 20

// maxRenderDepth bounds nested renders (a cycle is reported before).
const maxRenderDepth = 32

// include inserts a text file as it is (no directive in it runs), without
// one trailing line break: {{include "signature.txt"}}. The path is
// relative to the directory of the file holding the directive. With
// "tail=N" only the last N lines are read, from the end of the file, so a
// large log costs nothing: {{include "app.log" "tail=50"}}.
func (x *expansion) include(path string, opts ...string) (string, error) {
	tail := -1
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "tail":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1_000_000 {
				return "", dirErr("include", "tail=%s: expected a number of lines from 0 to 1000000", v)
			}
			tail = n
		default:
			return "", dirErr("include", "unknown option %q (known: tail=LINES)", o)
		}
	}
	f, size, err := x.openInclude("include", path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var text string
	if tail >= 0 {
		text, err = readTail(f, size, tail)
	} else {
		text, err = readWhole("include", path, f, size)
	}
	if err != nil {
		return "", &directiveError{"include", fmt.Errorf("%s: %w", path, err)}
	}
	return trimNewline(text), nil
}

// render expands another template file with the same values and inserts
// its output without one trailing line break: {{render "footer.tmpl"}}.
// The file is body text with directives (no front matter, no header
// section); chunks it defines stay defined after it. Its own paths (include,
// render, attach, the directory of sh) are relative to its directory, and
// errors in it are reported at its own FILE:LINE:COL. A file that renders
// itself, directly or not, is an error naming the chain.
func (x *expansion) render(path string) (string, error) {
	f, size, err := x.openInclude("render", path)
	if err != nil {
		return "", err
	}
	src, err := readWhole("render", path, f, size)
	f.Close()
	if err != nil {
		return "", &directiveError{"render", fmt.Errorf("%s: %w", path, err)}
	}
	name := x.includePath(path)

	chain := x.renders
	if len(chain) == 0 {
		chain = []string{x.t.name}
	}
	abs := absPath(name)
	for i, c := range chain {
		if absPath(c) == abs {
			cycle := append(append([]string{}, chain[i:]...), name)
			return "", dirErr("render", "cycle: %s", strings.Join(cycle, " -> "))
		}
	}
	if len(chain) >= maxRenderDepth {
		return "", dirErr("render", "more than %d nested renders", maxRenderDepth)
	}

	sub, err := parseFragment(name, src)
	if err != nil {
		return "", err
	}
	if x.opts.NoShell {
		if err := sub.checkNoShell(); err != nil {
			return "", err
		}
	}
	set, err := sub.set.Clone()
	if err != nil {
		return "", &directiveError{"render", err}
	}
	set.Funcs(x.funcs)

	saved, savedRenders := x.t, x.renders
	x.t, x.renders = sub, append(chain[:len(chain):len(chain)], name)
	defer func() { x.t, x.renders = saved, savedRenders }()

	var buf strings.Builder
	w := &limitedWriter{w: &buf, n: maxPieceOutput}
	p := &sub.pieces[0]
	if err := set.Lookup(p.name).Execute(w, x.vals); err != nil {
		if w.n < 0 {
			return "", &Error{File: sub.name, Line: 1, Col: 1, Err: fmt.Errorf("output exceeds %d MiB", maxPieceOutput>>20)}
		}
		return "", sub.convertError(err)
	}
	return trimNewline(buf.String()), nil
}

// parseFragment parses a file for render: all of it is one piece of text
// with directives.
func parseFragment(name, src string) (*Template, error) {
	t := &Template{
		name:    name,
		dir:     filepath.Dir(name),
		sources: map[string]string{},
		prefix:  "mailscript." + randomID()[:16] + ".",
	}
	t.set = template.New("mailscript").Option("missingkey=error").Funcs(stubFuncs)
	i, err := t.addPiece(piece{line: 1, col: 1}, strings.TrimPrefix(src, "\ufeff"), false)
	if err != nil {
		return nil, err
	}
	t.items = []item{{kind: itemBody, pieces: []int{i}, line: 1, col: 1}}
	return t, t.finishParse()
}

// includePath returns the path of a file named by a directive: relative
// paths are relative to the directory of the file being expanded.
func (x *expansion) includePath(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(x.t.dir, path)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// openInclude opens a regular file for include or render, inside the
// include root when there is one (see checkRoot).
func (x *expansion) openInclude(directive, path string) (*os.File, int64, error) {
	if path == "" {
		return nil, 0, dirErr(directive, "empty path")
	}
	if strings.IndexByte(path, 0) >= 0 {
		return nil, 0, dirErr(directive, "invalid path %q", path)
	}
	full := x.includePath(path)
	fail := func(err error) (*os.File, int64, error) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, 0, &directiveError{directive, fmt.Errorf("%s: %w", path, err)}
	}
	rel, err := x.checkRoot(directive, path, full)
	if err != nil {
		return nil, 0, err
	}
	// Stat first: opening a named pipe would block.
	fi, err := os.Stat(full)
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, dirErr(directive, "%s: not a regular file", path)
	}
	f, err := openInRoot(x.rootReal(), rel, full)
	if err != nil {
		return fail(err)
	}
	fi, err = f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, dirErr(directive, "%s: not a regular file", path)
	}
	return f, fi.Size(), nil
}

func readWhole(directive, path string, f *os.File, size int64) (string, error) {
	if size > maxIncludeSize {
		hint := ""
		if directive == "include" {
			hint = ` (include "tail=LINES" reads only the end)`
		}
		return "", fmt.Errorf("larger than %d MiB%s", maxIncludeSize>>20, hint)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxIncludeSize+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxIncludeSize {
		return "", fmt.Errorf("larger than %d MiB", maxIncludeSize>>20)
	}
	return string(b), nil
}

// tailBlock is how much readTail reads at a time, from the end.
const tailBlock = 64 << 10

// readTail returns the last n lines of the file (of size bytes), reading
// blocks backwards from the end: the cost is that of the lines returned,
// whatever the file's size. A final line break does not count as the start
// of a line.
func readTail(f io.ReaderAt, size int64, n int) (string, error) {
	if n == 0 || size == 0 {
		return "", nil
	}
	var chunks [][]byte // read blocks, last first
	total := 0
	end := size
	newlines := 0
	// skip one final line break when counting
	skipLast := true
	for end > 0 {
		start := max(0, end-tailBlock)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return "", err
		}
		for i := len(buf) - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				continue
			}
			if skipLast && start+int64(i) == size-1 {
				continue
			}
			newlines++
			if newlines == n {
				chunks = append(chunks, buf[i+1:])
				return joinReversed(chunks), nil
			}
		}
		skipLast = false
		chunks = append(chunks, buf)
		total += len(buf)
		if total > maxIncludeSize {
			return "", fmt.Errorf("the last %d lines are larger than %d MiB", n, maxIncludeSize>>20)
		}
		end = start
	}
	return joinReversed(chunks), nil // fewer than n lines: the whole file
}

func joinReversed(chunks [][]byte) string {
	var b bytes.Buffer
	for i := len(chunks) - 1; i >= 0; i-- {
		b.Write(chunks[i])
	}
	return b.String()
}
