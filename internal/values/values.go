// Package values gives the values decoded from YAML and JSON one shape,
// whether they come from a values file (template.LoadValues) or from the
// rows of a batch's data file (batch/data), so that a template sees the
// same types whatever the source:
//
//   - maps are map[string]any (YAML may decode a map as map[any]any: its
//     keys are formatted with fmt.Sprint);
//   - lists are []any;
//   - integers are int64 (YAML's int, JSON's json.Number), larger ones
//     float64; other numbers float64;
//   - YAML timestamps (2024-01-02) stay the strings they are written as.
//
// Strings, booleans and nil are left as they are.
package values

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Normalize returns v in the shape described in the package comment. Maps
// and lists are changed in place; a map[any]any is replaced by a new
// map[string]any.
func Normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = Normalize(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = Normalize(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = Normalize(e)
		}
		return v
	case int:
		return int64(v)
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
		return float64(v)
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	}
	return v
}

// KeepTimestamps retags the YAML timestamps (2024-01-02) under n as
// strings, so that decoding n gives the text as written rather than a
// time.Time.
func KeepTimestamps(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		KeepTimestamps(c)
	}
}

// yamlLineRE matches the errors of yaml.v3 that name a line, syntax errors
// ("yaml: line 3: ...") and decoding errors ("yaml: unmarshal errors:\n
// line 3: ...").
var yamlLineRE = regexp.MustCompile(`^yaml: (?:unmarshal errors:\n\s*)?line (\d+): (.*)$`)

// YAMLErrorLine splits an error of yaml.v3 into the 1-based line it names
// and the message after it. ok is false when the error names no line.
func YAMLErrorLine(err error) (line int, msg string, ok bool) {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, "", false
	}
	return n, m[2], true
}
