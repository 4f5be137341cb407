package lisa

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackoffWindow checks the jitter window of each retry with the
// randomness injected: the n-th retry waits in [min, min(max, min·2^(n+1))].
func TestBackoffWindow(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	lowest := func(n int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	for attempt, ceiling := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		assert.Equal(t, lo, backoffWait(lo, hi, attempt, lowest), "attempt %d, lowest draw", attempt)
		assert.Equal(t, ceiling, backoffWait(lo, hi, attempt, highest), "attempt %d, highest draw", attempt)
	}
	assert.Equal(t, hi, backoffWait(lo, hi, 200, highest), "a huge attempt number does not overflow")

	// A Retry-After recorded for a 503 wins over the backoff; not for a 500.
	c, err := NewClient("p", "k", "s", WithBackoff(lo, hi))
	require.NoError(t, err)
	c.jitter = highest
	a := &attempts{c: c, n: 1, hasRA: true, retryAfter: 7 * time.Second}
	wait, stop := a.nextWait(context.Background(), &http.Response{StatusCode: 503})
	require.Nil(t, stop)
	assert.Equal(t, 7*time.Second, wait)
	wait, stop = a.nextWait(context.Background(), &http.Response{StatusCode: 500})
	require.Nil(t, stop)
	assert.Equal(t, 200*time.Millisecond, wait, "not for a 500")
}

// TestParseRetryAfter: RFC 9110's two forms, in the unit chosen, with
// garbage ignored and huge values saturated rather than overflowed.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		unit time.Duration
		want time.Duration
		ok   bool
	}{
		{"120", time.Second, 2 * time.Minute, true},
		{" 5 ", time.Second, 5 * time.Second, true},
		{"1500", time.Millisecond, 1500 * time.Millisecond, true},
		{"0", time.Second, 0, true},
		{"99999999999", time.Second, time.Duration(math.MaxInt64), true},
		{"99999999999999999999999", time.Millisecond, time.Duration(math.MaxInt64), true},
		{"Mon, 07 Dec 2026 10:00:30 GMT", time.Millisecond, 30 * time.Second, true},
		{"Sun, 06 Dec 2026 10:00:30 GMT", time.Second, 0, true},
		{"-5", time.Second, 0, false},
		{"soon", time.Second, 0, false},
		{"1.5", time.Second, 0, false},
		{"", time.Second, 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now, tc.unit)
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

// TestParseRemaining: X-RateLimit-Remaining's format is not pinned down by
// LiSA's docs, so its leading integer counts.
func TestParseRemaining(t *testing.T) {
	for in, want := range map[string]int{
		"57": 57, " 57 ": 57, "57/60": 57, "57, 60": 57, "0": 0,
		"": -1, "garbage": -1, "/60": -1, "-3": -1, "99999999999999": -1,
	} {
		assert.Equal(t, want, parseRemaining(in), "%q", in)
	}
}

func TestRetryBudgetTokens(t *testing.T) {
	b := newRetryBudget(2)
	assert.True(t, b.take())
	assert.True(t, b.take())
	assert.False(t, b.take(), "empty")
	b.refill()
	assert.True(t, b.take())
	for i := 0; i < 10; i++ {
		b.refill()
	}
	assert.EqualValues(t, 2, b.tokens.Load(), "never above its size")
}
