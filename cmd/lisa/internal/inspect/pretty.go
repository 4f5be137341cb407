package inspect

import (
	"bytes"
	"encoding/json"
)

// maxPretty bounds the indented view of a body. Indentation grows with
// depth: a 192 KiB body nested 9,000 levels deep would take gigabytes, each
// value behind 18,000 spaces. Such a body is shown raw only.
const maxPretty = 1 << 20

// pretty returns body indented with two spaces, or false when body is not
// JSON or its indented form would pass maxPretty.
func pretty(body []byte) (string, bool) {
	if !json.Valid(body) || !indentedFits(body, len("  "), maxPretty) {
		return "", false
	}
	var b bytes.Buffer
	if json.Indent(&b, body, "", "  ") != nil {
		return "", false
	}
	return b.String(), true
}

// indentedFits reports whether json.Indent's output for the valid JSON body
// takes at most limit bytes, counting it without writing it: the tokens; a
// newline and the indentation of its depth after each opening bracket and
// each comma, and before each closing bracket, except in an empty [] or {};
// a space after each colon; and the white space after the value, which
// json.Indent keeps. It stops counting past limit.
func indentedFits(body []byte, indent, limit int) bool {
	n, depth := 0, 0
	var prev byte // the last byte outside strings that was not white space
	inString, escaped := false, false
	for _, c := range body {
		if inString {
			n++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if depth == 0 && prev != 0 {
				n++ // trailing white space, kept
			}
			continue
		}
		opened := prev == '[' || prev == '{'
		switch c {
		case '[', '{':
			if opened {
				n += 1 + depth*indent
			}
			depth++
			n++
		case ']', '}':
			depth--
			if !opened {
				n += 1 + depth*indent
			}
			n++
		case ',':
			n += 2 + depth*indent
		case ':':
			n += 2
		default: // a string or a literal starts
			if opened {
				n += 1 + depth*indent
			}
			inString = c == '"'
			n++
		}
		prev = c
		if n > limit {
			return false
		}
	}
	return n <= limit
}
