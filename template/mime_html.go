package template

import (
	"errors"
	htmltemplate "html/template"
	"io"
	"regexp"
	"strconv"
)

// htmlTemplates returns the expansion's html/template set: copies of the
// parsed templates, escaped by html/template for their HTML context when
// first executed, with the expansion's directives. The set is built on
// first use and kept with the bound text/template set (see boundSet), whose
// directives it shares.
func (x *expansion) htmlTemplates() (*htmltemplate.Template, error) {
	if x.mime.html != nil {
		return x.mime.html, nil
	}
	own := x.set != nil && x.set.t == x.t
	if own && x.set.html != nil {
		x.mime.html = x.set.html
		return x.mime.html, nil
	}
	h := htmltemplate.New(x.t.prefix + "html").Option("missingkey=error").Funcs(htmltemplate.FuncMap(x.funcs))
	for _, tt := range x.t.set.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		if _, err := h.AddParseTree(tt.Name(), tt.Tree.Copy()); err != nil {
			return nil, err
		}
	}
	x.mime.html = h
	if own {
		x.set.html = h
	}
	return h, nil
}

// execHTML executes the template name as HTML: every value printed is
// escaped for where it lands (text, attribute, URL, CSS, JavaScript), as
// html/template does. Values of type template.HTML, template.URL... (such
// as what inline returns) are trusted.
func (x *expansion) execHTML(name string, w io.Writer) error {
	h, err := x.htmlTemplates()
	if err != nil {
		return &Error{File: x.t.name, Err: err}
	}
	err = h.ExecuteTemplate(w, name, x.vals)
	var he *htmltemplate.Error
	if errors.As(err, &he) {
		return x.t.htmlError(he)
	}
	return err
}

// html/template:NAME:LINE:COL: DESCRIPTION or html/template:NAME:LINE: DESCRIPTION
var htmlErrRE = regexp.MustCompile(`(?s)^html/template:(\S+?):(\d+)(?::(\d+))?: (.*)$`)

// htmlError places an html/template escaping error (a value in a context
// that cannot be escaped, a branch that ends in another HTML context...).
func (t *Template) htmlError(he *htmltemplate.Error) *Error {
	e := &Error{File: t.name, Err: errors.New("HTML: " + he.Description)}
	if m := htmlErrRE.FindStringSubmatch(he.Error()); m != nil {
		e.Err = errors.New("HTML: " + m[4])
		if p := t.pieceNamed(m[1]); p != nil {
			line, _ := strconv.Atoi(m[2])
			off, _ := strconv.Atoi(m[3])
			e.Line, e.Col = p.pos(line, off)
		}
	}
	if e.Line == 0 {
		e.Line, e.Col = 1, 1
	}
	return e
}
