package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/mailscript/mailscript/internal/values"
)

// yamlDecoder streams a YAML file item by item without a YAML parser for the
// whole file: it splits the text into chunks and decodes each chunk alone.
//
// Two layouts are recognised from the first content line:
//
//   - a block sequence ("- name: Ann"): a chunk starts at each line that
//     begins with "-" followed by a space (or nothing) at the indentation of
//     the first item;
//   - documents separated by "---" lines, each document a map.
//
// Because each chunk is decoded alone, an alias (*name) cannot refer to an
// anchor in another item, and a flow collection ("[...]") must not continue
// onto a line that looks like the start of an item.
type yamlDecoder struct {
	name string
	br   *bufio.Reader
	buf  []byte

	mode   int // 0 undecided, 1 list, 2 documents
	indent int // the list's indentation
	line   int // lines read so far
	num    int
	done   bool

	pending      []byte // a line read ahead (the start of the next chunk)
	pendingValid bool
	chunk        []byte
}

const (
	yamlUndecided = iota
	yamlList
	yamlDocs
)

func newYAML(br *bufio.Reader, name string) *yamlDecoder {
	return &yamlDecoder{name: name, br: br}
}

// nextLine returns the next line including its line end, or io.EOF.
func (d *yamlDecoder) nextLine() ([]byte, error) {
	if d.pendingValid {
		d.pendingValid = false
		d.line++
		return d.pending, nil
	}
	b, err := d.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		d.buf = append(d.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(d.buf) > maxRecord {
				return nil, fmt.Errorf("line longer than %d MiB", maxRecord>>20)
			}
			b, err = d.br.ReadSlice('\n')
			d.buf = append(d.buf, b...)
		}
		b = d.buf
	}
	if err == io.EOF && len(b) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	d.line++
	return b, nil
}

// unread pushes back a line; it is copied since the buffer is reused.
func (d *yamlDecoder) unread(b []byte) {
	d.pending = append(d.pending[:0], b...)
	d.pendingValid = true
	d.line--
}

func isBlankOrComment(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || t[0] == '#'
}

// marker reports whether the line is a document marker ("---" or "...").
func marker(b []byte, m string) bool {
	if !bytes.HasPrefix(b, []byte(m)) {
		return false
	}
	rest := b[len(m):]
	return len(bytes.TrimSpace(rest)) == 0 || rest[0] == ' ' && bytes.TrimSpace(rest)[0] == '#'
}

// itemIndent returns the indentation of a line that starts a sequence item,
// or -1.
func itemIndent(b []byte) int {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i < len(b) && b[i] == '-' && (i+1 == len(b) || b[i+1] == ' ' || b[i+1] == '\n' || b[i+1] == '\r') {
		return i
	}
	return -1
}

func (d *yamlDecoder) errorf(row, line int, format string, args ...any) error {
	return &Error{File: d.name, Row: row, Line: line, Err: fmt.Errorf("YAML: "+format, args...)}
}

func (d *yamlDecoder) next() (Row, error) {
	for {
		if d.done {
			return Row{}, io.EOF
		}
		chunk, start, err := d.readChunk()
		if err != nil {
			return Row{}, err
		}
		if chunk == nil {
			d.done = true
			return Row{}, io.EOF
		}
		if d.mode == yamlDocs && isBlankDoc(chunk) {
			continue
		}
		d.num++
		v, err := d.decodeChunk(chunk, start)
		if err != nil {
			return Row{}, err
		}
		return Row{Num: d.num, Line: start, Values: v}, nil
	}
}

func isBlankDoc(chunk []byte) bool {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			i = len(chunk) - 1
		}
		if !isBlankOrComment(chunk[:i+1]) {
			return false
		}
		chunk = chunk[i+1:]
	}
	return true
}

