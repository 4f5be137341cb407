package lisa_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chaosFaults is a mix in which about a third of all attempts fail.
func chaosFaults(seed uint64) lisatest.RandomFaults {
	return lisatest.RandomFaults{
		Seed:        seed,
		ServerError: 0.12, // 500 and 503
		RateLimit:   0.06, // 429 with Retry-After: 0
		BadGateway:  0.04, // 502 with an HTML body
		DropBefore:  0.04, // connection closed before processing
		DropAfter:   0.04, // processed, then the answer is lost
		Slow:        0.03, // processed, then answered after the client gave up
		SlowDelay:   250 * time.Millisecond,
	}
}

// TestChaos sends 2,000 payloads through SendAll and 2,000 through SendSeq
// against a server that misbehaves on a third of the attempts, and checks
// that every payload is accounted for, none arrived under two identities,
// and nothing leaked.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, form := range []string{"SendAll", "SendSeq"} {
		t.Run(form, func(t *testing.T) {
			before := runtime.NumGoroutine()
			srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret, lisatest.WithRandomFaults(chaosFaults(2026)))
			client, err := lisa.NewClient(testPluginID, testAPIKey, testSecret,
				lisa.WithBaseURL(srv.URL),
				lisa.WithMaxRetries(10),
				lisa.WithBackoff(time.Millisecond, 10*time.Millisecond),
				lisa.WithTimeout(100*time.Millisecond), // shorter than SlowDelay
				lisa.WithConcurrency(16),
			) // the retry budget is left at its default
			require.NoError(t, err)

			const n = 2000
			payloads := make([]any, n)
			for i := range payloads {
				payloads[i] = []byte(fmt.Sprintf(`{"productId":"SKU-%d","price":%d.99,"stock":%d}`, i, i%500, i%37))
			}
			var results []lisa.Result
			if form == "SendAll" {
				results = client.SendAll(context.Background(), payloads)
			} else {
				results = make([]lisa.Result, n)
				got := make([]bool, n)
				for r := range client.SendSeq(context.Background(), slices.Values(payloads)) {
					require.False(t, got[r.Index], "a second result for payload %d", r.Index)
					got[r.Index] = true
					results[r.Index] = r
				}
				require.NotContains(t, got, false, "a result for every payload")
			}

			// Exactly one result per payload, each with a receipt or an error.
			require.Len(t, results, n)
			accepted, failed, retried := 0, 0, 0
			ids := map[string]int{} // request id → payload index
			for i, r := range results {
				require.Equal(t, i, r.Index)
				require.True(t, (r.Receipt == nil) != (r.Err == nil), "payload %d: exactly one of receipt and error", i)
				if r.Err != nil {
					failed++
					assert.True(t, strings.HasPrefix(r.Err.Error(), "lisa: "), r.Err.Error())
					continue
				}
				accepted++
				if r.Receipt.Attempts > 1 {
					retried++
				}
				_, dup := ids[r.Receipt.RequestID]
				require.False(t, dup, "two payloads share request id %s", r.Receipt.RequestID)
				ids[r.Receipt.RequestID] = i
			}

			// Every accepted payload was processed at least once, byte-exact,
			// with a valid signature; every delivery of a request id is the
			// same payload.
			verifier := lisa.NewSigner([]byte(testSecret))
			deliveries := map[string]int{}
			for _, got := range srv.Received() {
				require.True(t, verifier.Verify(got.Body, got.Signature))
				deliveries[got.RequestID]++
				if i, ok := ids[got.RequestID]; ok {
					require.Equal(t, payloads[i], got.Body, "request id %s carried another payload", got.RequestID)
				}
			}
			duplicates := 0
			for id, i := range ids {
				require.GreaterOrEqual(t, deliveries[id], 1, "payload %d reported accepted but never processed", i)
				duplicates += deliveries[id] - 1
			}
			for id := range deliveries {
				if _, ok := ids[id]; !ok {
					// Processed but reported failed: allowed (at-least-once),
					// and its result says why.
					duplicates += deliveries[id] - 1
				}
			}

			assert.GreaterOrEqual(t, accepted, n*999/1000, "at least 99.9%% accepted")
			requests, _ := srv.Counts()
			faults := srv.FaultCounts()
			conns := srv.Connections()
			var kinds []string
			for k, v := range faults {
				kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(kinds)
			t.Logf("chaos %s: %d payloads, %d accepted (%d after retries), %d failed, %d duplicate deliveries, %d requests on %d connections, faults: %s",
				form, n, accepted, retried, failed, duplicates, requests, conns, strings.Join(kinds, " "))

			// Connections are reused: only drops and timeouts need new ones.
			assert.Less(t, conns, requests/3, "connections are reused")

			client.CloseIdleConnections()
			srv.Close()
			waitForGoroutines(t, before)
		})
	}
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
