package selection

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is an inclusive range of data row numbers; Last == 0 means no upper
// bound.
type Range struct {
	First, Last int
}

// Ranges is the value of --rows; empty Ranges contain every row.
type Ranges []Range

// ParseRanges parses a comma-separated list of row numbers and ranges:
// "7", "5-10", "5-" (5 and after), "-10" (1 to 10), "1-3,8,20-".
func ParseRanges(s string) (Ranges, error) {
	var rs Ranges
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("rows %q: empty item", s)
		}
		lo, hi, isRange := strings.Cut(part, "-")
		var r Range
		var err error
		if r.First, err = rowNumber(lo, 1); err != nil {
			return nil, fmt.Errorf("rows %q: %v", s, err)
		}
		if !isRange {
			r.Last = r.First
		} else if r.Last, err = rowNumber(hi, 0); err != nil {
			return nil, fmt.Errorf("rows %q: %v", s, err)
		}
		if isRange && lo == "" && hi == "" {
			return nil, fmt.Errorf("rows %q: \"-\" needs a first or a last row", s)
		}
		if r.Last != 0 && r.Last < r.First {
			return nil, fmt.Errorf("rows %q: range %s ends before it starts", s, part)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// rowNumber parses a row number; an empty string gives def.
func rowNumber(s string, def int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a row number (1, 2, ...)", s)
	}
	return n, nil
}

// Contains reports whether row number n is in the ranges.
func (rs Ranges) Contains(n int) bool {
	if len(rs) == 0 {
		return true
	}
	for _, r := range rs {
		if n >= r.First && (r.Last == 0 || n <= r.Last) {
			return true
		}
	}
	return false
}

// Max returns the largest row number the ranges contain, and false when they
// have no upper bound (or are empty).
func (rs Ranges) Max() (int, bool) {
	m := 0
	for _, r := range rs {
		if r.Last == 0 {
			return 0, false
		}
		m = max(m, r.Last)
	}
	return m, len(rs) > 0
}

// String formats the ranges as ParseRanges reads them.
func (rs Ranges) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		switch {
		case r.First == r.Last:
			parts[i] = strconv.Itoa(r.First)
		case r.Last == 0:
			parts[i] = strconv.Itoa(r.First) + "-"
		default:
			parts[i] = strconv.Itoa(r.First) + "-" + strconv.Itoa(r.Last)
		}
	}
	return strings.Join(parts, ",")
}