// readChunk returns the text of the next item and its first line, or a nil
// chunk at the end.
func (d *yamlDecoder) readChunk() ([]byte, int, error) {
	d.chunk = d.chunk[:0]
	startLine := 0
	for {
		b, err := d.nextLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, d.errorf(d.num+1, d.line+1, "%v", err)
		}
		switch d.mode {
		case yamlUndecided:
			if isBlankOrComment(b) || bytes.HasPrefix(b, []byte("%")) || marker(b, "---") {
				continue
			}
			if n := itemIndent(b); n >= 0 {
				d.mode, d.indent = yamlList, n
			} else if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
				return nil, 0, d.errorf(0, d.line, "a flow sequence ([...]) cannot be streamed; write one \"- \" item per row")
			} else {
				d.mode = yamlDocs
			}
			d.unread(b)
			continue
		case yamlList:
			if marker(b, "...") {
				d.done = true
				return d.finish(startLine)
			}
			if marker(b, "---") {
				return nil, 0, d.errorf(0, d.line, "a second YAML document after the list")
			}
			if len(d.chunk) == 0 && isBlankOrComment(b) {
				continue
			}
			n := itemIndent(b)
			if len(d.chunk) == 0 {
				if n != d.indent {
					return nil, 0, d.errorf(d.num+1, d.line, "expected a list item (\"- \") at column %d", d.indent+1)
				}
				startLine = d.line
			} else if n == d.indent {
				d.unread(b)
				return d.finish(startLine)
			} else if !isBlankOrComment(b) && indentOf(b) < d.indent {
				return nil, 0, d.errorf(d.num+1, d.line, "expected a list item (\"- \") at column %d", d.indent+1)
			}
		case yamlDocs:
			if marker(b, "---") {
				if len(d.chunk) == 0 {
					continue
				}
				return d.finish(startLine)
			}
			if marker(b, "...") {
				if len(d.chunk) == 0 {
					continue
				}
				return d.finish(startLine)
			}
			if len(d.chunk) == 0 {
				if isBlankOrComment(b) || bytes.HasPrefix(b, []byte("%")) {
					continue
				}
				startLine = d.line
			}
		}
		if len(d.chunk)+len(b) > maxRecord {
			return nil, 0, d.errorf(d.num+1, startLine, "item longer than %d MiB", maxRecord>>20)
		}
		d.chunk = append(d.chunk, b...)
	}
	d.done = true
	return d.finish(startLine)
}

func (d *yamlDecoder) finish(startLine int) ([]byte, int, error) {
	if len(d.chunk) == 0 {
		return nil, 0, nil
	}
	return d.chunk, startLine, nil
}

func indentOf(b []byte) int {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}

// decodeChunk decodes one item; start is the chunk's first line in the file.
func (d *yamlDecoder) decodeChunk(chunk []byte, start int) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(chunk, &doc); err != nil {
		e := &Error{File: d.name, Row: d.num, Line: start, RowOnly: true}
		if n, msg, ok := values.YAMLErrorLine(err); ok {
			e.Line = start + n - 1
			e.Err = fmt.Errorf("YAML: %s", msg)
		} else {
			e.Err = fmt.Errorf("YAML: %s", bytes.TrimPrefix([]byte(err.Error()), []byte("yaml: ")))
		}
		return nil, e
	}
	node := &doc
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if d.mode == yamlList {
		if node.Kind != yaml.SequenceNode || len(node.Content) != 1 {
			return nil, &Error{File: d.name, Row: d.num, Line: start, RowOnly: true, Err: errors.New("YAML: cannot split the list into items here")}
		}
		node = node.Content[0]
	}
	if node.Kind != yaml.MappingNode {
		return nil, &Error{File: d.name, Row: d.num, Line: node.Line + start - 1, RowOnly: true,
			Err: fmt.Errorf("YAML: %s, not a map", yamlKind(node))}
	}
	values.KeepTimestamps(node)
	var m map[string]any
	if err := node.Decode(&m); err != nil {
		return nil, &Error{File: d.name, Row: d.num, Line: start, RowOnly: true, Err: fmt.Errorf("YAML: %v", err)}
	}
	if m == nil {
		m = map[string]any{}
	}
	return values.Normalize(m).(map[string]any), nil
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "not a map"
}
