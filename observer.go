package lisa

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Observer is a set of functions the client calls around each Send and each
// of its attempts, for tracing and metrics, in the style of
// net/http/httptrace.ClientTrace. The lisaotel module builds OpenTelemetry
// spans and metrics on it; it needs no OpenTelemetry itself.
//
// Every field may be nil. The functions run synchronously on the sending
// goroutine and must return promptly. They are never given a credential, a
// signature or a body.
type Observer struct {
	// SendStart is called once per Send (also for each payload of SendAll,
	// SendSeq and a Queue), after the payload is encoded and checked (not
	// for a payload refused before), before the first attempt. The context
	// it returns is the one the rest of the Send uses (attempts, waits,
	// SendDone): a tracer starts its send span here. A nil context keeps
	// ctx.
	SendStart func(ctx context.Context, s *SendInfo) context.Context
	// SendDone is called once when the Send ends, with s.Attempts and
	// s.Receipt or s.Err set.
	SendDone func(ctx context.Context, s *SendInfo)
	// AttemptStart is called before each request; the context it returns
	// is the request's context (nil keeps ctx). Headers it adds to a.Header
	// are sent with this attempt (trace context); the client's own headers
	// (Authorization, the signature, X-Request-Id, Content-Type,
	// User-Agent) are not in a.Header and cannot be replaced.
	AttemptStart func(ctx context.Context, a *AttemptInfo) context.Context
	// AttemptDone is called after each request with its answer's status or
	// its error, with the context AttemptStart returned and the same a.
	AttemptDone func(ctx context.Context, a *AttemptInfo)
	// Wait is called before the client waits: between attempts (backoff or
	// Retry-After) or for the rate limit or a Retry-After cooldown.
	Wait func(ctx context.Context, w WaitInfo)
	// Enqueued is called by Queue.Enqueue and EnqueueKey with the caller's
	// context once the payload passed its checks, just before it is queued
	// (the value is dropped if the queue then refuses it: full or closed).
	// What it returns is kept with the payload and handed back in
	// SendInfo.Enqueued of the Send that carries it: for a coalesced key,
	// one value per Enqueue the Send replaced, oldest first, then its own.
	// (A tracer returns the current span context, to link to.)
	Enqueued func(ctx context.Context) any
}

// SendInfo describes one Send to an Observer.
type SendInfo struct {
	RequestID string // the X-Request-Id of every attempt
	Size      int    // body bytes
	Enqueued  []any  // see Observer.Enqueued; nil outside a Queue

	// Set before SendDone:
	Attempts int      // requests made, the first included
	Receipt  *Receipt // nil unless accepted
	Err      error    // nil when accepted
}

// AttemptInfo describes one request of a Send to an Observer.
type AttemptInfo struct {
	RequestID string
	Attempt   int         // 1 for the first attempt, 2 for the first retry…
	Method    string      // "POST"
	URL       *url.URL    // the endpoint (a copy; no credentials are ever in it)
	Header    http.Header // empty at AttemptStart; see Observer.AttemptStart

	// Set before AttemptDone:
	StatusCode         int           // 0 when no answer came
	Err                error         // the transport error; nil when an answer came
	RetryAfter         time.Duration // the answer's parsed Retry-After; 0 when none
	RateLimitRemaining int           // the answer's X-RateLimit-Remaining; -1 when none
}

// WaitInfo describes a wait to an Observer.
type WaitInfo struct {
	Reason   string        // "backoff", "retry-after", "rate-limit" or "cooldown"
	Duration time.Duration // the wait ahead (a best estimate for "rate-limit")
}

// WithObserver makes the client call o's functions around each Send and
// each attempt (for tracing and metrics). A later WithObserver replaces an
// earlier one.
func WithObserver(o *Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("lisa: WithObserver: observer is nil")
		}
		c.observer = o
		return nil
	}
}

// The helpers below are the client's only way to the observer: each does
// nothing when there is none, so the send path calls them unconditionally.

