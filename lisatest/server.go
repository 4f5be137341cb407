// Package lisatest provides a local fake of LiSA's ingest endpoint, in the
// spirit of net/http/httptest, for testing code that sends product-update
// notifications without an account or a network.
//
// The fake checks exactly what the API documents, in this order, and answers
// like the real service:
//
//   - method POST and path /plugin-notifications/{id}/updates, else 405 or 404;
//   - a body over lisa.MaxPayloadBytes: 413 (at most the limit + 1 bytes are read);
//   - a missing, repeated or malformed X-Hmac-Signature: 400. Well formed is
//     64 lower-case hex digits, as every documented sample sends; upper case
//     is refused, since the real service is not documented to take it;
//   - a repeated Authorization header, or one other than "ApiKey <key>": 401;
//   - a signature that does not match the exact body bytes: 401;
//   - a Content-Type missing, repeated or other than application/json
//     (parameters such as charset=utf-8 are fine): 415;
//   - a body that is not valid JSON: 400;
//   - otherwise 202 with a small JSON body.
//
// It is stricter than the documentation where the documentation is silent,
// so that code passing against it does not rely on leniency the real
// service may not have.
//
// Error answers carry {"error": "..."} saying which check failed. Every
// request is recorded (Requests), every accepted one too (Received), and
// faults can be injected: scripted (Script) or random with a seed
// (WithRandomFaults).
package lisatest

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// Option configures a Handler or Server.
type Option func(*Handler)

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
	auth      *string // "ApiKey <key>", behind a pointer: fmt prints an address
	signer    *lisa.Signer
	observe   func(Request)
	noRecords bool
	// The records and counts, behind a pointer so that printing a Handler
	// (even as a value, whose unexported fields fmt prints raw) shows an
	// address instead of the requests' Authorization headers.
	*state
}

// state is what a Handler records and the faults it has yet to inject.
type state struct {
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
		auth:   ptr("ApiKey " + apiKey),
		signer: lisa.NewSigner([]byte(secret)),
		state:  &state{faults: map[string]int{}},
	}
	for _, opt := range opts {
		if opt != nil {
			opt(h)
		}
	}
	return h
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
			// Read the body first (bounded, as the checks do): until it is
			// read, net/http does not notice a client that hung up, and the
			// wait, and so Close, would last the whole delay.
			body, _ := io.ReadAll(io.LimitReader(r.Body, lisa.MaxPayloadBytes+1))
			r.Body = io.NopCloser(bytes.NewReader(body))
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

func ptr(s string) *string { return &s }

// String describes the handler without its credentials.
func (h *Handler) String() string { return "lisatest.Handler{path: " + h.path + "}" }

// Format prints String under every verb, for a Handler value as well as a
// pointer: fmt would otherwise print the records' headers, keys included.
func (h Handler) Format(f fmt.State, _ rune) { io.WriteString(f, h.String()) }

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

// Format prints String under every verb (not the embedded Handler's).
func (s *Server) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// String describes the server without its credentials.
func (s *Server) String() string {
	return "lisatest.Server{URL: " + s.URL + "}"
}
