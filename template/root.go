package template

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrOutsideRoot is wrapped by the error of a directive that names a file
// outside the directory files may be read from: Options.IncludeRoot, or
// the template's directory with Options.ConfineToTemplateDir. It does not
// wrap fs.ErrNotExist: the file may well exist.
var ErrOutsideRoot = errors.New("outside the include root")

// rootError is the error of a file outside the include root.
type rootError struct {
	path   string // the path as the template wrote it
	target string // where a symbolic link leads, "" when the path itself is outside
	root   string // the include root, absolute
}

func (e *rootError) Error() string {
	if e.target != "" {
		return fmt.Sprintf("%s: a symbolic link to %s, %v %s", e.path, e.target, ErrOutsideRoot, e.root)
	}
	return fmt.Sprintf("%s: %v %s", e.path, ErrOutsideRoot, e.root)
}

func (e *rootError) Unwrap() error { return ErrOutsideRoot }

// fileRoot is the directory that include, render, attach and inline are
// confined to during one expansion.
type fileRoot struct {
	dir  string // absolute, as given (shown in errors)
	real string // dir with its symbolic links resolved, once known
	err  error  // the error resolving dir
	done bool   // real or err is known
}

// newFileRoot returns the root of an expansion of t with opts, nil when
// file directives are not confined.
func newFileRoot(t *Template, opts Options) *fileRoot {
	switch {
	case opts.IncludeRoot != "":
		return &fileRoot{dir: absPath(opts.IncludeRoot)}
	case opts.ConfineToTemplateDir:
		return &fileRoot{dir: absPath(t.dir)}
	}
	return nil
}

// resolve returns the root with its symbolic links resolved.
func (r *fileRoot) resolve() (string, error) {
	if !r.done {
		r.done = true
		r.real, r.err = filepath.EvalSymlinks(r.dir)
		if r.err == nil {
			var fi os.FileInfo
			if fi, r.err = os.Stat(r.real); r.err == nil && !fi.IsDir() {
				r.err = errors.New("not a directory")
			}
		}
		if r.err != nil {
			var pe *fs.PathError
			if errors.As(r.err, &pe) {
				r.err = pe.Err
			}
			r.err = fmt.Errorf("include root %s: %w", r.dir, r.err)
		}
	}
	return r.real, r.err
}

// within reports whether the absolute path p is dir or under it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}

// checkRoot refuses a file outside the expansion's root (none: nil). file
// is the path resolved from the template's directory, shown the path as
// the template wrote it (for the error). The check is made on the file's
// real path, its symbolic links resolved, so that a link inside the root
// cannot lead outside it. It returns the file's path relative to the
// resolved root, for openInRoot: opening through it also refuses a link
// that was changed to lead outside after the check.
//
// A file that does not exist (or cannot be resolved) passes when its path
// is inside the root: opening it reports the error. Its path outside the
// root is refused, so that a template cannot probe which files exist
// outside.
func (x *expansion) checkRoot(directive, shown, file string) (rel string, err error) {
	r := x.root
	if r == nil {
		return "", nil
	}
	rootReal, err := r.resolve()
	if err != nil {
		return "", &directiveError{directive, err}
	}
	abs := absPath(file)
	real, err := filepath.EvalSymlinks(abs)
	switch {
	case err == nil && within(rootReal, real):
		rel, _ = filepath.Rel(rootReal, real)
		return rel, nil
	case err == nil:
		re := &rootError{path: shown, root: r.dir}
		if !within(r.dir, abs) && !within(rootReal, abs) {
			return "", &directiveError{directive, re}
		}
		re.target = real
		return "", &directiveError{directive, re}
	case within(rootReal, abs):
		rel, _ = filepath.Rel(rootReal, abs)
		return rel, nil
	case within(r.dir, abs):
		rel, _ = filepath.Rel(r.dir, abs)
		return rel, nil
	}
	return "", &directiveError{directive, &rootError{path: shown, root: r.dir}}
}

// checkPatternRoot refuses a glob pattern (shown as the template wrote
// it, resolved to pattern) whose path is outside the expansion's root, as
// checkRoot would refuse a file there. A pattern's metacharacters match
// inside one path element, never "..": a pattern inside the root matches
// files inside it only (but for symbolic links, which checkRoot refuses).
func (x *expansion) checkPatternRoot(directive, shown, pattern string) error {
	r := x.root
	if r == nil {
		return nil
	}
	rootReal, err := r.resolve()
	if err != nil {
		return &directiveError{directive, err}
	}
	abs := absPath(pattern)
	if within(r.dir, abs) || within(rootReal, abs) {
		return nil
	}
	// The directory the pattern starts from, reached through a link
	// (the root's alias).
	dir := abs
	for isGlob(dir) {
		dir = filepath.Dir(dir)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil && within(rootReal, real) {
		return nil
	}
	return &directiveError{directive, &rootError{path: shown, root: r.dir}}
}

// openInRoot opens a file checked by checkRoot: file itself when root is
// "" (not confined), else rel inside root through os.OpenInRoot, which
// follows no symbolic link out of root.
func openInRoot(root, rel, file string) (*os.File, error) {
	if root == "" {
		return os.Open(file)
	}
	return os.OpenInRoot(root, rel)
}

// rootReal returns the expansion's resolved root, "" when not confined
// (checkRoot has resolved it before).
func (x *expansion) rootReal() string {
	if x.root == nil {
		return ""
	}
	real, _ := x.root.resolve()
	return real
}
