// Package filter implements the small expression language of --filter, which
// selects the rows of a batch:
//
//	team == "ops" && !(status in ["left", "retired"])
//	age >= 30 || email =~ "@example\\.org$"
//	tags contains "beta" && address.country != "FR"
//
// It is parsed into a tree and evaluated against each row's values; nothing is
// evaluated by a shell or by Go, and the cost per row is bounded by the size of
// the expression (regular expressions are Go's RE2: linear time).
//
// # Syntax
//
//	expr     = or
//	or       = and { "||" and }
//	and      = unary { "&&" unary }
//	unary    = "!" unary | compare
//	compare  = operand [ op operand | "in" list | "contains" operand ]
//	op       = "==" | "!=" | "<" | "<=" | ">" | ">=" | "=~"
//	operand  = literal | field | "has(" field ")" | "(" expr ")"
//	list     = "[" [ literal { "," literal } ] "]"
//	literal  = string | number | "true" | "false" | "null"
//	field    = name { "." name }
//
// A name is letters, digits, '_' and '-', not starting with a digit or '-';
// any other field name is written between backquotes: `first name`. A dotted
// field a.b looks up the key "a.b" first (a CSV column may be called that),
// then key "b" inside the map "a". Strings are written in double quotes with
// Go's escapes, or in single quotes without escapes ('a\b' is three
// characters). Numbers are decimal, optionally signed, with an optional
// fraction and exponent. The keywords (in, contains, has, true, false, null)
// are case-sensitive.
//
// # Semantics
//
// CSV fields are strings, JSON and YAML values keep their types. Comparisons
// convert where the intent is clear:
//
//   - == and != compare numerically when one side is a number and the other a
//     number or a string that parses as one ("42" == 42), as text when both are
//     strings, booleans with booleans or with the strings strconv.ParseBool
//     accepts; values of different kinds are unequal (no error).
//   - < <= > >= compare numerically when either side is a number (the other
//     must then be a number or a numeric string, else it is an error), as text
//     (byte-wise) when both are strings; anything else is an error.
//   - a =~ "re" matches the text of a (numbers and booleans are formatted)
//     against the Go regular expression re, which must be a string literal and
//     is compiled once; it is unanchored.
//   - a contains b: substring when a is a string; element equal to b (with ==)
//     when a is a list; key b when a is a map.
//   - a in [..]: a equals (with ==) one of the listed literals.
//   - && || ! take booleans: true and false, or strings strconv.ParseBool
//     accepts ("true", "1", "F", ...); a field alone is a condition (vip).
//     && and || short-circuit.
//
// A field missing from the row is an error that names the field: a typo in a
// field name then fails loudly instead of silently selecting nothing. Where a
// field is optional (JSON Lines), test it first: has(x) && x == "a".
// [Expr.Fields] lists the fields an expression uses, so a caller can check
// them against a CSV header before reading any row.
//
// Parse errors are [*SyntaxError] values with the 1-based column (in
// characters); evaluation errors are [*EvalError] values with the column of
// the operand or operator at fault.
package filter
