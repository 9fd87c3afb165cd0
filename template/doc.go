// Package template turns a mailscript template file into raw RFC 5322/MIME
// messages.
//
// A template is a text file: optional YAML front matter between "---" lines,
// then the message itself, written like a .eml file: header fields, an empty
// line, the body. Front matter values, header field values and the body may
// contain directives written with Go's text/template syntax and a small
// function set named after the vocabulary of hand-made mail scripts:
//
//	{{chunk "name" "value"}}  define a named value (prints nothing)
//	{{chunk "name"}}          recall it (also {{.name}})
//	{{sh "date -R"}}          run a command through sh -c, insert its stdout
//	{{date}}                  the current date in RFC 5322 form
//	{{date "2006-01-02"}}     the current date in a Go layout
//	{{date "%F" "+7d"}}       strftime format, relative dates, time zones
//	{{get "name" "dflt"}}     a value, or a default when it is not defined
//	{{required "name"}}       a value that must be given and not be empty
//	{{env "HOME" "dflt"}}     an environment variable
//	{{include "sig.txt"}}     a text file, as it is ("tail=50" for a log's end)
//	{{render "footer.tmpl"}}  another template, expanded with the same values
//	{{.x | wrap 72}}          helpers: upper lower title trim default join split
//	                          indent wrap quote base64 html
//	{{attach "picture.jpg"}}  attach a file (the message becomes multipart/mixed);
//	                          also a glob: {{attach "artifacts/*.log"}}
//	{{inline "logo.png"}}     an image of the HTML part: prints its cid: URL
//	{{attach_cmd "cmd"}}      attach a command's output (streamed to a temporary file)
//	{{addr "Ann" .to}}        one address, the display name quoted or encoded as needed
//
// The body is plain text, HTML (Content-Type: text/html) or Markdown
// (Content-Type: text/markdown, sent as the Markdown text and the HTML that
// goldmark renders from it); a plain body may define an HTML alternative with
// {{define "html"}}...{{end}}. HTML is expanded with html/template, so values
// are escaped for their context. The message is text/plain, text/html,
// multipart/alternative, with multipart/related for inline images and
// multipart/mixed for attachments, nested as needed.
//
// The life cycle follows the data flow of a mail merge: [Parse] or [ParseFile]
// once (syntax and front matter errors are reported here, with positions);
// [Template.Expand] once per message (every directive runs and everything that
// can fail fails here, before a byte is sent); [Message.WriteTo] streams the
// message, as many times as needed, with identical bytes each time;
// [Message.Close] removes the temporary files it may hold.
// A [Template] is immutable and safe for concurrent use by several Expand calls.
//
// Every error returned by this package is an [*Error] carrying the file, line
// and column it refers to.
//
// A template is a program: sh runs commands, and include, render, attach and
// inline read files. For a template you do not fully trust, set
// [Options.NoShell] and confine the files it may read with
// [Options.IncludeRoot] or [Options.ConfineToTemplateDir]: a file outside the
// root, symbolic links resolved, is an error wrapping [ErrOutsideRoot].
//
// Header fields mailscript writes have their conventional spelling
// (MIME-Version, Message-ID, Content-ID); a field written in the template
// keeps the template's spelling.
//
// The output follows RFC 5322 (Internet Message Format), RFC 2045 and 2046
// (MIME bodies, transfer encodings, multipart/mixed and /alternative), RFC
// 2047 (non-ASCII header text), RFC 2183 and 2231 (Content-Disposition and
// non-ASCII file names), RFC 2387 and 2392 (multipart/related, Content-ID and
// cid: URLs). It contains
// CRLF line endings only, never a bare CR or LF, and no line longer than 998
// octets. Dot-stuffing is left to the SMTP layer.
//
// The template syntax is documented in docs/templates.md.
package template
