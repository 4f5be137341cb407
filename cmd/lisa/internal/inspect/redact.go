package inspect

import (
	"strings"

	"github.com/hello-lisa/lisa-go/internal/redact"
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
	plain []string
}

// newRedactor returns a redactor of the credentials of at least
// MinCredentialLen bytes; shorter ones are left to maskAuthorization.
func newRedactor(creds ...string) *redactor {
	r := &redactor{}
	for _, c := range creds {
		if len(c) >= MinCredentialLen {
			r.plain = append(r.plain, c)
		}
	}
	return r
}

// redact returns s with every credential masked.
func (r *redactor) redact(s string) string { return redact.Secrets(s, mask, r.plain...) }

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

// maskAuthorization shows an Authorization value without its credential:
// only the scheme stays ("ApiKey ****"). What is wrong with the rest is the
// diagnosis's to say.
func (r *redactor) maskAuthorization(v string) string {
	return r.redact(redact.Authorization(v))
}
