package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mailscript/mailscript/internal/values"
)

// maxValuesFile bounds the size of a values file.
const maxValuesFile = 64 << 20

// LoadValues reads a values file for Options.Values: a YAML document (or a
// JSON object, which is YAML too; a ".json" file is read as strict JSON)
// whose top level maps value names to values. Values may be strings,
// numbers, booleans, lists and maps, nested as deep as needed; top-level
// names follow the rules of chunk names (letters, digits and _, not starting
// with a digit). Values have the shape of the rows of a batch's data file
// (see package internal/values): maps always come back as map[string]any,
// lists as []any, integers as int64, other numbers as float64, YAML dates
// as the strings written. An empty file has no values.
//
// Errors are *Error values naming the file (and the line when known).
func LoadValues(path string) (map[string]any, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Err: fmt.Errorf("values: %w", err)}
	}
	if len(src) > maxValuesFile {
		return nil, &Error{File: path, Err: fmt.Errorf("values: file larger than %d MiB", maxValuesFile>>20)}
	}
	return parseValues(path, src)
}

func parseValues(path string, src []byte) (map[string]any, error) {
	var raw any
	if strings.EqualFold(filepath.Ext(path), ".json") {
		d := json.NewDecoder(bytes.NewReader(src))
		d.UseNumber()
		if err := d.Decode(&raw); err != nil {
			return nil, jsonValuesError(path, src, err)
		}
		if d.More() {
			off := d.InputOffset()
			line, col := offsetPos(src, int(off))
			return nil, &Error{File: path, Line: line, Col: col, Err: errors.New("values: more than one JSON value")}
		}
	} else {
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			if n, msg, ok := values.YAMLErrorLine(err); ok {
				return nil, &Error{File: path, Line: n, Col: 1, Err: fmt.Errorf("values: %s", msg)}
			}
			return nil, &Error{File: path, Err: fmt.Errorf("values: %s", strings.TrimPrefix(err.Error(), "yaml: "))}
		}
		if doc.Kind == 0 || len(doc.Content) == 0 {
			return map[string]any{}, nil
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return map[string]any{}, nil
		}
		if root.Kind != yaml.MappingNode {
			return nil, &Error{File: path, Line: root.Line, Col: root.Column, Err: errors.New("values: expected a map of names to values at the top level")}
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i]
			if !validName(k.Value) {
				return nil, &Error{File: path, Line: k.Line, Col: k.Column, Err: fmt.Errorf("values: invalid name %q (use letters, digits and _, not starting with a digit)", k.Value)}
			}
		}
		values.KeepTimestamps(root)
		if err := root.Decode(&raw); err != nil {
			return nil, &Error{File: path, Line: root.Line, Col: root.Column, Err: fmt.Errorf("values: %s", strings.TrimPrefix(err.Error(), "yaml: "))}
		}
	}
	if raw == nil {
		return map[string]any{}, nil
	}
	m, ok := values.Normalize(raw).(map[string]any)
	if !ok {
		return nil, &Error{File: path, Line: 1, Col: 1, Err: errors.New("values: expected a map of names to values at the top level")}
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !validName(k) {
			return nil, &Error{File: path, Err: fmt.Errorf("values: invalid name %q (use letters, digits and _, not starting with a digit)", k)}
		}
	}
	return m, nil
}

func jsonValuesError(path string, src []byte, err error) *Error {
	e := &Error{File: path, Err: fmt.Errorf("values: %w", err)}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		e.Line, e.Col = offsetPos(src, int(se.Offset)-1) // Offset is just past the bad byte
	case errors.As(err, &te):
		e.Line, e.Col = offsetPos(src, int(te.Offset))
	}
	return e
}

// offsetPos converts a byte offset in src to a 1-based line and column.
func offsetPos(src []byte, off int) (int, int) {
	off = max(0, min(off, len(src)))
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	col := off - (bytes.LastIndexByte(src[:off], '\n') + 1) + 1
	return line, col
}

// setValues copies Options.Values into the expansion (the maps and lists
// inside are shared, read only).
func (x *expansion) setValues() error {
	bad := "" // the first invalid name in sorted order, so that the error does not depend on map order
	for k, v := range x.opts.Values {
		if !validName(k) {
			if bad == "" || k < bad {
				bad = k
			}
			continue
		}
		x.vals[k] = v
	}
	if bad != "" {
		return &Error{File: x.t.name, Err: fmt.Errorf("invalid value name %q (use letters, digits and _, not starting with a digit)", bad)}
	}
	return nil
}

// checkRequired checks the front matter's required: list before anything
// runs: each name must be given by Options.Vars or Options.Values, and not
// be empty.
func (x *expansion) checkRequired() error {
	var missing []string
	first := -1
	for i, r := range x.t.required {
		if v, ok := x.vals[r.name]; ok && !isEmpty(v) {
			continue
		}
		if first < 0 {
			first = i
		}
		missing = append(missing, strconv.Quote(r.name))
	}
	if first < 0 {
		return nil
	}
	r := x.t.required[first]
	what := "value " + missing[0] + " is"
	if len(missing) > 1 {
		what = "values " + strings.Join(missing, ", ") + " are"
	}
	return &Error{File: x.t.name, Line: r.line, Col: r.col, Directive: "required",
		Err: fmt.Errorf("%s required and not given (pass --var %s=VALUE or put it in the values file)", what, r.name)}
}

// isEmpty reports whether v counts as empty for default and required: nil,
// an empty string, an empty list or map. Numbers and booleans are never
// empty.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case []string:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// lookupPath finds a value by name, or by a dotted path into nested maps
// ("build.url").
func (x *expansion) lookupPath(path string) (any, bool) {
	name, rest, dotted := strings.Cut(path, ".")
	v, ok := x.vals[name]
	for ok && dotted {
		var key string
		key, rest, dotted = strings.Cut(rest, ".")
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		v, ok = m[key]
	}
	return v, ok
}

// shellValue is how a value is passed to a command in the environment:
// scalars as text, lists and maps as JSON.
func shellValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case nil:
		return "", true
	case map[string]any, []any, []string:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return fmt.Sprint(v), true
}
