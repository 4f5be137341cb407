// Package lisatest provides a local fake of LiSA's ingest endpoint, in the
// spirit of net/http/httptest, for testing code that sends product-update
// notifications without an account or a network.
//
// The fake checks exactly what the API documents, in this order, and answers
// like the real service:
//
//   - method POST and path /plugin-notifications/{id}/updates, else 405 or 404;
//   - a body over lisa.MaxPayloadBytes: 413 (at most the limit + 1 bytes are read);
//   - a missing or malformed X-Hmac-Signature (not 64 hex digits): 400;
//   - an Authorization other than "ApiKey <key>": 401;
//   - a signature that does not match the exact body bytes: 401;
//   - a body that is not valid JSON: 400;
//   - otherwise 202 with a small JSON body.
//
// Error answers carry {"error": "..."} saying which check failed. Every
// request is recorded (Requests), every accepted one too (Received), and
// faults can be injected: scripted (Script) or random with a seed
// (WithRandomFaults).
package lisatest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hello-lisa/lisa-go"
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

// Fault is one injected misbehaviour of the server.
type Fault struct {
	// Status answers with this status instead of the checks' answer
	// (0: answer as the checks say).
	Status int
	// RetryAfter is sent as the Retry-After header with Status.
	RetryAfter string
	// Body is sent with Status; the default is {"error":"injected fault"}.
	Body string
	// ContentType is sent with Body; the default is application/json.
	ContentType string
	// Delay waits before answering (or dropping). The wait ends early when
	// the client goes away.
	Delay time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Process runs the checks and records the notification first, as a
	// server would that processed the update but whose answer was lost
	// (with Drop) or came too late (with Delay).
	Process bool
	// Kind names the fault in Requests and FaultCounts; the default is
	// derived from the fields.
	Kind string
}

func (f Fault) kind() string {
	if f.Kind != "" {
		return f.Kind
	}
	switch {
	case f.Drop && f.Process:
		return "drop-after"
	case f.Drop:
		return "drop-before"
	case f.Status != 0:
		return http.StatusText(f.Status)
	case f.Delay > 0 && f.Process:
		return "slow"
	case f.Delay > 0:
		return "delay"
	}
	return "none"
}

// RandomFaults makes the server misbehave at random, reproducibly for a seed
// (given the order requests arrive in). Each rate is a probability from 0 to
// 1; their sum should not exceed 1.
type RandomFaults struct {
	Seed uint64
	// ServerError answers 500 or 503 (half each) without processing.
	ServerError float64
	// RateLimit answers 429 with Retry-After: 0 without processing.
	RateLimit float64
	// BadGateway answers 502 with an HTML body, as a proxy would.
	BadGateway float64
	// DropBefore closes the connection before processing.
	DropBefore float64
	// DropAfter processes the notification, then closes the connection
	// without an answer.
	DropAfter float64
	// Slow processes the notification, then answers after SlowDelay.
	Slow      float64
	SlowDelay time.Duration
}

// Option configures a Handler or Server.
type Option func(*Handler)

// WithRandomFaults turns on random faults.
func WithRandomFaults(rf RandomFaults) Option {
	return func(h *Handler) {
		h.random = &rf
		h.rng = rand.New(rand.NewPCG(rf.Seed, rf.Seed^0x9e3779b97f4a7c15))
	}
}

// WithObserver calls f after each request is handled, from the request's
// goroutine. lisa serve uses it to print a line per request.
func WithObserver(f func(Request)) Option {
	return func(h *Handler) { h.observe = f }
}

// WithoutRecords keeps only counts, not the requests themselves, for a
// long-running server.
func WithoutRecords() Option {
	return func(h *Handler) { h.noRecords = true }
}

// Handler is the fake ingest endpoint as an http.Handler, for mounting in a
// server of your own. It is safe for concurrent use.
type Handler struct {
	path      string
	auth      string
	signer    *lisa.Signer
	observe   func(Request)
	noRecords bool

	mu       sync.Mutex
	script   []Fault
	random   *RandomFaults
	rng      *rand.Rand
	received []Notification
	requests []Request
	accepted int
	total    int
	faults   map[string]int
}

// NewHandler returns the fake endpoint for one plugin integration.
func NewHandler(pluginID, apiKey, secret string, opts ...Option) *Handler {
	h := &Handler{
		path:   "/plugin-notifications/" + url.PathEscape(pluginID) + "/updates",
		auth:   "ApiKey " + apiKey,
		signer: lisa.NewSigner([]byte(secret)),
		faults: map[string]int{},
	}
	for _, opt := range opts {
		if opt != nil {
			opt(h)
		}
	}
	return h
}

