package template

import (
	"fmt"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
)

// nodes visits every node in source order, in branches, pipelines,
// declarations, chains and {{template}} arguments, and stops when asked.
func TestNodes(t *testing.T) {
	tests := []struct {
		src  string
		want string // the identifiers, text and template calls visited, in order
	}{
		{`a{{f}}b`, `"a" f "b"`},
		{`{{if f}}x{{else if g}}y{{else}}z{{end}}`, `f "x" g "y" "z"`},
		{`{{range $i, $e := f 1}}{{g $e}}{{else}}{{h}}{{end}}`, `f g h`},
		{`{{with $x := (f | g)}}{{h}}{{end}}`, `f g h`},
		{`{{(f).X}} {{template "t" g}}`, `f " " template:t g`},
		{`{{define "t"}}{{f}}{{end}}`, ``}, // defines are their own trees
		{`{{/* c */}}{{break_ }}`, `break_`},
	}
	funcs := template.FuncMap{}
	for _, n := range []string{"f", "g", "h", "break_"} {
		funcs[n] = func(...any) any { return nil }
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tm, err := template.New("x").Funcs(funcs).Parse(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for n := range nodes(tm.Tree.Root) {
				switch n := n.(type) {
				case *parse.IdentifierNode:
					got = append(got, n.Ident)
				case *parse.TextNode:
					got = append(got, fmt.Sprintf("%q", n.Text))
				case *parse.TemplateNode:
					got = append(got, "template:"+n.Name)
				}
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("visited %s\nwant    %s", s, tt.want)
			}
			// Breaking out after the first node visits nothing more.
			count := 0
			for range nodes(tm.Tree.Root) {
				count++
				break
			}
			if count != 1 {
				t.Errorf("visited %d nodes after a break", count)
			}
		})
	}
	for range nodes(nil) {
		t.Error("a nil node has nodes")
	}
	var empty *parse.ListNode
	for range nodes(empty) {
		t.Error("a nil list has nodes")
	}
}
