package inspect

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
)

// mask stands in for a credential wherever one would show.
const mask = "****"

// MinCredentialLen is the length below which an API key or a secret is too
// short to be a real one (such as the "k" and "s" of a quick try). The
// inspector masks such a credential only in the Authorization header, which
// it always masks: masked wherever it occurs, one letter would garble every
// path, product id and header on the page.
const MinCredentialLen = 8

// redactor replaces the API key and the secret, in every spelling a JSON
// string can give them, by mask. Everything the inspector shows passes
// through it.
type redactor struct {
	plain    []string
	patterns []*regexp.Regexp
}

// newRedactor returns a redactor of the credentials of at least
// MinCredentialLen bytes; shorter ones are left to maskAuthorization.
func newRedactor(creds ...string) *redactor {
	r := &redactor{}
	for _, c := range creds {
		if len(c) < MinCredentialLen {
			continue
		}
		r.plain = append(r.plain, c)
		r.patterns = append(r.patterns, jsonSpellingPattern(c))
	}
	return r
}

// redact returns s with every credential masked.
func (r *redactor) redact(s string) string {
	for i, c := range r.plain {
		if strings.Contains(s, c) {
			s = strings.ReplaceAll(s, c, mask)
		}
		if strings.Contains(s, `\`) {
			s = r.patterns[i].ReplaceAllLiteralString(s, mask)
		}
	}
	return s
}

// redactName returns a header name with every credential masked, matched
// regardless of case: net/http canonicalizes names, changing their case.
func (r *redactor) redactName(name string) string {
	for _, c := range r.plain {
		lower, lc := strings.ToLower(name), strings.ToLower(c)
		if len(lower) != len(name) || len(lc) != len(c) {
			name = r.redact(name) // not ASCII: case folding could shift bytes
			continue
		}
		var b strings.Builder
		for {
			i := strings.Index(lower, lc)
			if i < 0 {
				break
			}
			b.WriteString(name[:i] + mask)
			name, lower = name[i+len(c):], lower[i+len(lc):]
		}
		b.WriteString(name)
		name = b.String()
	}
	return name
}

// jsonSpellingPattern matches c with any of its characters written as a JSON
// escape: \uXXXX in either case (a surrogate pair beyond the BMP) or a short
// escape such as \/ or \n.
func jsonSpellingPattern(c string) *regexp.Regexp {
	var b strings.Builder
	for _, r := range c {
		b.WriteString("(?:")
		b.WriteString(regexp.QuoteMeta(string(r)))
		if r1, r2 := utf16.EncodeRune(r); r1 != '\uFFFD' {
			fmt.Fprintf(&b, `|\\u(?i:%04x)\\u(?i:%04x)`, r1, r2)
		} else if r <= 0xffff {
			fmt.Fprintf(&b, `|\\u(?i:%04x)`, r)
		}
		if esc, ok := map[rune]string{'"': `\\"`, '\\': `\\\\`, '/': `\\/`, '\b': `\\b`, '\f': `\\f`, '\n': `\\n`, '\r': `\\r`, '\t': `\\t`}[r]; ok {
			b.WriteString("|" + esc)
		}
		b.WriteString(")")
	}
	return regexp.MustCompile(b.String())
}

// maskAuthorization shows an Authorization value without its credential:
// only the scheme stays ("ApiKey ****"). What is wrong with the rest is the
// diagnosis's to say.
func (r *redactor) maskAuthorization(v string) string {
	if scheme, _, ok := strings.Cut(v, " "); ok {
		return r.redact(scheme) + " " + mask
	}
	return mask
}
