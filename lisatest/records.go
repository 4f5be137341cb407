package lisatest

import (
	"fmt"
	"github.com/hello-lisa/lisa-go/internal/redact"
	"net/http"
	"time"
)

// Notification is an accepted notification as the server received it.
type Notification struct {
	Body      []byte
	Signature string
	RequestID string
	Header    http.Header // the request headers; Authorization is kept as sent
	Time      time.Time
}

// Request is one request the server received, accepted or not.
type Request struct {
	Notification
	Method string
	Path   string
	Status int    // the status answered; 0 when the connection was dropped
	Reason string // which check failed, or the fault injected
	Fault  string // the kind of fault injected, or ""
}

// Format prints the notification with the API key in Authorization masked,
// under every verb; the Header field itself keeps the raw value.
func (n Notification) Format(f fmt.State, verb rune) {
	type Notification notificationFields // the name %#v shows
	fmt.Fprintf(f, fmt.FormatString(f, verb), Notification(n.masked()))
}

// Format prints the request with the API key in Authorization masked,
// under every verb; the Header field itself keeps the raw value.
func (r Request) Format(f fmt.State, verb rune) {
	// The same names and fields as the real types, without their Format
	// methods: a type that embedded Notification would take on its Format
	// and print only the Notification's fields.
	type Notification notificationFields
	type Request struct {
		Notification
		Method string
		Path   string
		Status int
		Reason string
		Fault  string
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), Request{
		Notification(r.Notification.masked()), r.Method, r.Path, r.Status, r.Reason, r.Fault,
	})
}

// notificationFields is a Notification without its methods.
type notificationFields Notification

// masked returns n's fields with Authorization masked in a copy of Header.
func (n Notification) masked() notificationFields {
	p := notificationFields(n)
	p.Header = maskAuthorization(n.Header)
	return p
}

// maskAuthorization returns h with each Authorization value reduced to its
// scheme and "****".
func maskAuthorization(h http.Header) http.Header {
	if h["Authorization"] == nil {
		return h
	}
	out := h.Clone()
	for i, v := range out["Authorization"] {
		out["Authorization"][i] = redact.Authorization(v)
	}
	return out
}

// Received returns a copy of every accepted notification, in arrival order.
func (h *Handler) Received() []Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Notification(nil), h.received...)
}

// Requests returns a copy of every request, in arrival order.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.requests...)
}

// Counts returns how many requests arrived and how many were accepted
// (kept even WithoutRecords).
func (h *Handler) Counts() (requests, accepted int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total, h.accepted
}

// FaultCounts returns how many faults of each kind were injected.
func (h *Handler) FaultCounts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.faults))
	for k, v := range h.faults {
		out[k] = v
	}
	return out
}

// record counts a request, keeps it unless WithoutRecords, and calls the
// observer.
func (h *Handler) record(req Request, status int, reason string) {
	req.Status, req.Reason = status, reason
	h.mu.Lock()
	h.total++
	if req.Fault != "" {
		h.faults[req.Fault]++
	}
	if !h.noRecords {
		h.requests = append(h.requests, req)
	}
	h.mu.Unlock()
	if h.observe != nil {
		h.observe(req)
	}
}
