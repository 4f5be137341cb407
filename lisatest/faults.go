package lisatest

import (
	"math/rand/v2"
	"net/http"
	"time"
)

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

// WithRandomFaults turns on random faults.
func WithRandomFaults(rf RandomFaults) Option {
	return func(h *Handler) {
		h.random = &rf
		h.rng = rand.New(rand.NewPCG(rf.Seed, rf.Seed^0x9e3779b97f4a7c15))
	}
}

// Script makes the next len(faults) requests misbehave, in order, before any
// random fault applies. A zero Fault in the list answers normally.
func (h *Handler) Script(faults ...Fault) {
	h.mu.Lock()
	h.script = append(h.script, faults...)
	h.mu.Unlock()
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