// observeSendStart tells the observer a Send begins; st's context becomes
// the one SendStart returns.
func (c *Client) observeSendStart(st *sendState, size int, enqueued []any) {
	o := c.cfg.observer
	if o == nil {
		return
	}
	st.obs = o
	info := &SendInfo{RequestID: st.requestID, Size: size, Enqueued: enqueued}
	if o.SendStart != nil {
		if ctx := o.SendStart(st.Context, info); ctx != nil {
			st.Context = ctx
		}
	}
	st.info = info // once SendStart returned: no SendDone after a panic in it
}

// observeSendDone tells the observer the Send ended.
func observeSendDone(st *sendState, receipt *Receipt, err error) {
	if st.info == nil {
		return
	}
	st.info.Attempts, st.info.Receipt, st.info.Err = st.attempts, receipt, err
	if st.obs.SendDone != nil {
		st.obs.SendDone(st, st.info)
	}
}

// observeAttemptStart tells the observer an attempt begins, and gives req
// the context and the headers it returns. req is the attempt's own request
// (retryablehttp copies it before each retry), but its Header map is shared
// with earlier attempts, so the attempt gets a new map: the client's own
// headers and the observer's for this attempt.
func observeAttemptStart(st *sendState, req *http.Request) {
	if st.info == nil {
		return
	}
	a := &attemptInfo{}
	a.url = st.url
	a.AttemptInfo = AttemptInfo{
		RequestID: st.requestID, Attempt: st.attempts + 1, Method: req.Method,
		URL: &a.url, Header: http.Header{}, RateLimitRemaining: -1,
	}
	ctx := context.Context(st)
	if st.obs.AttemptStart != nil {
		if c := st.obs.AttemptStart(st, &a.AttemptInfo); c != nil {
			ctx = c
		}
	}
	st.attempt = &a.AttemptInfo
	if st.header == nil {
		st.header = req.Header
	}
	r := req.WithContext(ctx)
	r.Header = st.header
	if len(a.Header) > 0 {
		h := make(http.Header, len(st.header)+len(a.Header))
		for k, v := range a.Header {
			h[http.CanonicalHeaderKey(k)] = v
		}
		for k, v := range st.header { // the client's own win
			h[k] = v
		}
		r.Header = h
	}
	*req = *r
}

// attemptInfo holds an AttemptInfo and the URL it points to, in one
// allocation.
type attemptInfo struct {
	AttemptInfo
	url url.URL
}

// observeAttemptDone tells the observer the attempt that ran in ctx ended
// with resp or err.
func (c *Client) observeAttemptDone(ctx context.Context, st *sendState, resp *http.Response, err error) {
	a := st.attempt
	if a == nil {
		return
	}
	st.attempt = nil
	if resp != nil {
		a.StatusCode = resp.StatusCode
		if resp.StatusCode >= 300 {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
				a.RetryAfter = d
			}
		}
		if v := resp.Header.Get("X-RateLimit-Remaining"); v != "" { // Atoi's error for "" allocates
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				a.RateLimitRemaining = n
			}
		}
	} else {
		a.Err = err
	}
	if st.obs.AttemptDone != nil {
		st.obs.AttemptDone(ctx, a)
	}
}

// observeWait tells the observer of the Send running in ctx that it is
// about to wait d for reason.
func observeWait(ctx context.Context, reason string, d time.Duration) {
	st := stateFrom(ctx)
	if st == nil || st.obs == nil || st.obs.Wait == nil {
		return
	}
	st.obs.Wait(st, WaitInfo{Reason: reason, Duration: d})
}

// observeEnqueued asks the observer for the value to keep with a payload
// Enqueue is about to queue; nil without an Enqueued function.
func (c *Client) observeEnqueued(ctx context.Context) []any {
	o := c.cfg.observer
	if o == nil || o.Enqueued == nil {
		return nil
	}
	return []any{o.Enqueued(ctx)}
}
