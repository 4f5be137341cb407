package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// A client that signs one serialization of its payload and sends another
// (its HTTP library re-encoded the object) gets a 401 with no hint why. To
// tell that apart from a wrong secret, the diagnosis re-serializes the body
// the ways common JSON libraries do and checks the signature against each.

// jsonValue is a parsed JSON value that keeps the order of object keys and
// the literal spelling of numbers, so that it can be written back in another
// style without changing anything else.
type jsonValue struct {
	kind byte   // '{' object, '[' array, '"' string, '0' literal (number, true, false, null)
	text string // the string's value, or the literal as written
	keys []string
	vals []*jsonValue
}

// parseOrdered parses one JSON document.
func parseOrdered(b []byte) (*jsonValue, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (*jsonValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		v := &jsonValue{kind: byte(t)}
		for dec.More() {
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k.(string))
			}
			elem, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, elem)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return v, nil
	case string:
		return &jsonValue{kind: '"', text: t}, nil
	case json.Number:
		return &jsonValue{kind: '0', text: t.String()}, nil
	case bool:
		return &jsonValue{kind: '0', text: fmt.Sprint(t)}, nil
	case nil:
		return &jsonValue{kind: '0', text: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %T", tok)
}

// jsonStyle is one way of writing JSON.
type jsonStyle struct {
	label      string
	itemSep    string // between elements: "," or ", " (with indent, always ",")
	keySep     string // between a key and its value: ":" or ": "
	indent     string // one level of indentation; "" writes on one line
	sortKeys   bool
	asciiOnly  bool // non-ASCII as \u escapes (Python's ensure_ascii)
	htmlEscape bool // <, >, &, U+2028 and U+2029 as \u escapes (Go's encoding/json)
}

// jsonStyles are the serializations a diagnosis tries, the most common first.
var jsonStyles = []jsonStyle{
	{label: "compact (JSON.stringify(v), json.dumps(v, separators=(',', ':')))", itemSep: ",", keySep: ":"},
	{label: "with Python json.dumps(v) defaults: separators \", \" and \": \", non-ASCII as \\u escapes", itemSep: ", ", keySep: ": ", asciiOnly: true},
	{label: "with Python json.dumps(v, ensure_ascii=False): separators \", \" and \": \"", itemSep: ", ", keySep: ": "},
	{label: "indented with 2 spaces (JSON.stringify(v, null, 2))", keySep: ": ", indent: "  "},
	{label: "indented with 4 spaces (json.dumps(v, indent=4))", keySep: ": ", indent: "    ", asciiOnly: true},
	{label: "indented with a tab", keySep: ": ", indent: "\t"},
	{label: "with keys sorted, compact", itemSep: ",", keySep: ":", sortKeys: true},
	{label: "with keys sorted, Python json.dumps(v, sort_keys=True)", itemSep: ", ", keySep: ": ", sortKeys: true, asciiOnly: true},
	{label: "with keys sorted, indented with 2 spaces", keySep: ": ", indent: "  ", sortKeys: true},
	{label: "as Go's json.Marshal writes a map: keys sorted, <, > and & escaped", itemSep: ",", keySep: ":", sortKeys: true, htmlEscape: true},
	{label: "compact, non-ASCII as \\u escapes", itemSep: ",", keySep: ":", asciiOnly: true},
}

// maxCandidate bounds each re-serialization the diagnosis writes. Indenting
// a deeply nested body multiplies it (each value behind depth levels of
// indentation: 18,000 spaces at depth 9,000), so a style whose output would
// pass this is not tried. 1 MiB is over five times the largest body.
const maxCandidate = 1 << 20

// write returns v written in style s, or nil when that would take more than
// maxCandidate bytes.
func (s jsonStyle) write(v *jsonValue) []byte {
	var b bytes.Buffer
	if !s.writeValue(&b, v, 0) {
		return nil
	}
	return b.Bytes()
}

// writeValue writes v and reports whether b stayed within maxCandidate.
func (s jsonStyle) writeValue(b *bytes.Buffer, v *jsonValue, depth int) bool {
	switch v.kind {
	case '"':
		s.writeString(b, v.text)
	case '0':
		b.WriteString(v.text)
	default:
		closing := byte('}')
		if v.kind == '[' {
			closing = ']'
		}
		b.WriteByte(v.kind)
		if len(v.vals) == 0 {
			b.WriteByte(closing)
			return true
		}
		order := make([]int, len(v.vals))
		for i := range order {
			order[i] = i
		}
		if s.sortKeys && v.kind == '{' {
			sort.SliceStable(order, func(i, j int) bool { return v.keys[order[i]] < v.keys[order[j]] })
		}
		for n, i := range order {
			if n > 0 {
				if s.indent != "" {
					b.WriteByte(',')
				} else {
					b.WriteString(s.itemSep)
				}
			}
			s.newline(b, depth+1)
			if v.kind == '{' {
				s.writeString(b, v.keys[i])
				b.WriteString(s.keySep)
			}
			if b.Len() > maxCandidate || !s.writeValue(b, v.vals[i], depth+1) {
				return false
			}
		}
		s.newline(b, depth)
		b.WriteByte(closing)
	}
	return b.Len() <= maxCandidate
}

func (s jsonStyle) newline(b *bytes.Buffer, depth int) {
	if s.indent == "" {
		return
	}
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(s.indent, depth))
}

// writeString writes str quoted, with the short escapes every library uses
// and \u00XX (lowercase hex) for other control characters.
func (s jsonStyle) writeString(b *bytes.Buffer, str string) {
	b.WriteByte('"')
	for _, r := range str {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20,
			s.htmlEscape && (r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029'):
			fmt.Fprintf(b, `\u%04x`, r)
		case s.asciiOnly && r >= 0x80:
			if r > 0xffff { // a surrogate pair, as Python writes it
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// eachCandidate calls try with what a client commonly signs instead of the
// exact body, until try returns true: the body with a trailing newline added
// or removed, an empty body, and, when the body is JSON, its
// re-serializations (each with and without a trailing newline). They are
// made one at a time, so that only one is held at once; a candidate equal to
// the body, or to an earlier one, cannot match where those did not, so
// duplicates cost a hash, not a wrong answer.
func eachCandidate(body []byte, try func(label string, b []byte) bool) bool {
	if try("with a trailing newline added", append(bytes.Clone(body), '\n')) ||
		try("with a trailing CRLF added", append(bytes.Clone(body), '\r', '\n')) ||
		try("with the trailing white space removed", bytes.TrimRight(body, " \t\r\n")) ||
		try("empty (the signature of no bytes)", []byte{}) {
		return true
	}
	if !utf8.Valid(body) {
		return false
	}
	v, err := parseOrdered(body)
	if err != nil {
		return false
	}
	for _, s := range jsonStyles {
		b := s.write(v)
		if b == nil {
			continue // too large to be what was signed
		}
		if try("re-serialized "+s.label, b) || try("re-serialized "+s.label+", with a trailing newline", append(b, '\n')) {
			return true
		}
	}
	return false
}
