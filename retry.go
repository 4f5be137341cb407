package lisa

import (
	"context"
	"fmt"
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
// attempt. retryablehttp's DefaultRetryPolicy decides what is retryable
// (transport errors other than TLS, scheme and header errors; 429; 5xx but
// 501); on top of it we count attempts, honour or refuse Retry-After, and
// spend from the retry budget.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st := stateFrom(ctx)
	if st == nil { // not one of ours: the library's policy alone
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	st.attempts++
	retry, ctxErr := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if ctxErr != nil {
		return false, ctxErr
	}
	st.hasRA = false
	if resp != nil && resp.StatusCode >= 300 {
		st.retryAfter, st.hasRA = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	if retry {
		retry = c.mayRetry(ctx, st, resp)
	} else if c.budget != nil && resp != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		c.budget.refill()
	}
	if c.logger != nil {
		c.logAttempt(ctx, st, resp, err, retry)
	}
	return retry, nil
}

// mayRetry decides whether a retryable failure is retried, and records why
// not when it is not.
func (c *Client) mayRetry(ctx context.Context, st *sendState, resp *http.Response) bool {
	if st.attempts > c.cfg.maxRetries {
		if c.cfg.maxRetries > 0 {
			st.stop = fmt.Sprintf("gave up after %d retries", c.cfg.maxRetries)
		}
		return false
	}
	if st.hasRA && honoursRetryAfter(resp) {
		if st.retryAfter > MaxRetryAfter {
			st.stop = fmt.Sprintf("Retry-After %s is longer than %s: not waiting", st.retryAfter, MaxRetryAfter)
			return false
		}
		if deadline, ok := ctx.Deadline(); ok && st.retryAfter >= deadline.Sub(c.now()) {
			st.stop = fmt.Sprintf("Retry-After %s is past the context deadline: not waiting", st.retryAfter)
			return false
		}
	}
	if c.budget != nil && !c.budget.take() {
		st.stop = "client retry budget exhausted"
		return false
	}
	return true
}

// honoursRetryAfter reports whether the answer's Retry-After sets the wait.
func honoursRetryAfter(resp *http.Response) bool {
	return resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable)
}

// backoff is retryablehttp's Backoff: the server's Retry-After on 429 and 503
// (already checked against the limits by checkRetry), otherwise exponential
// backoff with jitter: a random wait in [min, min(max, min·2^(attempt+1))].
func (c *Client) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if honoursRetryAfter(resp) && resp.Request != nil {
		if st := stateFrom(resp.Request.Context()); st != nil && st.hasRA {
			return st.retryAfter
		}
	}
	ceiling := max
	if attempt < 62 {
		if d := min << (attempt + 1); d > 0 && d < max {
			ceiling = d
		}
	}
	if ceiling <= min {
		return min
	}
	return min + time.Duration(c.jitter(int64(ceiling-min)+1))
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
	} else if st.stop != "" {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "lisa: not retrying",
			slog.String("request_id", st.requestID),
			slog.Int("attempt", st.attempts),
			slog.String("reason", reason+"; "+st.stop))
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
