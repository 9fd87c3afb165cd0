package filter

import (
	"reflect"
	"testing"
)

var row = map[string]any{
	"email":      "ann@example.org",
	"team":       "ops",
	"age":        "42",
	"score":      int64(7),
	"ratio":      0.5,
	"vip":        "true",
	"active":     true,
	"empty":      "",
	"tags":       []any{"beta", "eu", int64(3)},
	"address":    map[string]any{"country": "FR", "city": "Lyon", "zip": "69001"},
	"a.b":        "dotted column",
	"first name": "Ann",
	"nothing":    nil,
	"ms_status":  "failed",
	"mailscript": map[string]any{"status": "failed", "code": int64(550)},
}

func TestMatch(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{`team == "ops"`, true},
		{`team != "ops"`, false},
		{`team == 'ops'`, true},
		{`age == 42`, true},
		{`age == "42"`, true},
		{`age > 30 && age <= 42`, true},
		{`age < 9`, false}, // numeric, not text
		{`score >= 7.0`, true},
		{`score == "7"`, true},
		{`ratio < 1`, true},
		{`ratio == 0.50`, true},
		{`-1 < ratio`, true},
		{`email =~ "@example\\.org$"`, true},
		{`email =~ "@example\.org$"`, true},
		{`score =~ "^7$"`, true},
		{`email =~ "^bob"`, false},
		{`team < "zz"`, true},
		{`vip`, true},
		{`vip && active`, true},
		{`!vip || team == "ops"`, true},
		{`!(team == "ops")`, false},
		{`!!active`, true},
		{`team in ["dev", "ops"]`, true},
		{`team in []`, false},
		{`score in [1, 7]`, true},
		{`age in [42]`, true},
		{`tags contains "beta"`, true},
		{`tags contains 3`, true},
		{`tags contains "x"`, false},
		{`email contains "example"`, true},
		{`address contains "zip"`, true},
		{`address.country == "FR"`, true},
		{`address.zip >= 69000`, true},
		{`a.b == "dotted column"`, true},
		{"`first name` == \"Ann\"", true},
		{`has(missing) && missing == 1`, false},
		{`has(address.city)`, true},
		{`has(address.nope)`, false},
		{`has(team.x)`, false},
		{`nothing == null`, true},
		{`empty == ""`, true},
		{`empty == 0`, false},
		{`active == "true"`, true},
		{`vip == true`, true},
		{`team == 1`, false},
		{`ms_status == "failed"`, true},
		{`mailscript.status == "failed" && mailscript.code >= 500`, true},
		{`(team == "dev" || team == "ops") && (age > 40)`, true},
		{`false && missing`, false}, // short circuit
		{`true || missing`, true},
		{`score == 7e0`, true},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.expr, err)
			continue
		}
		got, err := e.Match(row)
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.expr, got, err, tt.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`tema == "ops"`, `filter: column 1: no field "tema" in this row`},
		{`team == "ops" && agee > 3`, `filter: column 18: no field "agee" in this row`},
		{`email > 3`, `filter: column 1: > compares numbers: field "email" is the string "ann@example.org", not a number`},
		{`empty < 3`, `filter: column 1: < compares numbers: field "empty" is the string "", not a number`},
		{`active < true`, `filter: column 8: < cannot order a boolean and a boolean`},
		{`team`, `filter: column 1: a condition must be true or false, this is the string "ops"`},
		{`score && true`, `filter: column 1: a condition must be true or false, this is a number`},
		{`tags =~ "x"`, `filter: column 1: =~ wants text, field "tags" is a list`},
		{`score contains "x"`, `filter: column 1: contains wants a string, a list or a map; field "score" is a number`},
		{`team.x == 1`, `filter: column 1: field "team" is the string "ops", not a map`},
		{`address.nope == 1`, `filter: column 1: no field "address.nope" in this row`},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.expr, err)
			continue
		}
		_, err = e.Match(row)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v\nwant %s", tt.expr, err, tt.want)
		}
		if _, ok := err.(*EvalError); !ok {
			t.Errorf("%s: error is %T", tt.expr, err)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		expr string
		col  int
		msg  string
	}{
		{``, 1, "empty expression"},
		{`team = "ops"`, 6, "unexpected '=' (did you mean '=='?)"},
		{`team == "ops`, 9, "string not terminated"},
		{`team == `, 9, "expected a field, a literal or '(', found end of expression"},
		{`(team == "a"`, 13, "expected ')' to close the '(' at column 1, found end of expression"},
		{`a == 1 == 2`, 8, `unexpected "=="`},
		{`a & b`, 3, `unexpected '&' (did you mean "&&"?)`},
		{`a =~ b`, 6, `=~ wants a string literal holding a regular expression, found field "b"`},
		{`a =~ "("`, 6, "bad regular expression: missing closing ): `(`"},
		{`a in "x"`, 6, `in wants a list: ["a", "b"], found string "x"`},
		{`a in [1 2]`, 9, `expected ',' or ']' in list, found "2"`},
		{`a in [b]`, 7, `a list holds literals (strings, numbers, true, false, null), found field "b"`},
		{`12abc == 1`, 1, "bad number"},
		{`a. == 1`, 4, `expected a field name, found "=="`},
		{`has(1)`, 5, `expected a field name, found "1"`},
		{"`` == 1", 1, "empty field name"},
		{`é == 1 && ü ?`, 13, `unexpected '?'`},
		{`x == 99999999999999999999999999e999999`, 6, "number out of range"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		se, ok := err.(*SyntaxError)
		if !ok || se.Col != tt.col || se.Msg != tt.msg {
			t.Errorf("Parse(%s) = %#v, want column %d %q", tt.expr, err, tt.col, tt.msg)
		}
	}
}

func TestFields(t *testing.T) {
	e, err := Parse("a == 1 && (b.c > 2 || a < 3) && has(d) && `e f` in [1]")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Fields(), []string{"a", "b.c", "d", "e f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Fields = %q, want %q", got, want)
	}
	if e.String() == "" {
		t.Error("String is empty")
	}
}

func TestDeepNesting(t *testing.T) {
	deep := ""
	for i := 0; i < 10000; i++ {
		deep += "("
	}
	if _, err := Parse(deep + "a"); err == nil {
		t.Fatal("no error for deep nesting")
	}
	bangs := ""
	for i := 0; i < 10000; i++ {
		bangs += "!"
	}
	if _, err := Parse(bangs + "a"); err == nil {
		t.Fatal("no error for deep negation")
	}
}
