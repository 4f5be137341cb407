package lisa_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryAfter(t *testing.T) {
	t.Run("honoured past the backoff max", func(t *testing.T) {
		rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
		c := newTestClient(t, rec.URL) // backoff max is 4ms
		rcpt, err := c.Send(context.Background(), product{"1", 2})
		require.NoError(t, err)
		assert.Equal(t, 2, rcpt.Attempts)
		reqs := rec.requests()
		assert.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), 900*time.Millisecond, "waited for Retry-After")
	})

	// Every form of the header, on 429 and 503: used, refused, or ignored
	// (then the backoff applies and retries run out).
	future := time.Now().Add(30 * 24 * time.Hour).UTC()
	cases := []struct {
		value      string
		ctxTimeout time.Duration
		reason     error         // why the Send gave up
		wantWait   time.Duration // RetryAfter on the error
	}{
		{"garbage", 0, lisa.ErrRetriesExhausted, 0},
		{"soon", 0, lisa.ErrRetriesExhausted, 0},
		{"-30", 0, lisa.ErrRetriesExhausted, 0},
		{"", 0, lisa.ErrRetriesExhausted, 0},
		{"0", 0, lisa.ErrRetriesExhausted, 0},
		{"1e9", 0, lisa.ErrRetriesExhausted, 0},
		{"1.5", 0, lisa.ErrRetriesExhausted, 0},
		{time.Now().Add(-24 * time.Hour).UTC().Format(http.TimeFormat), 0, lisa.ErrRetriesExhausted, 0},
		{"300", 0, lisa.ErrRetryAfterTooLong, 300 * time.Second},
		{"86400", 0, lisa.ErrRetryAfterTooLong, 24 * time.Hour},
		{"18446744073709551616", 0, lisa.ErrRetryAfterTooLong, time.Duration(math.MaxInt64)},
		{"99999999999999999999999", 0, lisa.ErrRetryAfterTooLong, time.Duration(math.MaxInt64)},
		{future.Format(http.TimeFormat), 0, lisa.ErrRetryAfterTooLong, 30 * 24 * time.Hour},
		{future.Format(time.RFC850), 0, lisa.ErrRetryAfterTooLong, 30 * 24 * time.Hour},
		{"30", 5 * time.Second, lisa.ErrRetryPastDeadline, 30 * time.Second},
	}
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%d %q", code, tc.value), func(t *testing.T) {
				rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
					w.Header().Set("Retry-After", tc.value)
					w.WriteHeader(code)
				})
				c := newTestClient(t, rec.URL, lisa.WithMaxRetries(2))
				ctx := context.Background()
				if tc.ctxTimeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
					defer cancel()
				}
				done := make(chan error, 1)
				go func() { _, err := c.Send(ctx, product{"1", 2}); done <- err }()
				var err error
				select {
				case err = <-done:
				case <-time.After(30 * time.Second):
					t.Fatal("Send is waiting for the Retry-After instead of giving up")
				}
				var apiErr *lisa.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, code, apiErr.StatusCode)
				assert.ErrorIs(t, err, tc.reason)
				assert.True(t, lisa.IsRetryable(err))
				if tc.reason == lisa.ErrRetriesExhausted {
					assert.Equal(t, 3, apiErr.Attempts, "unusable or past values fall back to the backoff")
					return
				}
				assert.Equal(t, 1, apiErr.Attempts)
				assert.InDelta(t, float64(tc.wantWait), float64(apiErr.RetryAfter), float64(2*time.Second))
			})
		}
	}
}

func TestTransportErrorsAreWrappedAndRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conn.Close() // drop every connection without an answer
		}
	}()
	defer ln.Close()
	c := newTestClient(t, "http://"+ln.Addr().String(), lisa.WithMaxRetries(2))
	_, err = c.Send(context.Background(), product{"1", 2})
	require.Error(t, err)
	var urlErr *url.Error
	assert.ErrorAs(t, err, &urlErr)
	var netErr net.Error
	assert.ErrorAs(t, err, &netErr)
	var apiErr *lisa.APIError
	assert.False(t, errors.As(err, &apiErr), "a transport failure is not an APIError")
	var sendErr *lisa.SendError
	require.ErrorAs(t, err, &sendErr)
	assert.Equal(t, 3, sendErr.Attempts)
	assert.EqualValues(t, 3, accepted.Load())
	assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
}

func TestLoggerLogsAttemptsWithoutSecrets(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	logs := newLogCapture()
	c := newTestClient(t, rec.URL, lisa.WithLogger(slog.New(logs)))
	rcpt, err := c.Send(context.Background(), product{"secret-product", 2})
	require.NoError(t, err)
	lines := logs.all()
	require.Len(t, lines, 3, "%q", lines)
	assert.Contains(t, lines[0], "DEBUG lisa: attempt request_id="+rcpt.RequestID+" attempt=1 duration=")
	assert.Contains(t, lines[0], "status=503")
	assert.Contains(t, lines[1], "WARN lisa: retrying")
	assert.Contains(t, lines[1], "reason=status 503")
	assert.Contains(t, lines[2], "attempt=2")
	assert.Contains(t, lines[2], "status=202")
	sig := rec.requests()[0].Header.Get(lisa.SignatureHeader)
	for _, l := range lines {
		for _, secret := range []string{testAPIKey, testSecret, sig, "secret-product"} {
			assert.NotContains(t, l, secret)
		}
	}
}

