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
	min, max := 100*time.Millisecond, time.Second
	c, err := NewClient("p", "k", "s", WithBackoff(min, max))
	require.NoError(t, err)
	for attempt, ceiling := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		c.jitter = func(n int64) int64 { return 0 }
		assert.Equal(t, min, c.backoffWait(attempt), "attempt %d, lowest draw", attempt)
		c.jitter = func(n int64) int64 { return n - 1 }
		assert.Equal(t, ceiling, c.backoffWait(attempt), "attempt %d, highest draw", attempt)
	}
	c.jitter = func(n int64) int64 { return n - 1 }
	assert.Equal(t, max, c.backoffWait(200), "a huge attempt number does not overflow")

	// A Retry-After recorded for a 503 wins over the backoff; not for a 500.
	st := &sendState{Context: context.Background(), attempts: 1, hasRA: true, retryAfter: 7 * time.Second}
	wait, stop := c.nextWait(st, st, &http.Response{StatusCode: 503})
	require.Nil(t, stop)
	assert.Equal(t, 7*time.Second, wait)
	wait, stop = c.nextWait(st, st, &http.Response{StatusCode: 500})
	require.Nil(t, stop)
	assert.Equal(t, 200*time.Millisecond, wait, "not for a 500")
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
