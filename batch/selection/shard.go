package selection

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mailscript/mailscript/batch/data"
)

// Shard is the value of --shard K/N: the K-th of N disjoint parts (1 <= K <= N).
// The zero Shard is the whole batch.
type Shard struct {
	K, N int
}

// ParseShard parses "K/N".
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(strings.TrimSpace(ks))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want K/N, e.g. 2/4", s)
	}
	if n < 1 || k < 1 || k > n {
		return Shard{}, fmt.Errorf("shard %q: want 1 <= K <= N", s)
	}
	return Shard{K: k, N: n}, nil
}

// String formats the shard as ParseShard reads it.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Contains reports whether the row with this key (see [Key]) belongs to the
// shard: fold(FNV-1a-64(key)) mod N == K-1, where fold xors the upper and
// lower 32 bits (see [Hash]).
func (s Shard) Contains(key string) bool {
	if s.N <= 1 {
		return true
	}
	return Hash(key)%uint64(s.N) == uint64(s.K-1)
}

// Hash is the shard hash of a key: the 64-bit FNV-1a hash, xor-folded to 32
// bits as FNV's authors recommend for smaller ranges. Folding matters: the
// low bits of FNV-1a depend only on the low bits of each input byte, so
// without it "mod 4" would split keys by their characters' values mod 4.
func Hash(key string) uint64 {
	h := fnv1a(key)
	return (h >> 32) ^ (h & 0xFFFFFFFF)
}

// fnv1a is the 64-bit FNV-1a hash of s (as hash/fnv.New64a, without allocating).
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// DefaultKeyColumns are the columns tried, in order and without regard to
// case, when no key column is given.
var DefaultKeyColumns = []string{"email", "to", "address"}

// Key returns the key that identifies a row for --shard and in the journal:
// the value of column when it is not empty (an error if the row lacks it),
// else of the first of DefaultKeyColumns the row has, else the row number
// written as "#N". Text is trimmed and lower-cased; a list's elements are
// joined with ","; other values are written as JSON.
func Key(row data.Row, column string) (string, error) {
	if column != "" {
		v, ok := row.Values[column]
		if !ok {
			return "", fmt.Errorf("no key column %q in this row", column)
		}
		return keyText(v), nil
	}
	for _, c := range DefaultKeyColumns {
		if v, ok := row.Values[c]; ok {
			return keyText(v), nil
		}
	}
	// Rare: a column named Email or TO. Take the smallest such name so the
	// choice does not depend on map order.
	found := ""
	for _, c := range DefaultKeyColumns {
		for k := range row.Values {
			if strings.EqualFold(k, c) && (found == "" || k < found) {
				found = k
			}
		}
		if found != "" {
			return keyText(row.Values[found]), nil
		}
	}
	return "#" + strconv.Itoa(row.Num), nil
}

func keyText(v any) string {
	switch v := v.(type) {
	case string:
		return strings.ToLower(strings.TrimSpace(v))
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = keyText(e)
		}
		return strings.Join(parts, ",")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
