package template

import "net/textproto"

// conventionalNames are the header field names whose usual spelling is not
// the one textproto.CanonicalMIMEHeaderKey makes (the first letter and
// each letter after a hyphen in upper case, the rest in lower case):
// acronyms. Keys are canonical. The spellings are those of the RFCs that define the fields
// (RFC 5322, 2045, 2392, 1864, 4870, 6376, 7208, 8617, 8460, 8689,
// 6758, 5518, 9477...). List-Id keeps its RFC 2919 spelling.
var conventionalNames = map[string]string{
	"Message-Id":                 "Message-ID",
	"Resent-Message-Id":          "Resent-Message-ID",
	"Original-Message-Id":        "Original-Message-ID",
	"Mime-Version":               "MIME-Version",
	"Content-Id":                 "Content-ID",
	"Content-Md5":                "Content-MD5",
	"Dkim-Signature":             "DKIM-Signature",
	"Domainkey-Signature":        "DomainKey-Signature",
	"Arc-Seal":                   "ARC-Seal",
	"Arc-Message-Signature":      "ARC-Message-Signature",
	"Arc-Authentication-Results": "ARC-Authentication-Results",
	"Received-Spf":               "Received-SPF",
	"Tls-Required":               "TLS-Required",
	"Tls-Report-Domain":          "TLS-Report-Domain",
	"Tls-Report-Submitter":       "TLS-Report-Submitter",
	"Mt-Priority":                "MT-Priority",
	"Vbr-Info":                   "VBR-Info",
	"Cfbl-Address":               "CFBL-Address",
	"Cfbl-Feedback-Id":           "CFBL-Feedback-ID",
	"Feedback-Id":                "Feedback-ID",
}

// fieldName returns the conventional spelling of a header field name:
// MIME-Version, Message-ID, Content-ID, DKIM-Signature... for the fields of
// conventionalNames, the canonical form (Content-Transfer-Encoding,
// In-Reply-To, X-Priority) for the others.
func fieldName(name string) string {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if c, ok := conventionalNames[canon]; ok {
		return c
	}
	return canon
}
