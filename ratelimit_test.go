package lisa_test

import (
	"context"
	"math"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arrivals returns the times the server received its requests, in order.
func arrivals(rec *recorder) []time.Time {
	var at []time.Time
	for _, r := range rec.requests() {
		at = append(at, r.At)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	return at
}

// TestRateLimitSpacesEveryAttempt: with a limit of 40 a second and bursts of
// 2, the i-th request the server receives, retries included, arrives no
// sooner than (i-1)/40 s after the sends began. Noise can only make requests
// later, so the bound holds on any machine; retries that skipped the limit
// would arrive within milliseconds and break it.
func TestRateLimitSpacesEveryAttempt(t *testing.T) {
	const perSecond, burst = 40.0, 2
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n%2 == 0 { // every other request fails once: retries
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	client := newTestClient(t, rec.URL, lisa.WithRateLimit(perSecond, burst), lisa.WithConcurrency(4), lisa.WithRetryBudget(0))
	payloads := make([]any, 12)
	for i := range payloads {
		payloads[i] = update("p", i)
	}
	start := time.Now() // the bucket holds at most burst tokens now
	client.SendAll(context.Background(), payloads)

	at := arrivals(rec)
	st := client.Stats()
	require.Greater(t, len(at), len(payloads), "some requests were retries")
	require.Equal(t, int64(len(at)), st.Attempts)
	for i, got := range at {
		earliest := start.Add(time.Duration(float64(i-burst+1) / perSecond * float64(time.Second)))
		assert.False(t, got.Before(earliest.Add(-time.Millisecond)),
			"request %d arrived %s after the start, sooner than the limit allows (%s)", i, got.Sub(start), earliest.Sub(start))
	}
	assert.Greater(t, st.ThrottleWaits, int64(0))
	t.Logf("%d requests in %s at %g/s, burst %d", len(at), at[len(at)-1].Sub(start).Round(time.Millisecond), perSecond, burst)
}

// TestRateLimitFailsFastPastTheDeadline: when the next token comes after the
// context's deadline, Send returns at once, before the deadline, with a
// retryable error matching ErrThrottled, for a first attempt and a retry.
func TestRateLimitFailsFastPastTheDeadline(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"ingest is busy"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	client := newTestClient(t, rec.URL, lisa.WithRateLimit(0.1, 1)) // a token every 10 s
	_, err := client.Send(context.Background(), []byte(`{"n":1}`))
	require.NoError(t, err, "the burst's token")

	// A first attempt.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = client.Send(ctx, []byte(`{"n":2}`))
	require.NoError(t, ctx.Err(), "Send slept into its deadline")
	require.ErrorIs(t, err, lisa.ErrThrottled)
	require.True(t, notSentErr(err), "%v", err)
	assert.True(t, lisa.IsRetryable(err))
	assert.Contains(t, err.Error(), "rate limit")
	assert.Len(t, rec.requests(), 1)

	// A retry: the first attempt goes (the bucket refilled for it), the
	// 503's retry would wait 10 s. The error is the 503 itself, with the
	// reason it was not retried, as when any other limit stops a retry.
	client2 := newTestClient(t, rec.URL, lisa.WithRateLimit(0.1, 1))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	_, err = client2.Send(ctx2, []byte(`{"n":3}`))
	require.NoError(t, ctx2.Err(), "Send slept into its deadline")
	require.ErrorIs(t, err, lisa.ErrThrottled)
	assert.False(t, notSentErr(err), "one request was made")
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
	assert.Equal(t, 1, apiErr.Attempts)
	assert.Equal(t, `{"error":"ingest is busy"}`, apiErr.Body)
	assert.Contains(t, err.Error(), "rate limit")
	assert.True(t, lisa.IsRetryable(err))
	assert.Len(t, rec.requests(), 2)
	assert.Equal(t, int64(1), client2.Stats().Failed.Throttled)

	// A wait that the caller ends.
	ctx3, cancel3 := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel3)
	_, err = client.Send(ctx3, []byte(`{"n":4}`))
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, notSentErr(err), "%v", err)
	assert.False(t, lisa.IsRetryable(err))
	assert.Len(t, rec.requests(), 2)
}

// TestCooldownHoldsEverySendOfTheClient: after a 429 or 503 with
// Retry-After: 1, no request of any Send of the client arrives before the
// second has passed, measured from when the server answered.
func TestCooldownHoldsEverySendOfTheClient(t *testing.T) {
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			answered := make(chan time.Time, 1)
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					answered <- time.Now()
					w.WriteHeader(code)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			client := newTestClient(t, rec.URL, lisa.WithConcurrency(4))
			first := make(chan error, 1)
			go func() {
				_, err := client.Send(context.Background(), []byte(`{"n":0}`))
				first <- err
			}()
			at := <-answered
			for client.Stats().Cooldown == 0 { // the client has read the answer
				time.Sleep(time.Millisecond)
			}
			payloads := []any{[]byte(`{"n":1}`), []byte(`{"n":2}`), []byte(`{"n":3}`), []byte(`{"n":4}`), []byte(`{"n":5}`)}
			for _, r := range client.SendAll(context.Background(), payloads) {
				require.NoError(t, r.Err)
			}
			require.NoError(t, <-first)

			reqs := rec.requests()
			require.Len(t, reqs, 7, "the first attempt, its retry and five sends")
			for i, r := range reqs[1:] {
				assert.False(t, r.At.Before(at.Add(time.Second)), "request %d arrived %s after the Retry-After answer", i+2, r.At.Sub(at))
			}
			assert.GreaterOrEqual(t, client.Stats().ThrottleWaits, int64(4), "the four sends started during the cooldown")
		})
	}
}

