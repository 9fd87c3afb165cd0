package template

import (
	"bytes"
	"html"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// markdown renders CommonMark with the GitHub extensions (tables,
// strikethrough, autolinks, task lists). Raw HTML is not passed through: it
// is shown as text, so that neither the template nor a value can put markup
// (a <script>, a <form>...) into the HTML part.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(rawHTMLAsText{}, 100))),
)

// rawHTMLAsText renders raw HTML (inline and blocks) escaped, as text.
type rawHTMLAsText struct{}

func (rawHTMLAsText) RegisterFuncs(r renderer.NodeRendererFuncRegisterer) {
	r.Register(ast.KindRawHTML, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			segs := n.(*ast.RawHTML).Segments
			for i := range segs.Len() {
				s := segs.At(i)
				w.WriteString(html.EscapeString(string(s.Value(src))))
			}
		}
		return ast.WalkSkipChildren, nil
	})
	r.Register(ast.KindHTMLBlock, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		b := n.(*ast.HTMLBlock)
		if entering {
			w.WriteString("<p>")
			lines := b.Lines()
			for i := range lines.Len() {
				s := lines.At(i)
				w.WriteString(html.EscapeString(string(s.Value(src))))
			}
		} else {
			if b.HasClosure() {
				w.WriteString(html.EscapeString(string(b.ClosureLine.Value(src))))
			}
			w.WriteString("</p>\n")
		}
		return ast.WalkContinue, nil
	})
}

const (
	markdownHead = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n</head>\n<body>\n"
	markdownTail = "</body>\n</html>\n"
)

// renderMarkdown renders a Markdown body to an HTML document.
func renderMarkdown(src string) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(src)*5/4 + len(markdownHead) + len(markdownTail))
	b.WriteString(markdownHead)
	if err := markdown.Convert([]byte(src), &b); err != nil {
		return nil, err
	}
	b.WriteString(markdownTail)
	return b.Bytes(), nil
}