func TestBackoffWaitsAtLeastTheMinimum(t *testing.T) {
	rec := newRecorder(t, status(http.StatusBadGateway))
	c := newTestClient(t, rec.URL, lisa.WithBackoff(40*time.Millisecond, 40*time.Millisecond), lisa.WithMaxRetries(2))
	_, err := c.Send(context.Background(), product{"1", 2})
	require.ErrorIs(t, err, lisa.ErrServer)
	reqs := rec.requests()
	require.Len(t, reqs, 3)
	for i := 1; i < len(reqs); i++ {
		assert.GreaterOrEqual(t, reqs[i].At.Sub(reqs[i-1].At), 40*time.Millisecond, "retry %d", i)
	}
}

func TestHostileServerUnauthorizedEveryTime(t *testing.T) {
	rec := newRecorder(t, status(http.StatusUnauthorized))
	c := newTestClient(t, rec.URL, lisa.WithMaxRetries(10))
	for i := 0; i < 5; i++ {
		_, err := c.Send(context.Background(), []byte(`{}`))
		require.ErrorIs(t, err, lisa.ErrUnauthorized)
	}
	assert.Len(t, rec.requests(), 5, "exactly one attempt each: no retry storm")
}

// TestRetryBudgetStopsAStorm: with the ingest endpoint down, 5,000 payloads
// with 3 retries each allowed make at most 10% more requests than payloads,
// instead of 4×. Retry counts and the budget are the defaults; only the
// backoff is shortened so the test runs in milliseconds.
func TestRetryBudgetStopsAStorm(t *testing.T) {
	rec := newRecorder(t, status(http.StatusServiceUnavailable))
	client := newTestClient(t, rec.URL)
	const n = 5000
	payloads := make([]any, n)
	for i := range payloads {
		payloads[i] = []byte(`{"productId":"1"}`)
	}
	results := client.SendAll(context.Background(), payloads)
	attempts, budgetStops := 0, 0
	for _, r := range results {
		require.ErrorIs(t, r.Err, lisa.ErrServer)
		var apiErr *lisa.APIError
		require.ErrorAs(t, r.Err, &apiErr)
		attempts += apiErr.Attempts
		if strings.Contains(apiErr.Error(), "retry budget exhausted") {
			budgetStops++
		}
	}
	assert.Equal(t, attempts, len(rec.requests()))
	assert.LessOrEqual(t, attempts, n*11/10, "total attempts at most 1.1× the payloads")
	assert.Greater(t, budgetStops, n/2, "the errors say the budget stopped the retries")
	t.Logf("storm: %d payloads, %d attempts (%.3f per payload)", n, attempts, float64(attempts)/n)

	// Without the budget every payload retries 3 times.
	rec2 := newRecorder(t, status(http.StatusServiceUnavailable))
	unbounded := newTestClient(t, rec2.URL, lisa.WithRetryBudget(0))
	unbounded.SendAll(context.Background(), payloads[:100])
	assert.Len(t, rec2.requests(), 400)
}

// TestRetryBudgetRefills: once the endpoint recovers, accepted notifications
// refill the budget and retries work again.
func TestRetryBudgetRefills(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if down.Load() || n%2 == 0 { // while up, every other request fails once
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	client := newTestClient(t, rec.URL, lisa.WithRetryBudget(5), lisa.WithConcurrency(1))
	for i := 0; i < 10; i++ { // drains the 5 tokens
		_, _ = client.Send(context.Background(), []byte(`{}`))
	}
	down.Store(false)
	// Successes put tokens back, so the alternate failures get retried.
	ok := 0
	for i := 0; i < 20; i++ {
		if _, err := client.Send(context.Background(), []byte(`{}`)); err == nil {
			ok++
		}
	}
	assert.GreaterOrEqual(t, ok, 18)
}

// TestBackoffDoesNotSleepIntoTheDeadline: when the wait before the next
// retry would end after the context's deadline, Send returns the last
// answer at once instead of sleeping until the deadline and reporting
// DeadlineExceeded, and spends no budget token on a retry that never
// happens.
func TestBackoffDoesNotSleepIntoTheDeadline(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2: // a wait that Retry-After makes short, for the second Send
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithBaseURL(rec.URL),
		lisa.WithBackoff(5*time.Second, 10*time.Second), lisa.WithRetryBudget(1))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Send(ctx, product{"1", 2})
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr, "the server's answer, not the context's error")
	assert.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)
	assert.ErrorIs(t, err, lisa.ErrRetryPastDeadline)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, lisa.IsRetryable(err))
	assert.Len(t, rec.requests(), 1)

	// The budget's one token is still there: this Send's retry may use it.
	rcpt, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, 2, rcpt.Attempts)
}

// TestACancelledRetryGivesItsTokenBack: the budget token taken for a retry
// is returned when the context ends during the wait before it.
func TestACancelledRetryGivesItsTokenBack(t *testing.T) {
	rec := newRecorder(t, status(http.StatusServiceUnavailable))
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithBaseURL(rec.URL), lisa.WithBackoff(time.Hour, time.Hour))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = c.Send(ctx, product{"1", 2})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 100, c.Stats().RetryBudget, "no retry ran, so no token is spent")
}
