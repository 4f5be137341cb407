package lisa

import (
	"context"
	"errors"
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

// checkRetry is retryablehttp's CheckRetry for one Send, called after every
// attempt: it decides whether to retry, and how long to wait first (which
// backoff then returns), because stopping for a wait that is too long is a
// decision only this hook can make.
//
// An answer decides the outcome even if the context ended meanwhile: a 202
// received is an accepted notification. Transport errors are retried as
// retryablehttp's DefaultRetryPolicy says (not TLS, scheme or header
// errors), except an answer too large to read, which may have been an
// acceptance.
func (a *attempts) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	c := a.c
	a.stop, a.hasRA, a.wait = nil, false, 0
	var retry bool
	switch {
	case resp != nil:
		a.status = resp.StatusCode
		a.remaining = parseRemaining(resp.Header.Get("X-RateLimit-Remaining"))
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			if c.budget != nil {
				c.budget.refill()
			}
			break
		}
		a.errBody, a.cut = readErrorBody(resp.Body)
		resp.Body.Close()
		a.endAttempt()
		a.retryAfter, a.hasRA = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), c.cfg.retryAfterUnit)
		if a.hasRA && honoursRetryAfter(resp.StatusCode) {
			c.throttle.coolDown(a.retryAfter) // every Send of the client waits (MaxRetryAfter at most)
		}
		retry = retryableStatus(resp.StatusCode)
	case isUnreadableAnswer(err):
		a.unreadable = fmt.Errorf("%w: %w", errUnreadableAnswer, c.creds().scrub(err))
		return false, nil
	default:
		a.lastErr = err
		var ctxErr error
		if retry, ctxErr = retryablehttp.DefaultRetryPolicy(ctx, nil, err); ctxErr != nil {
			return false, ctxErr
		}
	}
	if retry {
		a.wait, a.stop = a.nextWait(ctx, resp)
		retry = a.stop == nil
		a.token = retry && c.budget != nil
	}
	if retry {
		reason := WaitBackoff
		if a.hasRA && honoursRetryAfter(a.status) {
			reason = WaitRetryAfter
		}
		c.observeWait(ctx, reason, a.wait)
	}
	if c.logger != nil {
		a.log(ctx, err, retry)
	}
	return retry, nil
}

// backoff is retryablehttp's Backoff for one Send: the wait checkRetry
// decided.
func (a *attempts) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return a.wait
}

// prepareRetry is retryablehttp's PrepareRetry for one Send: like the first
// attempt, a retry waits for the rate limit and any Retry-After cooldown.
// Its error ends the Send: the last answer is then the outcome.
func (a *attempts) prepareRetry(req *http.Request) error {
	if err := a.c.throttle.wait(req.Context(), a.c); err != nil {
		return err // the token is given back in outcome
	}
	a.token = false
	if a.c.jar != nil { // net/http adds the jar's cookies to the header
		req.Header = a.header.Clone()
	}
	return nil
}

// nextWait returns how long to wait before retrying a retryable failure, or
// why it is not retried: retries or the budget spent, a Retry-After over
// MaxRetryAfter, or a wait that would end after the context's deadline.
func (a *attempts) nextWait(ctx context.Context, resp *http.Response) (time.Duration, *retryStop) {
	c := a.c
	if a.n > c.cfg.maxRetries {
		if c.cfg.maxRetries == 0 {
			return 0, stopf(ErrRetriesExhausted, "retries are off")
		}
		return 0, stopf(ErrRetriesExhausted, "gave up after %d retries", c.cfg.maxRetries)
	}
	wait := backoffWait(c.cfg.backoffMin, c.cfg.backoffMax, a.n-1, c.jitter)
	if resp != nil && a.hasRA && honoursRetryAfter(resp.StatusCode) {
		if a.retryAfter > MaxRetryAfter {
			return 0, stopf(ErrRetryAfterTooLong, "Retry-After %s is longer than %s: not waiting", a.retryAfter, MaxRetryAfter)
		}
		wait = a.retryAfter
	}
	if deadline, ok := ctx.Deadline(); ok && wait >= time.Until(deadline) {
		return 0, stopf(ErrRetryPastDeadline, "the wait of %s before retrying ends after the context's deadline: not waiting", wait.Round(time.Millisecond))
	}
	if c.budget != nil && !c.budget.take() {
		return 0, stopf(ErrRetryBudgetExhausted, "client retry budget exhausted")
	}
	return wait, nil
}

// honoursRetryAfter reports whether an answer's Retry-After sets the wait.
func honoursRetryAfter(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// retryableStatus reports whether an answer with this status is worth
// retrying: 429 and 5xx other than 501 Not Implemented.
func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status <= 599 && status != http.StatusNotImplemented)
}

// backoffWait is exponential backoff with jitter: before the retry that
// follows attempt n (from 0), a random wait in [lo, min(hi, lo·2^(n+1))].
func backoffWait(lo, hi time.Duration, n int, jitter func(int64) int64) time.Duration {
	ceiling := hi
	if n < 62 {
		if d := lo << (n + 1); d > 0 && d < hi {
			ceiling = d
		}
	}
	if ceiling <= lo {
		return lo
	}
	return lo + time.Duration(jitter(int64(ceiling-lo)+1))
}

// parseRetryAfter reads a Retry-After value: a number of units (seconds
// unless WithRetryAfterUnit says milliseconds) or an HTTP date. A date in
// the past means 0. Garbage and negative numbers are ignored (ok is false);
// huge values saturate.
func parseRetryAfter(v string, now time.Time, unit time.Duration) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return time.Duration(math.MaxInt64), true
			}
			return 0, false
		}
		if n > uint64(math.MaxInt64/int64(unit)) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(n) * unit, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// parseRemaining reads X-RateLimit-Remaining leniently: LiSA's docs do not
// pin its format, so the leading integer counts ("57", "57/60"); -1 when
// there is none.
func parseRemaining(v string) int {
	v = strings.TrimSpace(v)
	end := 0
	for end < len(v) && end < 10 && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == 0 || (end < len(v) && v[end] >= '0' && v[end] <= '9') {
		return -1
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return -1
	}
	return n
}

// log writes one debug line per attempt and one warn line per retry, or
// per retryable failure not retried. It never logs credentials,
// signatures or bodies.
func (a *attempts) log(ctx context.Context, err error, retry bool) {
	attrs := []slog.Attr{
		slog.String("request_id", a.requestID),
		slog.Int("attempt", a.n),
		slog.Duration("duration", time.Since(a.started)),
	}
	reason := ""
	if a.status != 0 {
		attrs = append(attrs, slog.Int("status", a.status))
		reason = "status " + strconv.Itoa(a.status)
	} else if err != nil {
		reason = a.c.creds().scrub(err).Error()
		attrs = append(attrs, slog.String("error", reason))
	}
	l := a.c.logger
	l.LogAttrs(ctx, slog.LevelDebug, "lisa: attempt", attrs...)
	switch {
	case retry:
		l.LogAttrs(ctx, slog.LevelWarn, "lisa: retrying", slog.String("request_id", a.requestID), slog.Int("attempt", a.n), slog.String("reason", reason))
	case a.stop != nil:
		l.LogAttrs(ctx, slog.LevelWarn, "lisa: not retrying", slog.String("request_id", a.requestID), slog.Int("attempt", a.n), slog.String("reason", reason+"; "+a.stop.detail))
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
