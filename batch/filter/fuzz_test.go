package filter

import "testing"

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`team == "ops"`, `a.b >= -1.5e3 && !(c in [1, "x", true, null]) || d =~ "^x\\d+$"`,
		"has(`a b`.c) && tags contains 'x'", `((a))`, `a == "\u00e9\"`, `!`, `a in [`, `x =~ "("`,
	} {
		f.Add(s)
	}
	values := map[string]any{"a": map[string]any{"b": int64(3)}, "team": "ops", "c": "1", "d": "x12", "tags": []any{"x"}, "n": nil}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		if _, err := e.Match(values); err != nil {
			if _, ok := err.(*EvalError); !ok {
				t.Fatalf("error %T: %v", err, err)
			}
		}
		// The expression reparses from its own source.
		if _, err := Parse(e.String()); err != nil {
			t.Fatal(err)
		}
	})
}
