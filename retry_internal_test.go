package lisa

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackoffWindow checks the jitter window of each retry with the
// randomness injected: the n-th retry waits in [min, min(max, min·2^(n+1))].
func TestBackoffWindow(t *testing.T) {
	c, err := NewClient("p", "k", "s")
	require.NoError(t, err)
	min, max := 100*time.Millisecond, time.Second
	for attempt, ceiling := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		c.jitter = func(n int64) int64 { return 0 }
		assert.Equal(t, min, c.backoff(min, max, attempt, nil), "attempt %d, lowest draw", attempt)
		c.jitter = func(n int64) int64 { return n - 1 }
		assert.Equal(t, ceiling, c.backoff(min, max, attempt, nil), "attempt %d, highest draw", attempt)
	}
	c.jitter = func(n int64) int64 { return n - 1 }
	assert.Equal(t, max, c.backoff(min, max, 200, nil), "a huge attempt number does not overflow")

	// A Retry-After recorded for a 503 wins over the backoff.
	st := &sendState{Context: context.Background(), hasRA: true, retryAfter: 7 * time.Second}
	req, err := http.NewRequestWithContext(st, http.MethodPost, "http://127.0.0.1/", nil)
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, c.backoff(min, max, 0, &http.Response{StatusCode: 503, Request: req}))
	assert.Equal(t, 200*time.Millisecond, c.backoff(min, max, 0, &http.Response{StatusCode: 500, Request: req}), "not for a 500")
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
