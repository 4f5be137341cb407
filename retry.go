package lisa

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// checkRetry is the retry policy, called by retryablehttp after every
// attempt. It decides whether to retry and then waits before the retry
// itself, because it has the Send's context and state, which retryablehttp's
// Backoff hook is not given when an attempt failed without an answer. The
// client's Backoff hook therefore returns 0.
//
// An answer that arrived decides the outcome even if the context ended
// meanwhile: a 202 received is an accepted notification. What is retryable
// is retryablehttp's DefaultRetryPolicy for transport errors (not TLS,
// scheme or header errors) and retryableStatus for answers.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st := stateFrom(ctx)
	if st == nil { // not one of ours: the library's policy alone
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	c.observeAttemptDone(ctx, st, resp, err)
	st.attempts++
	st.stop, st.hasRA = nil, false
	var retry bool
	if resp != nil {
		retry = retryableStatus(resp.StatusCode)
		if resp.StatusCode >= 300 {
			st.retryAfter, st.hasRA = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
			if st.hasRA && honoursRetryAfter(resp) {
				c.throttle.coolDown(st.retryAfter) // every Send of the client waits it out
			}
		} else if c.budget != nil {
			c.budget.refill()
		}
	} else {
		var ctxErr error
		if retry, ctxErr = retryablehttp.DefaultRetryPolicy(ctx, nil, err); ctxErr != nil {
			return false, ctxErr
		}
	}
	var wait time.Duration
	if retry {
		wait, st.stop = c.nextWait(ctx, st, resp)
		retry = st.stop == nil
	}
	if c.logger != nil {
		c.logAttempt(ctx, st, resp, err, retry)
	}
	if !retry {
		return false, nil
	}
	if resp != nil {
		// Keep what the answer said, in case the client holds the retry
		// back after the wait (send reports the answer then), and free the
		// connection and the attempt before waiting.
		st.heldBody, st.heldCut = readErrorBody(resp.Body)
		resp.Body.Close()
	}
	reason := "backoff"
	if st.hasRA && honoursRetryAfter(resp) {
		reason = "retry-after"
	}
	observeWait(st, reason, wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		c.returnToken() // the retry the token paid for never ran
		return false, ctx.Err()
	case <-t.C:
	}
	// Like the first attempt (in send), each retry waits for the rate limit
	// and any Retry-After cooldown; a wait past the deadline ends the Send
	// with an error matching ErrThrottled.
	if err := c.throttle.wait(ctx); err != nil {
		c.returnToken()
		return false, err
	}
	return true, nil
}

// returnToken gives back the budget token taken for a retry that did not
// happen.
func (c *Client) returnToken() {
	if c.budget != nil {
		c.budget.refill()
	}
}

// nextWait returns how long to wait before retrying a retryable failure, or
// why it is not retried: retries or the budget spent, a Retry-After over
// MaxRetryAfter, or a wait that would end after the context's deadline.
func (c *Client) nextWait(ctx context.Context, st *sendState, resp *http.Response) (time.Duration, *retryStop) {
	if st.attempts > c.cfg.maxRetries {
		if c.cfg.maxRetries == 0 {
			return 0, stopf(ErrRetriesExhausted, "retries are off")
		}
		return 0, stopf(ErrRetriesExhausted, "gave up after %d retries", c.cfg.maxRetries)
	}
	wait := c.backoffWait(st.attempts - 1)
	if st.hasRA && honoursRetryAfter(resp) {
		if st.retryAfter > MaxRetryAfter {
			return 0, stopf(ErrRetryAfterTooLong, "Retry-After %s is longer than %s: not waiting", st.retryAfter, MaxRetryAfter)
		}
		wait = st.retryAfter
	}
	if deadline, ok := ctx.Deadline(); ok && wait >= deadline.Sub(c.now()) {
		return 0, stopf(ErrRetryPastDeadline, "the wait of %s before retrying ends after the context's deadline: not waiting", wait.Round(time.Millisecond))
	}
	if c.budget != nil && !c.budget.take() {
		return 0, stopf(ErrRetryBudgetExhausted, "client retry budget exhausted")
	}
	return wait, nil
}

// honoursRetryAfter reports whether the answer's Retry-After sets the wait.
func honoursRetryAfter(resp *http.Response) bool {
	return resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable)
}

// backoffWait is exponential backoff with jitter: before the retry that
// follows attempt n (from 0), a random wait in [min, min(max, min·2^(n+1))].
func (c *Client) backoffWait(n int) time.Duration {
	lo, hi := c.cfg.backoffMin, c.cfg.backoffMax
	ceiling := hi
	if n < 62 {
		if d := lo << (n + 1); d > 0 && d < hi {
			ceiling = d
		}
	}
	if ceiling <= lo {
		return lo
	}
	return lo + time.Duration(c.jitter(int64(ceiling-lo)+1))
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
// A date in the past means 0. Garbage and negative numbers are ignored (ok is
// false); huge values saturate.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
				return time.Duration(math.MaxInt64), true
			}
			return 0, false
		}
		if secs > uint64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d = t.Sub(now); d < 0 {
		d = 0
	}
	return d, true
}

// logAttempt writes one debug line per attempt and one warn line per retry.
// It never logs credentials, signatures or bodies.
func (c *Client) logAttempt(ctx context.Context, st *sendState, resp *http.Response, err error, retry bool) {
	attrs := []slog.Attr{
		slog.String("request_id", st.requestID),
		slog.Int("attempt", st.attempts),
	}
	if !st.attemptStart.IsZero() {
		attrs = append(attrs, slog.Duration("duration", c.now().Sub(st.attemptStart)))
	}
	reason := ""
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
		reason = "status " + strconv.Itoa(resp.StatusCode)
	} else if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		reason = err.Error()
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "lisa: attempt", attrs...)
	if retry {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "lisa: retrying",
			slog.String("request_id", st.requestID),
			slog.Int("attempt", st.attempts),
			slog.String("reason", reason))
	} else if st.stop != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "lisa: not retrying",
			slog.String("request_id", st.requestID),
			slog.Int("attempt", st.attempts),
			slog.String("reason", reason+"; "+st.stop.detail))
	}
}

// retryBudget is a client-wide token bucket for retries, in the spirit of
// the AWS SDKs' standard retry mode: a retry takes a token, an accepted
// notification returns one, up to the size of the bucket.
type retryBudget struct {
	tokens atomic.Int64
	size   int64
}

func newRetryBudget(size int) *retryBudget {
	b := &retryBudget{size: int64(size)}
	b.tokens.Store(b.size)
	return b
}

// take spends a token, or reports false when there is none.
func (b *retryBudget) take() bool {
	for {
		n := b.tokens.Load()
		if n <= 0 {
			return false
		}
		if b.tokens.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// refill returns a token, unless the bucket is full.
func (b *retryBudget) refill() {
	for {
		n := b.tokens.Load()
		if n >= b.size {
			return
		}
		if b.tokens.CompareAndSwap(n, n+1) {
			return
		}
	}
}
