package lisa

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// ClientStats are counters of a Client since it was made, for a service to
// export as metrics. They count notifications that reached the sending path
// (Send, SendAll, SendSeq and Queue); payloads refused as invalid or oversize
// before that are not counted.
type ClientStats struct {
	// Sends is how many notifications were sent or held back, whatever
	// their outcome: Accepted plus Failed.Total().
	Sends int64
	// Attempts is how many requests were made, first attempts and retries.
	Attempts int64
	// Retries is how many of the attempts were retries.
	Retries int64
	// Accepted is how many notifications were answered 2xx.
	Accepted int64
	// Failed counts the notifications that were not accepted, by kind.
	Failed FailureCounts
	// ThrottleWaits is how many attempts waited for the rate limit
	// (WithRateLimit) or a Retry-After cooldown before starting.
	ThrottleWaits int64
	// RetryBudget is how many tokens the retry budget has left
	// (WithRetryBudget); -1 when the budget is off.
	RetryBudget int
	// Cooldown is how long attempts must still wait because of a
	// Retry-After answer; 0 when they need not.
	Cooldown time.Duration
}

// FailureCounts counts failed notifications by what ended them, after
// retries.
type FailureCounts struct {
	Unauthorized int64 // answered 401
	Rejected     int64 // answered 400, 413, 3xx or another 4xx (other than 401 and 429)
	RateLimited  int64 // answered 429
	Server       int64 // answered 5xx
	Transport    int64 // no answer: connection errors, attempt timeouts, user code's panics
	Throttled    int64 // held back by the client (ErrThrottled), first attempt or retry
	Canceled     int64 // the context ended
}

// Total is the sum of the counts.
func (f FailureCounts) Total() int64 {
	return f.Unauthorized + f.Rejected + f.RateLimited + f.Server + f.Transport + f.Throttled + f.Canceled
}

// clientStats holds the counters behind ClientStats, updated once per
// notification at the end of send.
type clientStats struct {
	sends, attempts, retries, accepted atomic.Int64

	unauthorized, rejected, rateLimited, server, transport, throttled, canceled atomic.Int64
}

// count records the outcome of one notification that took attempts
// requests.
func (s *clientStats) count(attempts int, err error) {
	s.sends.Add(1)
	if attempts > 0 {
		s.attempts.Add(int64(attempts))
	}
	if attempts > 1 {
		s.retries.Add(int64(attempts - 1))
	}
	if err == nil {
		s.accepted.Add(1)
		return
	}
	s.failedCounter(err).Add(1)
}

// errCutShort is what Stats counts for a Send that user code ended with a
// panic or runtime.Goexit before it had an outcome: no answer, as far as
// the client knows.
var errCutShort = errors.New("lisa: send cut short by user code")

// failedCounter returns the counter of err's kind.
func (s *clientStats) failedCounter(err error) *atomic.Int64 {
	var (
		apiErr  *APIError
		timeout *attemptTimeoutError
	)
	switch {
	case errors.Is(err, ErrThrottled): // also an answer whose retry it held back
		return &s.throttled
	case errors.As(err, &apiErr):
		switch code := apiErr.StatusCode; {
		case code == http.StatusUnauthorized:
			return &s.unauthorized
		case code == http.StatusTooManyRequests:
			return &s.rateLimited
		case code >= 500:
			return &s.server
		}
		return &s.rejected
	case errors.As(err, &timeout): // before ctx errors: it matches DeadlineExceeded
		return &s.transport
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &s.canceled
	}
	return &s.transport
}

// Stats returns the client's counters. It is cheap (a few atomic loads) and
// safe to call from any goroutine; the counts are read one by one, so a
// Send finishing meanwhile may show in some and not yet in others.
func (c *Client) Stats() ClientStats {
	if c == nil || c.stats == nil {
		return ClientStats{}
	}
	s := c.stats
	out := ClientStats{
		Sends:    s.sends.Load(),
		Attempts: s.attempts.Load(),
		Retries:  s.retries.Load(),
		Accepted: s.accepted.Load(),
		Failed: FailureCounts{
			Unauthorized: s.unauthorized.Load(),
			Rejected:     s.rejected.Load(),
			RateLimited:  s.rateLimited.Load(),
			Server:       s.server.Load(),
			Transport:    s.transport.Load(),
			Throttled:    s.throttled.Load(),
			Canceled:     s.canceled.Load(),
		},
		ThrottleWaits: c.throttle.waits.Load(),
		RetryBudget:   -1,
		Cooldown:      c.throttle.cooldownLeft(),
	}
	if c.budget != nil {
		out.RetryBudget = int(c.budget.tokens.Load())
	}
	return out
}

// QueueStats are counters and gauges of a Queue, for a service to export.
type QueueStats struct {
	// Enqueued is how many payloads Enqueue and EnqueueKey took.
	Enqueued int64
	// Full is how many Enqueue calls returned ErrQueueFull.
	Full int64
	// Invalid is how many payloads Enqueue refused as invalid or oversize.
	Invalid int64

	// Waiting is how many payloads wait to be sent, those parked behind a
	// payload of the same key in flight included; WaitingBytes their size.
	// Results waiting for OnResult are not counted.
	Waiting      int
	WaitingBytes int64
	// InFlight is how many payloads are being sent.
	InFlight int

	// Accepted is how many payloads were delivered.
	Accepted int64
	// Failed is how many results carried an error other than
	// ErrSuperseded: failed sends, and payloads not sent after the queue stopped or not
	// delivered by Close.
	Failed int64
	// Superseded is how many payloads were replaced by a newer payload for
	// the same key before they were sent.
	Superseded int64
	// Spilled is how many payloads were written to Spill; SpillErrors how
	// many writes failed.
	Spilled     int64
	SpillErrors int64
	// OnResultPanics is how many calls of OnResult panicked.
	OnResultPanics int64
	// Stopped is true once the queue stopped sending after an answer that
	// FailsEveryRequest.
	Stopped bool
}

// Stats returns the queue's counters. It is cheap and safe to call from any
// goroutine, OnResult included.
func (q *Queue) Stats() QueueStats {
	if q == nil || q.c == nil {
		return QueueStats{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.Waiting, s.WaitingBytes, s.InFlight = q.line.items, q.line.bytes, q.inFlight
	s.Stopped = q.stopped != nil
	return s
}
