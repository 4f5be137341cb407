package lisa

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Observer is told about each Send and each of its attempts, for tracing
// and metrics (the lisaotel module is built on it). Every field may be nil.
// The functions run synchronously on the sending goroutine and must return
// promptly. They never see the credentials, the signature or the body.
type Observer struct {
	// SendStart is called once per notification (Send, and each payload of
	// SendAll, SendSeq and a Queue) once its payload is encoded and checked,
	// before the first attempt. The context it returns (unless nil) is the
	// one the rest of the Send uses: a tracer starts its span here.
	SendStart func(ctx context.Context, s *SendInfo) context.Context
	// SendDone is called once when the Send ends, with s's outcome set.
	SendDone func(ctx context.Context, s *SendInfo)
	// AttemptStart is called before each request. The context it returns
	// (unless nil) is the request's. Headers it adds to a.Header are sent with this attempt
	// (trace context); the client's own headers are not in a.Header and
	// cannot be replaced.
	AttemptStart func(ctx context.Context, a *AttemptInfo) context.Context
	// AttemptDone is called when the answer's status has arrived, or the
	// attempt failed without one.
	AttemptDone func(ctx context.Context, a *AttemptInfo)
	// Wait is called before the client waits: between attempts (backoff or
	// Retry-After) or for the rate limit or a Retry-After cooldown.
	Wait func(ctx context.Context, w WaitInfo)
	// Enqueued is called by Queue.Enqueue and EnqueueKey with the caller's
	// context once the payload is taken. What it returns is kept with the
	// payload and handed back in SendInfo.Enqueued of the Send that carries
	// it: for a key, one value per payload that Send replaced, oldest
	// first, then its own.
	Enqueued func(ctx context.Context) any
}

// SendInfo describes one notification for an Observer.
type SendInfo struct {
	RequestID string // the X-Request-Id of every attempt
	Size      int    // the body's length in bytes
	Enqueued  []any  // see Observer.Enqueued; nil outside a Queue
	// Set before SendDone:
	Attempts int
	Receipt  *Receipt // nil unless accepted
	Err      error    // nil when accepted
}

// AttemptInfo describes one request for an Observer.
type AttemptInfo struct {
	RequestID string
	Attempt   int      // 1 for the first attempt, 2 for the first retry…
	Method    string   // "POST"
	URL       *url.URL // the endpoint: a copy, holding no credential
	Header    http.Header
	// Set before AttemptDone:
	StatusCode         int           // 0 when no answer came
	Err                error         // why no answer came
	RetryAfter         time.Duration // the answer's Retry-After, 0 when none
	RateLimitRemaining int           // the answer's X-RateLimit-Remaining, -1 when none
}

// Reasons for a wait, in WaitInfo.Reason.
const (
	WaitBackoff    = "backoff"     // between attempts, backing off
	WaitRetryAfter = "retry-after" // between attempts, as the answer asked
	WaitRateLimit  = "rate-limit"  // for WithRateLimit's next token
	WaitCooldown   = "cooldown"    // for a Retry-After that holds the client
)

// WaitInfo describes a wait for an Observer.
type WaitInfo struct {
	Reason   string        // WaitBackoff, WaitRetryAfter, WaitRateLimit or WaitCooldown
	Duration time.Duration // the wait ahead
}

// WithObserver makes the client call o's functions around each Send and
// attempt.
func WithObserver(o *Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("lisa: WithObserver: observer is nil")
		}
		c.observer = o
		return nil
	}
}

// observeAttemptStart tells the observer, if any, that an attempt starts,
// and returns the request to send: with the context and the headers the
// observer gave. Headers it gives can add to the client's, never replace
// them, nor set one that frames the request.
func (a *attempts) observeAttemptStart(req *http.Request) (*http.Request, *AttemptInfo) {
	o := a.c.observer
	if o == nil || (o.AttemptStart == nil && o.AttemptDone == nil) {
		return req, nil
	}
	u := *a.c.url
	info := &AttemptInfo{RequestID: a.requestID, Attempt: a.n, Method: req.Method, URL: &u, Header: http.Header{}, RateLimitRemaining: -1}
	if o.AttemptStart == nil {
		return req, info
	}
	if ctx := o.AttemptStart(req.Context(), info); ctx != nil {
		req = req.WithContext(ctx)
	}
	if len(info.Header) > 0 {
		h := req.Header.Clone()
		for k, v := range info.Header {
			k = http.CanonicalHeaderKey(k)
			if h[k] == nil && !framing[k] {
				h[k] = v
			}
		}
		req.Header = h
	}
	return req, info
}

// framing are the headers that say how a request is delimited or routed:
// an Observer must not set them.
var framing = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Upgrade": true, "Te": true, "Trailer": true, "Proxy-Connection": true,
	"Proxy-Authorization": true, "Cookie": true,
}

// observeAttemptDone tells the observer, if any, how an attempt ended.
func (a *attempts) observeAttemptDone(ctx context.Context, info *AttemptInfo, resp *http.Response, err error) {
	if info == nil || a.c.observer.AttemptDone == nil {
		return
	}
	info.Err = err
	if resp != nil {
		info.StatusCode = resp.StatusCode
		info.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), a.c.cfg.retryAfterUnit)
		info.RateLimitRemaining = parseRemaining(resp.Header.Get("X-RateLimit-Remaining"))
	}
	a.c.observer.AttemptDone(ctx, info)
}

// observeWait tells the observer, if any, about a wait.
func (c *Client) observeWait(ctx context.Context, reason string, d time.Duration) {
	if o := c.observer; o != nil && o.Wait != nil {
		o.Wait(ctx, WaitInfo{Reason: reason, Duration: d})
	}
}