// TestCooldownFailsFast: a Send that the cooldown would hold past its
// deadline, or longer than MaxRetryAfter, returns at once with ErrThrottled.
func TestCooldownFailsFast(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "5")
		case 2:
			w.Header().Set("Retry-After", "600")
		default:
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.WriteHeader(http.StatusTooManyRequests)
	})
	client := newTestClient(t, rec.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := client.Send(ctx, []byte(`{"n":1}`))
	require.ErrorIs(t, err, lisa.ErrRetryPastDeadline, "its own Retry-After is past the deadline")

	_, err = client.Send(ctx, []byte(`{"n":2}`))
	require.NoError(t, ctx.Err(), "Send slept into its deadline")
	require.ErrorIs(t, err, lisa.ErrThrottled)
	require.True(t, notSentErr(err), "%v", err)
	assert.True(t, lisa.IsRetryable(err))
	assert.Contains(t, err.Error(), "Retry-After cooldown")
	assert.Len(t, rec.requests(), 1)

	// A Retry-After over MaxRetryAfter: the Send that got it stops, and
	// holds the client's other sends for MaxRetryAfter at most.
	other := newTestClient(t, rec.URL)
	_, err = other.Send(context.Background(), []byte(`{"n":3}`))
	require.ErrorIs(t, err, lisa.ErrRetryAfterTooLong)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err = other.Send(ctx2, []byte(`{"n":4}`))
	require.NoError(t, ctx2.Err(), "Send slept into its deadline")
	require.ErrorIs(t, err, lisa.ErrThrottled)
	assert.Greater(t, other.Stats().Cooldown, time.Minute)
	assert.LessOrEqual(t, other.Stats().Cooldown, lisa.MaxRetryAfter)
	assert.Len(t, rec.requests(), 2)
}

func TestWithRateLimitValidates(t *testing.T) {
	for _, tc := range []struct {
		perSecond float64
		burst     int
		want      string
	}{
		{-1, 1, "perSecond must be a finite number"},
		{math.NaN(), 1, "perSecond must be a finite number"},
		{math.Inf(1), 1, "perSecond must be a finite number"},
		{5, 0, "burst must be at least 1"},
	} {
		_, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithRateLimit(tc.perSecond, tc.burst))
		require.ErrorContains(t, err, "lisa: WithRateLimit: "+tc.want, "%v, %d", tc.perSecond, tc.burst)
	}
	for _, ok := range [][2]float64{{0, 0}, {0.5, 1}, {1000, 50}} {
		_, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithRateLimit(ok[0], int(ok[1])))
		require.NoError(t, err)
	}
}
