// Package redact removes credentials from text shown to people: error
// bodies, logs, the inspector's page. It is shared by the client, lisatest
// and the lisa command, so that there is one way to do it.
package redact

import (
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Secrets returns s with each secret replaced by mask wherever s spells it:
// literally, or with JSON string escapes (\uXXXX in either case, surrogate
// pairs, \/ \" \\ \b \f \n \r \t), also escaped twice (JSON quoted inside a
// JSON string). Empty secrets are ignored. The cost is linear in len(s) for
// each secret, whatever s holds.
func Secrets(s, mask string, secrets ...string) string {
	// The longer first: a secret that contains another must go whole.
	secrets = append([]string(nil), secrets...)
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, mask)
		}
	}
	if !strings.Contains(s, `\`) { // every escaped spelling has a backslash
		return s
	}
	once := decode(s)
	var spans []span
	for _, v := range secrets {
		spans = append(spans, once.find(v)...)
	}
	if strings.Contains(once.text, `\`) {
		twice := decode(once.text)
		for _, v := range secrets {
			for _, sp := range twice.find(v) {
				spans = append(spans, once.source(sp))
			}
		}
	}
	return replace(s, spans, mask)
}

// Authorization masks an Authorization header value, keeping its scheme:
// "ApiKey abc" becomes "ApiKey ****".
func Authorization(v string) string {
	scheme, _, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found {
		return "****"
	}
	return scheme + " ****"
}

// span is a byte range [start, end) of a text.
type span struct{ start, end int }

// decoded is a text with its JSON escapes decoded, and for each decoded byte
// the range of the source that produced it.
type decoded struct {
	text       string
	start, end []int // per byte of text: its source token's range
}

// decode reads s from left to right as the contents of a JSON string would
// be read; anything that is not a valid escape stands for itself.
func decode(s string) decoded {
	var b strings.Builder
	d := decoded{start: make([]int, 0, len(s)), end: make([]int, 0, len(s))}
	emit := func(text string, from, to int) {
		b.WriteString(text)
		for range len(text) {
			d.start = append(d.start, from)
			d.end = append(d.end, to)
		}
	}
	for i := 0; i < len(s); {
		if s[i] != '\\' || i+1 >= len(s) {
			emit(s[i:i+1], i, i+1)
			i++
			continue
		}
		if r, ok := shortUnescape(s[i+1]); ok {
			emit(string(r), i, i+2)
			i += 2
			continue
		}
		r, ok := hex4(s, i)
		if !ok {
			emit(`\`, i, i+1)
			i++
			continue
		}
		n := 6
		if utf16.IsSurrogate(r) {
			if r2, ok := hex4(s, i+6); ok && utf16.DecodeRune(r, r2) != utf8.RuneError {
				r, n = utf16.DecodeRune(r, r2), 12
			}
		}
		emit(string(r), i, i+n)
		i += n
	}
	d.text = b.String()
	return d
}

// hex4 reads a \uXXXX escape at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i+2 : i+6]) {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// shortUnescape decodes JSON's two-character escapes (RFC 8259 §7).
func shortUnescape(c byte) (rune, bool) {
	switch c {
	case '"', '\\', '/':
		return rune(c), true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// find returns the source ranges of every occurrence of v in the text.
func (d decoded) find(v string) []span {
	var out []span
	if v == "" {
		return nil
	}
	for from := 0; ; {
		i := strings.Index(d.text[from:], v)
		if i < 0 {
			return out
		}
		i += from
		out = append(out, span{d.start[i], d.end[i+len(v)-1]})
		from = i + 1
	}
}

// source maps a range of d.text back to the range of d's source.
func (d decoded) source(sp span) span {
	return span{d.start[sp.start], d.end[sp.end-1]}
}

// replace puts mask in place of each range (merged where they overlap).
func replace(s string, spans []span, mask string) string {
	if len(spans) == 0 {
		return s
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var b strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		cur := spans[i]
		for i++; i < len(spans) && spans[i].start < cur.end; i++ {
			cur.end = max(cur.end, spans[i].end)
		}
		b.WriteString(s[last:cur.start])
		b.WriteString(mask)
		last = cur.end
	}
	b.WriteString(s[last:])
	return b.String()
}