// Script makes the next len(faults) requests misbehave, in order, before any
// random fault applies. A zero Fault in the list answers normally.
func (h *Handler) Script(faults ...Fault) {
	h.mu.Lock()
	h.script = append(h.script, faults...)
	h.mu.Unlock()
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

// nextFault takes the next scripted fault, or draws a random one.
func (h *Handler) nextFault() *Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.script) > 0 {
		f := h.script[0]
		h.script = h.script[1:]
		return &f
	}
	if h.random == nil {
		return nil
	}
	rf, x := h.random, h.rng.Float64()
	steps := []struct {
		p float64
		f Fault
	}{
		{rf.ServerError / 2, Fault{Status: http.StatusInternalServerError}},
		{rf.ServerError / 2, Fault{Status: http.StatusServiceUnavailable}},
		{rf.RateLimit, Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"}},
		{rf.BadGateway, Fault{Status: http.StatusBadGateway, ContentType: "text/html",
			Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"}},
		{rf.DropBefore, Fault{Drop: true}},
		{rf.DropAfter, Fault{Drop: true, Process: true}},
		{rf.Slow, Fault{Delay: rf.SlowDelay, Process: true}},
	}
	for _, s := range steps {
		if x < s.p {
			f := s.f
			return &f
		}
		x -= s.p
	}
	return nil
}

// ServeHTTP runs the checks, with any fault due, and records the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.EscapedPath()}
	req.Header = r.Header.Clone()
	req.Signature = r.Header.Get(lisa.SignatureHeader)
	req.RequestID = r.Header.Get(lisa.RequestIDHeader)
	req.Time = time.Now()

	fault := h.nextFault()
	var status int
	var reason string
	if fault != nil {
		req.Fault = fault.kind()
		reason = "injected fault: " + req.Fault
		if !fault.Process && fault.Delay > 0 {
			wait(r, fault.Delay)
		}
	}
	if process := fault == nil || fault.Process || (!fault.Drop && fault.Status == 0); process {
		status, reason = h.check(r, &req)
		if fault != nil && fault.Process {
			reason += "; then injected fault: " + req.Fault
		}
		if fault != nil && fault.Process && fault.Delay > 0 {
			wait(r, fault.Delay)
		}
	}
	switch {
	case fault != nil && fault.Drop:
		status = 0
		h.record(req, status, reason)
		drop(w)
		return
	case fault != nil && fault.Status != 0:
		status = fault.Status
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		body, ctype := fault.Body, fault.ContentType
		if body == "" {
			body, ctype = `{"error":"injected fault"}`, "application/json"
		}
		if ctype == "" {
			ctype = "application/json"
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		io.WriteString(w, body)
	case status == http.StatusAccepted:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		out, _ := json.Marshal(map[string]string{"status": "accepted", "requestId": req.RequestID})
		w.Write(out)
	default:
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		out, _ := json.Marshal(map[string]string{"error": reason})
		w.Write(out)
	}
	h.record(req, status, reason)
}

// check runs the documented checks, in order, and records an accepted
// notification. It returns the status and the reason.
func (h *Handler) check(r *http.Request, req *Request) (int, string) {
	if req.Path != h.path {
		return http.StatusNotFound, "no such endpoint: want POST " + h.path
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "method must be POST"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, lisa.MaxPayloadBytes+1))
	if err != nil {
		return http.StatusBadRequest, "could not read the body"
	}
	req.Body = body
	if len(body) > lisa.MaxPayloadBytes {
		req.Body = nil // not kept: the point of the limit
		return http.StatusRequestEntityTooLarge, "body is over the 192 KiB limit"
	}
	if req.Signature == "" {
		return http.StatusBadRequest, "missing X-Hmac-Signature header"
	}
	if len(req.Signature) != 64 || !isHex(req.Signature) {
		return http.StatusBadRequest, "malformed X-Hmac-Signature: want 64 hex digits"
	}
	if r.Header.Get("Authorization") != h.auth {
		return http.StatusUnauthorized, "invalid API key: want Authorization: ApiKey <key>"
	}
	if !h.signer.Verify(body, req.Signature) {
		return http.StatusUnauthorized, "signature does not match the body"
	}
	if !json.Valid(body) {
		return http.StatusBadRequest, "body is not valid JSON"
	}
	h.mu.Lock()
	h.accepted++
	if !h.noRecords {
		h.received = append(h.received, Notification{
			Body: bytes.Clone(body), Signature: req.Signature, RequestID: req.RequestID,
			Header: req.Header, Time: req.Time,
		})
	}
	h.mu.Unlock()
	return http.StatusAccepted, "accepted"
}

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

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// wait sleeps for d or until the client goes away.
func wait(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http closes the stream without logging
}

// Server is a Handler listening on a loopback port, like httptest.Server.
type Server struct {
	*Handler
	// URL is the base URL to give lisa.WithBaseURL, such as
	// http://127.0.0.1:41234.
	URL string

	srv   *httptest.Server
	conns atomic.Int64
}

// NewServer starts a fake ingest endpoint on 127.0.0.1 for one plugin
// integration. Close it when done.
func NewServer(pluginID, apiKey, secret string, opts ...Option) *Server {
	s := &Server{Handler: NewHandler(pluginID, apiKey, secret, opts...)}
	s.srv = httptest.NewUnstartedServer(s.Handler)
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Connections returns how many connections clients have opened so far: with
// connection reuse it stays far below the request count.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Close shuts the server down, ending open connections.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Endpoint returns the full URL notifications are POSTed to.
func (s *Server) Endpoint() string {
	return s.URL + s.Handler.path
}

// String describes the server without its credentials.
func (s *Server) String() string {
	return "lisatest.Server{URL: " + s.URL + "}"
}
