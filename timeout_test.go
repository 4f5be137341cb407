package lisa_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPerAttemptTimeoutRetries(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			select { // the first attempt hangs past the timeout
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL, lisa.WithTimeout(300*time.Millisecond))
	rcpt, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, 2, rcpt.Attempts)
	reqs := rec.requests()
	assert.Equal(t, reqs[0].Header.Get(lisa.RequestIDHeader), reqs[1].Header.Get(lisa.RequestIDHeader))
}

func TestHostileServerNeverAnswers(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() }
	t.Run("the per-attempt timeout fires and is retried", func(t *testing.T) {
		rec := newRecorder(t, hang)
		c := newTestClient(t, rec.URL, lisa.WithTimeout(30*time.Millisecond), lisa.WithMaxRetries(2))
		_, err := c.Send(context.Background(), []byte(`{}`))
		var netErr net.Error
		require.ErrorAs(t, err, &netErr)
		assert.True(t, netErr.Timeout())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "attempt timed out after 30ms")
		var sendErr *lisa.SendError
		require.ErrorAs(t, err, &sendErr)
		assert.Equal(t, 3, sendErr.Attempts)
		assert.Len(t, rec.requests(), 3)
	})
	t.Run("the context ends it", func(t *testing.T) {
		rec := newRecorder(t, hang)
		c := newTestClient(t, rec.URL) // 30s per attempt
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Send(ctx, []byte(`{}`))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Len(t, rec.requests(), 1, "no retry after the context ended")
	})
}

// TestRoundTrippersThatBreakTheContract: mock transports in users' tests
// return a response without a Body, or neither a response nor an error.
// net/http's Client tolerates the first and reports the second; so does
// Send, without a panic.
func TestRoundTrippersThatBreakTheContract(t *testing.T) {
	noBody := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusAccepted, Header: http.Header{}, Request: r}, nil
	})
	c := newTestClient(t, "http://127.0.0.1:1", lisa.WithHTTPClient(&http.Client{Transport: noBody}))
	rcpt, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, rcpt.StatusCode)

	noBodyError := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}, Request: r}, nil
	})
	c = newTestClient(t, "http://127.0.0.1:1", lisa.WithHTTPClient(&http.Client{Transport: noBodyError}))
	_, err = c.Send(context.Background(), product{"1", 2})
	assert.ErrorIs(t, err, lisa.ErrUnauthorized)

	nothing := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	c = newTestClient(t, "http://127.0.0.1:1", lisa.WithHTTPClient(&http.Client{Transport: nothing}), lisa.WithMaxRetries(0))
	_, err = c.Send(context.Background(), product{"1", 2})
	var sendErr *lisa.SendError
	require.ErrorAs(t, err, &sendErr)
	assert.Contains(t, err.Error(), "nil *http.Response")

	// The same checks hold when the caller's deadline bounds the attempt.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c = newTestClient(t, "http://127.0.0.1:1", lisa.WithHTTPClient(&http.Client{Transport: nothing}), lisa.WithMaxRetries(0),
		lisa.WithTimeout(2*time.Minute))
	_, err = c.Send(ctx, product{"1", 2})
	require.ErrorAs(t, err, &sendErr)
	assert.Contains(t, err.Error(), "nil *http.Response")
	c = newTestClient(t, "http://127.0.0.1:1", lisa.WithHTTPClient(&http.Client{Transport: noBody}), lisa.WithTimeout(2*time.Minute))
	rcpt, err = c.Send(ctx, product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, rcpt.StatusCode)
}

// TestACallerDeadlineThatComesFirstBoundsTheAttempt: when the caller's
// context ends before the per-attempt timeout would, the attempt runs on the
// caller's context itself (no context of the SDK's own, which net/http would
// pay a level of cancellation for); when the timeout comes first, the
// attempt gets a context of its own that the timeout ends.
func TestACallerDeadlineThatComesFirstBoundsTheAttempt(t *testing.T) {
	var attemptDone <-chan struct{}
	seeDone := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attemptDone = r.Context().Done()
		return &http.Response{StatusCode: http.StatusAccepted, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	c := newTestClient(t, "http://127.0.0.1:1", lisa.WithHTTPClient(&http.Client{Transport: seeDone}), lisa.WithTimeout(time.Minute))
	for _, tc := range []struct {
		name       string
		deadline   time.Duration // 0: no deadline
		callerOnly bool
	}{
		{"deadline before the timeout", 30 * time.Second, true},
		{"deadline after the timeout", 2 * time.Minute, false},
		{"no deadline", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tc.deadline > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.deadline)
			}
			defer cancel()
			_, err := c.Send(ctx, product{"1", 2})
			require.NoError(t, err)
			require.NotNil(t, attemptDone, "the attempt's context can be cancelled")
			assert.Equal(t, tc.callerOnly, attemptDone == ctx.Done(), "the attempt runs on the caller's context")
		})
	}

	// A context that reports a deadline it never acts on (a hand-written
	// "detach" wrapper that forgets Deadline) still gets the timeout.
	hang := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select { // answers after 5 s if the client has not given up
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
			w.WriteHeader(http.StatusAccepted)
		}
	})
	c = newTestClient(t, hang.URL, lisa.WithTimeout(300*time.Millisecond), lisa.WithMaxRetries(0))
	parent, cancelParent := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelParent()
	_, err := c.Send(detached{parent}, product{"1", 2})
	require.Error(t, err, "the attempt must not outlive the timeout")
	assert.Contains(t, err.Error(), "attempt timed out after 300ms")

	// Bounded by the caller's deadline, a hanging attempt ends with it.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	c = newTestClient(t, rec.URL, lisa.WithTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Send(ctx, product{"1", 2})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var sendErr *lisa.SendError
	require.ErrorAs(t, err, &sendErr)
	assert.Equal(t, 1, sendErr.Attempts)
}

// detached keeps a context's values and deadline but can never be
// cancelled: its Done is nil.
type detached struct{ context.Context }

func (detached) Done() <-chan struct{} { return nil }
func (detached) Err() error            { return nil }
