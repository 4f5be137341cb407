package lisa_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
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

func TestSendAllOneResultPerPayloadInOrder(t *testing.T) {
	var inFlight, peak atomic.Int32
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond) // let the workers overlap
		var p product
		_ = json.NewDecoder(r.Body).Decode(&p)
		if n%7 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(3), lisa.WithMaxRetries(5))

	payloads := make([]any, 60)
	for i := range payloads {
		payloads[i] = product{fmt.Sprint(i), float64(i)}
	}
	payloads[10] = []byte("not json")
	payloads[20] = nil
	results := c.SendAll(context.Background(), payloads)

	require.Len(t, results, len(payloads))
	for i, r := range results {
		assert.Equal(t, i, r.Index)
		if i != 10 && i != 20 {
			assert.JSONEq(t, string(mustJSON(t, payloads[i])), string(r.Body), "Body is what was sent")
		}
		assert.True(t, (r.Receipt == nil) != (r.Err == nil), "result %d has exactly one of receipt and error", i)
		switch i {
		case 10, 20:
			assert.ErrorIs(t, r.Err, lisa.ErrInvalidPayload)
		default:
			assert.NoError(t, r.Err, i)
		}
	}
	assert.LessOrEqual(t, peak.Load(), int32(3), "never more than WithConcurrency in flight")
	assert.Greater(t, peak.Load(), int32(1), "sends did overlap")
}

func TestSendAllEmpty(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	assert.Empty(t, c.SendAll(context.Background(), nil))
}

func TestSendAllContextEndAccountsForEveryPayload(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusAccepted)
	})
	defer close(release)
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(2))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(rec.requests()) < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	payloads := make([]any, 50)
	for i := range payloads {
		payloads[i] = product{fmt.Sprint(i), 1}
	}
	results := c.SendAll(ctx, payloads)
	require.Len(t, results, 50)
	for i, r := range results {
		assert.Equal(t, i, r.Index)
		assert.Nil(t, r.Receipt)
		assert.ErrorIs(t, r.Err, context.Canceled, i)
	}
	assert.LessOrEqual(t, len(rec.requests()), 2, "nothing was sent after the context ended")
}

func TestSendSeqStreamsAndStopsEarly(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(4))
	before := runtime.NumGoroutine()

	var produced atomic.Int32
	endless := iter.Seq[any](func(yield func(any) bool) {
		for i := 0; ; i++ {
			produced.Add(1)
			if !yield([]byte(fmt.Sprintf(`{"productId":"%d"}`, i))) {
				return
			}
		}
	})
	got := 0
	for r := range c.SendSeq(context.Background(), endless) {
		require.NoError(t, r.Err)
		got++
		if got == 25 {
			break
		}
	}
	assert.Equal(t, 25, got)
	// Reading stopped soon after: past the 25 consumed, at most the result
	// buffer, the workers and the job buffer (each the concurrency, 4), the
	// payload in the feeder's hand and the one being produced.
	assert.LessOrEqual(t, int(produced.Load()), 25+3*4+2)

	c.CloseIdleConnections()
	waitForGoroutines(t, before)
}

func TestSendSeqYieldsEveryInput(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n%3 == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(5))
	const n = 200
	seen := make([]int, n)
	for r := range c.SendSeq(context.Background(), func(yield func(any) bool) {
		for i := 0; i < n; i++ {
			if !yield(product{fmt.Sprint(i), 1}) {
				return
			}
		}
	}) {
		seen[r.Index]++
		assert.True(t, (r.Receipt == nil) != (r.Err == nil))
		assert.JSONEq(t, string(mustJSON(t, product{fmt.Sprint(r.Index), 1})), string(r.Body))
	}
	for i, k := range seen {
		assert.Equal(t, 1, k, "payload %d", i)
	}
	assert.Len(t, rec.requests(), n, "400 is not retried")
}

// TestBatchesStopAfterA401: a 401 means every other request would fail the
// same way, so SendAll and SendSeq start no new sends after it. The
// payloads not sent are accounted for with an error that says so, and an
// invalid payload is still reported as invalid.
func TestBatchesStopAfterA401(t *testing.T) {
	const n, concurrency = 200, 4
	payloads := make([]any, n)
	for i := range payloads {
		payloads[i] = product{fmt.Sprint(i), 1}
	}
	payloads[n-1] = []byte("not json")
	check := func(t *testing.T, rec *recorder, results []lisa.Result) {
		t.Helper()
		require.Len(t, results, n)
		assert.LessOrEqual(t, len(rec.requests()), concurrency, "only the sends already started")
		notSent := 0
		for _, r := range results {
			switch {
			case r.Index == n-1:
				assert.ErrorIs(t, r.Err, lisa.ErrInvalidPayload)
			case notSentErr(r.Err):
				notSent++
				assert.ErrorIs(t, r.Err, lisa.ErrUnauthorized)
				assert.False(t, lisa.IsRetryable(r.Err))
				assert.Contains(t, r.Err.Error(), "not sent")
			default:
				var apiErr *lisa.APIError
				require.ErrorAs(t, r.Err, &apiErr)
				assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
			}
		}
		assert.GreaterOrEqual(t, notSent, n-1-concurrency)
	}
	t.Run("SendAll", func(t *testing.T) {
		rec := newRecorder(t, status(http.StatusUnauthorized))
		c := newTestClient(t, rec.URL, lisa.WithConcurrency(concurrency))
		check(t, rec, c.SendAll(context.Background(), payloads))
	})
	t.Run("SendSeq", func(t *testing.T) {
		rec := newRecorder(t, status(http.StatusUnauthorized))
		c := newTestClient(t, rec.URL, lisa.WithConcurrency(concurrency))
		results := make([]lisa.Result, n)
		for r := range c.SendSeq(context.Background(), slices.Values(payloads)) {
			results[r.Index] = r
		}
		check(t, rec, results)
	})
}

// panicky panics when encoded, like a buggy MarshalJSON in user code.
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("boom from MarshalJSON") }

// recovered runs f and returns what it panicked with.
func recovered(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// TestUserPanicsReachTheCaller: a panic in user code run on SendAll's or
// SendSeq's goroutines would kill the process; it is raised again in the
// caller's goroutine, with the original value and stack, after every
// goroutine of the batch has ended.
func TestUserPanicsReachTheCaller(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(3))
	payloads := []any{product{"1", 1}, product{"2", 1}, panicky{}, product{"3", 1}}
	seqOf := func(ps ...any) iter.Seq[any] { return slices.Values(ps) }
	runs := map[string]func(){
		"SendAll MarshalJSON": func() { c.SendAll(context.Background(), payloads) },
		"SendSeq MarshalJSON": func() {
			for range c.SendSeq(context.Background(), seqOf(payloads...)) {
			}
		},
		"SendSeq sequence": func() {
			seq := func(yield func(any) bool) {
				yield(product{"1", 1})
				panic("boom from the sequence")
			}
			for range c.SendSeq(context.Background(), seq) {
			}
		},
	}
	for name, run := range runs {
		t.Run(name, func(t *testing.T) {
			baseline := runtime.NumGoroutine()
			v := recovered(run)
			var p *lisa.GoroutinePanic
			require.IsType(t, p, v)
			p = v.(*lisa.GoroutinePanic)
			assert.Contains(t, fmt.Sprint(p.Value), "boom from")
			assert.Regexp(t, `panicky\.MarshalJSON|TestUserPanicsReachTheCaller`, string(p.Stack), "the stack where user code panicked")
			c.CloseIdleConnections()
			waitForGoroutines(t, baseline)
		})
	}
}
