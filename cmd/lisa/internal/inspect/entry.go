package inspect

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
)

// row is one request as the list shows it. Every string in it has passed
// through the redactor.
type row struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`  // 0 when the connection was dropped
	Verdict   string    `json:"verdict"` // "accepted", or the check that failed, or the fault
	Fault     string    `json:"fault,omitempty"`
	RequestID string    `json:"requestId"`
	Size      int       `json:"size"` // body bytes; -1 when unknown
	Limit     int       `json:"limit"`
	ProductID string    `json:"productId,omitempty"`
	// Diagnosis names, in a few words, the first problem found.
	Diagnosis string `json:"diagnosis,omitempty"`
}

// header is one request header as shown, Authorization masked.
type header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// detail is one request as its panel shows it.
type detail struct {
	row
	Headers    []header  `json:"headers"`
	Body       string    `json:"body"`                 // as received, redacted
	BodyPretty string    `json:"bodyPretty,omitempty"` // indented, when the body is JSON
	BodyNote   string    `json:"bodyNote,omitempty"`   // why there is no body, or what is odd about it
	Findings   []finding `json:"findings"`
	Replayable bool      `json:"replayable"`
}

// entry is one kept request: its views, and what a replay needs (kept
// private, never encoded).
type entry struct {
	row    row
	detail detail
	req    lisatest.Request
	size   int // an estimate of the bytes held, for the ring's bound
}

// newEntry builds the views of r. The id is set by the caller.
func newEntry(r lisatest.Request, findings []finding, red *redactor) *entry {
	kept := r.Body != nil
	rw := row{
		Time:      r.Time,
		Method:    r.Method,
		Path:      red.redact(r.Path),
		Status:    r.Status,
		Verdict:   red.redact(r.Reason),
		Fault:     red.redact(r.Fault),
		RequestID: red.redact(r.RequestID),
		Size:      -1,
		Limit:     lisa.MaxPayloadBytes,
	}
	if r.Status == http.StatusAccepted && r.Fault == "" {
		rw.Verdict = "accepted"
	}
	if r.Status == 0 && rw.Verdict == "" {
		rw.Verdict = "connection dropped"
	}
	if kept {
		rw.Size = len(r.Body)
		rw.ProductID = red.redact(productID(r.Body))
	} else if n, err := strconv.Atoi(r.Header.Get("Content-Length")); err == nil && n >= 0 {
		rw.Size = n
	}
	for i := range findings {
		f := &findings[i]
		f.Title, f.Detail, f.Signed = red.redact(f.Title), red.redact(f.Detail), red.redact(f.Signed)
	}
	if r.Status != http.StatusAccepted || r.Fault != "" {
		for _, f := range findings {
			if !f.OK {
				rw.Diagnosis = f.Title
				break
			}
		}
	}

	d := detail{row: rw, Findings: findings, Replayable: kept && r.Status != http.StatusRequestEntityTooLarge}
	if d.Findings == nil {
		d.Findings = []finding{}
	}
	for name, values := range r.Header {
		for _, v := range values {
			if http.CanonicalHeaderKey(name) == "Authorization" {
				v = red.maskAuthorization(v)
			}
			d.Headers = append(d.Headers, header{Name: red.redactName(name), Value: red.redact(v)})
		}
	}
	sort.SliceStable(d.Headers, func(i, j int) bool { return d.Headers[i].Name < d.Headers[j].Name })
	switch {
	case r.Status == http.StatusRequestEntityTooLarge:
		d.BodyNote = "Not kept: the body is over the 192 KiB limit."
	case !kept && r.Fault != "":
		d.BodyNote = "Not read: the injected fault answered before the checks."
	case !kept:
		d.BodyNote = "Not read: the request failed before the body was read."
	default:
		d.Body = red.redact(strings.ToValidUTF8(string(r.Body), "\uFFFD"))
		if !utf8.Valid(r.Body) {
			d.BodyNote = "The body is not valid UTF-8; invalid bytes show as \uFFFD."
		}
		if p, ok := pretty(r.Body); ok {
			d.BodyPretty = red.redact(p)
		} else if json.Valid(r.Body) {
			d.BodyNote = strings.TrimSpace(d.BodyNote + " Shown as received only: indented, this body would take over 1 MiB (it nests deep).")
		}
	}
	return &entry{row: rw, detail: d, req: r, size: footprint(r, d)}
}

// footprint estimates the bytes a kept request holds: its body, the body's
// views, its headers as received and as shown, its findings, and 1 KiB for
// the rest.
func footprint(r lisatest.Request, d detail) int {
	n := 1024 + len(r.Body) + len(d.Body) + len(d.BodyPretty) + len(d.BodyNote)
	for name, values := range r.Header {
		for _, v := range values {
			n += 2 * (len(name) + len(v))
		}
	}
	for _, f := range d.Findings {
		n += len(f.Title) + len(f.Detail) + len(f.Signed)
	}
	return n
}

// productID returns the top-level "productId" of a JSON object body: a
// string as is, another value as its JSON text; "" when there is none.
func productID(body []byte) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	raw, ok := obj["productId"]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
