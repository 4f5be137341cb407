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

// observeWait tells the observer, if any, about a wait.
func (c *Client) observeWait(ctx context.Context, reason string, d time.Duration) {
	if o := c.observer; o != nil && o.Wait != nil {
		o.Wait(ctx, WaitInfo{Reason: reason, Duration: d})
	}
}
