package lisa

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ErrThrottled matches the error of a Send that the client itself held
// back: its rate limit (WithRateLimit) or a cooldown after a Retry-After
// would have kept the next attempt waiting past the context's deadline (or,
// for a cooldown, longer than MaxRetryAfter), so Send returned at once
// instead of sleeping into the deadline. Nothing more was sent; when no
// attempt was made at all the error matches ErrNotSent too, and when a
// retry was held back the error is the last answer's *APIError. IsRetryable
// is true: the same notification may go through later.
var ErrThrottled = errors.New("lisa: throttled by the client")

// maxCooldown bounds the client-wide cooldown a Retry-After can set, so
// that an absurd value cannot overflow the clock arithmetic.
const maxCooldown = 24 * time.Hour

// WithRateLimit limits the attempts of the Client to perSecond on average,
// with bursts of up to burst attempts. Every attempt of every Send takes a
// token, first attempts and retries alike, whether it comes from Send,
// SendAll, SendSeq or a Queue. An attempt waits for its token; when the wait
// would end after the context's deadline, Send returns at once with an error
// matching ErrThrottled (IsRetryable is true).
//
// burst 1 spaces attempts evenly, 1/perSecond apart; a larger burst lets
// that many go at once after a quiet spell. perSecond 0 turns the limit off,
// which is the default (burst is then ignored).
//
// Independently of this option, every Client keeps a cooldown: after a 429
// or 503 answer with a Retry-After, no attempt of any of its Sends starts
// before the Retry-After has passed.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) error {
		switch {
		case math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || perSecond < 0:
			return errors.New("lisa: WithRateLimit: perSecond must be a finite number, 0 or more")
		case perSecond == 0:
			c.ratePerSecond, c.rateBurst = 0, 0
			return nil
		case burst < 1:
			return errors.New("lisa: WithRateLimit: burst must be at least 1")
		}
		c.ratePerSecond, c.rateBurst = perSecond, burst
		return nil
	}
}

// throttle is what can make an attempt wait before it starts: the rate
// limit (nil when off) and the client-wide cooldown after a Retry-After.
type throttle struct {
	limiter *rate.Limiter
	epoch   time.Time    // the monotonic origin of until
	until   atomic.Int64 // no attempt starts before epoch+until (ns); 0: never set
	waits   atomic.Int64 // attempts that waited, for Stats
}

func newThrottle(cfg config) *throttle {
	t := &throttle{epoch: time.Now()}
	if cfg.ratePerSecond > 0 {
		t.limiter = rate.NewLimiter(rate.Limit(cfg.ratePerSecond), cfg.rateBurst)
	}
	return t
}

// coolDown makes every attempt of the client wait until d from now has
// passed, unless an earlier Retry-After already asked for longer.
func (t *throttle) coolDown(d time.Duration) {
	if d <= 0 {
		return
	}
	u := int64(time.Since(t.epoch) + min(d, maxCooldown))
	for {
		old := t.until.Load()
		if old >= u || t.until.CompareAndSwap(old, u) {
			return
		}
	}
}

// cooldownLeft is how long attempts must still wait after a Retry-After.
func (t *throttle) cooldownLeft() time.Duration {
	u := t.until.Load()
	if u == 0 { // the common case: no Retry-After yet, no clock read
		return 0
	}
	return max(time.Duration(u)-time.Since(t.epoch), 0)
}

// wait returns when an attempt may start: after any cooldown and with a
// token of the rate limit. It returns ctx's error if ctx ends first, and a
// *retryStop matching ErrThrottled, at once, if the wait would end after
// ctx's deadline or a cooldown has more than MaxRetryAfter left.
func (t *throttle) wait(ctx context.Context) error {
	if t.limiter == nil && t.until.Load() == 0 {
		return nil
	}
	for {
		if left := t.cooldownLeft(); left > 0 {
			if left > MaxRetryAfter {
				return stopf(ErrThrottled, "a Retry-After cooldown holds every attempt of this client for %s more, longer than %s: not waiting", left.Round(time.Second), MaxRetryAfter)
			}
			if pastDeadline(ctx, left) {
				return stopf(ErrThrottled, "a Retry-After cooldown holds every attempt of this client for %s more, past the context's deadline: not waiting", left.Round(time.Millisecond))
			}
			t.waits.Add(1)
			observeWait(ctx, "cooldown", left)
			if err := sleep(ctx, left); err != nil {
				return err
			}
			continue
		}
		if t.limiter == nil {
			return nil
		}
		r := t.limiter.Reserve() // burst ≥ 1, so always OK
		d := r.Delay()
		if d == 0 {
			return nil
		}
		if pastDeadline(ctx, d) {
			r.Cancel()
			return stopf(ErrThrottled, "the client's rate limit would hold the attempt for %s, past the context's deadline: not waiting", d.Round(time.Millisecond))
		}
		t.waits.Add(1)
		observeWait(ctx, "rate-limit", d)
		if err := sleep(ctx, d); err != nil {
			r.Cancel()
			return err
		}
		if t.cooldownLeft() == 0 {
			return nil
		}
		// A Retry-After came in meanwhile: wait it out and take a fresh
		// token, so the attempts after the cooldown keep to the rate.
	}
}

// pastDeadline reports whether a wait of d would end at or after ctx's
// deadline.
func pastDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && d >= time.Until(deadline)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
