package lisa

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func expired(ctx context.Context) bool {
	var timeout *attemptTimeoutError
	return errors.As(context.Cause(ctx), &timeout)
}

func TestAttemptWatchExpiresOnlyLateAttempts(t *testing.T) {
	w := newAttemptWatch(50 * time.Millisecond)
	first, a1 := w.start(context.Background())
	second, a2 := w.start(context.Background())
	third, a3 := w.start(context.Background())
	w.done(a2) // finished in time: never cancelled by the watch

	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt was not cancelled after its timeout")
	}
	<-third.Done()
	assert.True(t, expired(first))
	assert.True(t, expired(third))
	assert.False(t, expired(second), "a finished attempt is not timed out")
	assert.ErrorIs(t, context.Cause(first), context.DeadlineExceeded)
	var netErr net.Error
	require.ErrorAs(t, context.Cause(first), &netErr)
	assert.True(t, netErr.Timeout())
	w.done(a1) // done after expiry, and twice: harmless
	w.done(a3)
	w.done(a3)

	// Idle, the timer rests; a new attempt arms it again.
	require.Eventually(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.armed }, 5*time.Second, time.Millisecond)
	late, _ := w.start(context.Background())
	select {
	case <-late.Done():
		assert.True(t, expired(late))
	case <-time.After(10 * time.Second):
		t.Fatal("an attempt after an idle spell was not timed out")
	}
}

func TestAttemptWatchParentCancel(t *testing.T) {
	w := newAttemptWatch(time.Hour)
	parent, cancel := context.WithCancel(context.Background())
	ctx, a := w.start(parent)
	cancel()
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.False(t, expired(ctx), "the caller's cancel is not a timeout")
	w.done(a)
	assert.Nil(t, w.head, "the list is empty")
}

func TestAttemptWatchConcurrent(t *testing.T) {
	w := newAttemptWatch(20 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	timedOut, finished := 0, 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				ctx, a := w.start(context.Background())
				if (g+i)%10 == 0 { // some attempts hang past the timeout
					<-ctx.Done()
				}
				w.done(a)
				mu.Lock()
				if expired(ctx) {
					timedOut++
				} else {
					finished++
				}
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	assert.Equal(t, 1600, timedOut+finished)
	assert.GreaterOrEqual(t, timedOut, 160, "every hanging attempt timed out")
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Nil(t, w.head)
	assert.Nil(t, w.tail)
}
