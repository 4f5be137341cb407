package lisa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// resultLog collects a queue's results by index and notes any second
// result for a payload.
type resultLog struct {
	mu      sync.Mutex
	byIndex map[int]lisa.Result
	dups    []int
	calls   int
}

func newResultLog() *resultLog { return &resultLog{byIndex: map[int]lisa.Result{}} }

func (l *resultLog) add(r lisa.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if _, ok := l.byIndex[r.Index]; ok {
		l.dups = append(l.dups, r.Index)
	}
	l.byIndex[r.Index] = r
}

func (l *resultLog) snapshot() (map[int]lisa.Result, []int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]lisa.Result, len(l.byIndex))
	for k, v := range l.byIndex {
		out[k] = v
	}
	return out, append([]int(nil), l.dups...), l.calls
}

// spillRecorder is a Spill writer that keeps its lines, counts writes that
// overlap (the queue must serialise them), and fails when err is set.
type spillRecorder struct {
	busy     atomic.Bool
	overlaps atomic.Int64
	mu       sync.Mutex
	buf      bytes.Buffer
	err      error
}

func (s *spillRecorder) Write(p []byte) (int, error) {
	if !s.busy.CompareAndSwap(false, true) {
		s.overlaps.Add(1)
	} else {
		defer s.busy.Store(false)
	}
	runtime.Gosched() // give an overlapping write the chance to show
	if s.err != nil {
		return 0, s.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// lines returns the lines written, without their newlines.
func (s *spillRecorder) lines(t *testing.T) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	text := s.buf.String()
	if text == "" {
		return nil
	}
	require.True(t, strings.HasSuffix(text, "\n"), "every line ends with a newline")
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// gatedServer is a lisatest endpoint in front of which requests whose body
// hold says to hold wait until release is called (or the client goes away).
// Every request's body is sent on arrived as it comes in.
type gatedServer struct {
	*httptest.Server
	handler  *lisatest.Handler
	arrived  chan string
	open     chan struct{}
	openOnce sync.Once
}

func newGatedServer(t *testing.T, secret string, hold func(body string) bool) *gatedServer {
	t.Helper()
	g := &gatedServer{
		handler: lisatest.NewHandler(testPluginID, testAPIKey, secret),
		arrived: make(chan string, 10_000),
		open:    make(chan struct{}),
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.arrived <- string(body)
		if hold(string(body)) {
			select {
			case <-g.open:
			case <-r.Context().Done():
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { g.release(); g.CloseClientConnections(); g.Close() })
	return g
}

func (g *gatedServer) release() { g.openOnce.Do(func() { close(g.open) }) }

// waitArrival returns the next request body to arrive, failing after 10s.
func (g *gatedServer) waitArrival(t *testing.T) string {
	t.Helper()
	select {
	case b := <-g.arrived:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
		return ""
	}
}

func holdAll(string) bool { return true }

func newQueue(t *testing.T, c *lisa.Client, opts lisa.QueueOptions) *lisa.Queue {
	t.Helper()
	q, err := lisa.NewQueue(c, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Close(ctx)
	})
	return q
}

func update(id string, version int) []byte {
	return []byte(fmt.Sprintf(`{"productId":%q,"version":%d}`, id, version))
}

// TestQueueAccountingUnderFaults enqueues 3,200 payloads (2,400 without a
// key, 800 as 8 quick updates of 100 keys) against a server that misbehaves
// on a third of the attempts, with few retries so that some fail, and checks
// that every payload has exactly one result, that the results agree with
// what the server processed and with what was spilled, that every key's
// states reached the server in order, and that nothing leaked.
func TestQueueAccountingUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret, lisatest.WithRandomFaults(chaosFaults(1010)))
	defer srv.Close()
	client, err := lisa.NewClient(testPluginID, testAPIKey, testSecret,
		lisa.WithBaseURL(srv.URL),
		lisa.WithMaxRetries(2), // few, so that some payloads fail and are spilled
		lisa.WithBackoff(time.Millisecond, 10*time.Millisecond),
		lisa.WithTimeout(100*time.Millisecond), // shorter than SlowDelay
		lisa.WithConcurrency(16),
	)
	require.NoError(t, err)
	defer client.CloseIdleConnections()

	log, spill := newResultLog(), &spillRecorder{}
	q, err := lisa.NewQueue(client, lisa.QueueOptions{Workers: 16, OnResult: log.add, Spill: spill})
	require.NoError(t, err)

	// Eight rounds of 300 payloads without a key and one update of each of
	// 100 keys, a moment apart, so that an update finds its key's previous
	// state waiting (superseded), in flight (parked) or done (sent anew).
	const rounds, plainPerRound, keys = 8, 300, 100
	bodies := map[int][]byte{} // index → bytes enqueued
	keyOf := map[int]string{}  // index → key
	newest := map[string]int{} // key → index of its last payload
	version := map[int]int{}   // index → version within its key
	index := 0
	for round := 0; round < rounds; round++ {
		for i := 0; i < plainPerRound+keys; i++ {
			var body []byte
			key := ""
			if i < plainPerRound {
				body = update(fmt.Sprint("SKU-", index), 0)
				require.NoError(t, q.Enqueue(context.Background(), body))
			} else {
				key = fmt.Sprint("KEY-", i-plainPerRound)
				body = update(key, round)
				require.NoError(t, q.EnqueueKey(context.Background(), key, body))
				newest[key], version[index] = index, round
			}
			bodies[index], keyOf[index] = body, key
			index++
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, q.Close(ctx), "nothing was cut off: failures are reported, not Close's error")

	// Exactly one result per payload.
	results, dups, calls := log.snapshot()
	total := rounds * (plainPerRound + keys)
	require.Empty(t, dups, "payloads with a second result")
	require.Len(t, results, total)
	require.Equal(t, total, calls)

	accepted, failed, superseded, spilled, keyedSent := 0, 0, 0, 0, 0
	var spilledBodies []string
	ids := map[string]int{}
	for i := 0; i < total; i++ {
		r, ok := results[i]
		require.True(t, ok, "no result for payload %d", i)
		require.Equal(t, keyOf[i], r.Key)
		if !errors.Is(r.Err, lisa.ErrSuperseded) {
			require.Equal(t, bodies[i], r.Body)
		}
		require.True(t, (r.Receipt == nil) != (r.Err == nil), "payload %d: exactly one of receipt and error", i)
		if r.Key != "" && !errors.Is(r.Err, lisa.ErrSuperseded) {
			keyedSent++
		}
		switch {
		case r.Err == nil:
			accepted++
			ids[r.Receipt.RequestID] = i
			require.False(t, r.Spilled)
		case errors.Is(r.Err, lisa.ErrSuperseded):
			superseded++
			require.NotEmpty(t, r.Key, "only keyed payloads are superseded")
			require.NotEqual(t, newest[r.Key], i, "the newest payload of a key is never superseded")
			require.False(t, r.Spilled)
		default:
			failed++
			retryable := lisa.IsRetryable(r.Err)
			if r.Spilled {
				spilled++
				spilledBodies = append(spilledBodies, string(bodies[i]))
				require.True(t, retryable, "payload %d spilled after a permanent failure: %v", i, r.Err)
			} else if retryable {
				require.NotEmpty(t, r.Key, "payload %d failed retryably but was not spilled: %v", i, r.Err)
				require.NotEqual(t, newest[r.Key], i, "only a payload with a newer state of its key goes unspilled")
			}
		}
	}
	require.Equal(t, total, accepted+failed+superseded)

	// The server processed every accepted payload, byte-exact, under its
	// request id; every key's states arrived in order.
	seen := map[string]bool{}
	lastVersion := map[string]int{}
	for _, got := range srv.Received() {
		seen[got.RequestID] = true
		if i, ok := ids[got.RequestID]; ok {
			require.Equal(t, bodies[i], got.Body)
		}
		var p struct {
			ProductID string `json:"productId"`
			Version   int    `json:"version"`
		}
		require.NoError(t, json.Unmarshal(got.Body, &p))
		if strings.HasPrefix(p.ProductID, "KEY-") {
			if last, ok := lastVersion[p.ProductID]; ok {
				require.GreaterOrEqual(t, p.Version, last, "%s: version %d arrived after version %d", p.ProductID, p.Version, last)
			}
			lastVersion[p.ProductID] = p.Version
		}
	}
	for id, i := range ids {
		require.True(t, seen[id], "payload %d reported accepted but never processed", i)
	}
	for key, i := range newest {
		if r := results[i]; r.Err == nil {
			assert.Equal(t, version[i], lastVersion[key], "%s: the last state LiSA received is the last one enqueued", key)
		}
	}

	// Spill holds exactly the spilled payloads, written one at a time.
	lines := spill.lines(t)
	sort.Strings(lines)
	sort.Strings(spilledBodies)
	require.Equal(t, spilledBodies, lines)
	require.Zero(t, spill.overlaps.Load(), "Spill writes overlapped")

	st := q.Stats()
	assert.Equal(t, lisa.QueueStats{Enqueued: int64(total), Accepted: int64(accepted), Failed: int64(failed),
		Superseded: int64(superseded), Spilled: int64(spilled)}, st)
	cs := client.Stats()
	assert.Equal(t, int64(accepted), cs.Accepted)
	assert.Equal(t, int64(failed), cs.Failed.Total())
	assert.Equal(t, int64(total-superseded), cs.Sends)
	assert.Greater(t, superseded, 0, "quick updates of a key were coalesced")
	assert.Greater(t, failed, 0, "the fault mix makes some payloads fail after 2 retries")

	requests, _ := srv.Counts()
	t.Logf("queue chaos: %d payloads (%d keyed, of which %d sent and %d superseded), %d accepted, %d failed (%d spilled); %d requests, %d attempts, %d retries",
		total, rounds*keys, keyedSent, superseded, accepted, failed, spilled, requests, cs.Attempts, cs.Retries)
}

// TestQueueCoalescesUpdatesOfAKey: ten quick updates of a key while its
// first state is in flight make two requests, the first state and the last;
// another key is not held up meanwhile.
func TestQueueCoalescesUpdatesOfAKey(t *testing.T) {
	srv := newGatedServer(t, testSecret, func(body string) bool { return strings.Contains(body, `"p1"`) })
	client := newTestClient(t, srv.URL, lisa.WithConcurrency(4))
	log := newResultLog()
	q := newQueue(t, client, lisa.QueueOptions{Workers: 4, OnResult: log.add})
	ctx := context.Background()

	require.NoError(t, q.EnqueueKey(ctx, "p1", update("p1", 0)))
	require.Equal(t, string(update("p1", 0)), srv.waitArrival(t), "the first state is sent at once")
	for v := 1; v <= 10; v++ {
		require.NoError(t, q.EnqueueKey(ctx, "p1", update("p1", v)))
	}
	// Another key goes through while p1 is held.
	require.NoError(t, q.EnqueueKey(ctx, "p2", update("p2", 0)))
	require.Equal(t, string(update("p2", 0)), srv.waitArrival(t))
	st := q.Stats()
	assert.Equal(t, 1, st.Waiting, "one state of p1 waits behind the one in flight")
	assert.Equal(t, int64(9), st.Superseded)

	srv.release()
	require.NoError(t, q.Flush(ctx))
	var sent []string
	for _, n := range srv.handler.Received() {
		sent = append(sent, string(n.Body))
	}
	assert.ElementsMatch(t, []string{string(update("p1", 0)), string(update("p1", 10)), string(update("p2", 0))}, sent)
	assert.Equal(t, string(update("p1", 10)), srv.waitArrival(t), "the last state is sent after the first has finished")

	results, dups, _ := log.snapshot()
	require.Empty(t, dups)
	require.Len(t, results, 12)
	for i := 0; i <= 10; i++ {
		r := results[i]
		assert.Equal(t, "p1", r.Key)
		if i == 0 || i == 10 {
			assert.Equal(t, update("p1", i), r.Body)
		}
		if i == 0 || i == 10 {
			assert.NoError(t, r.Err, "state %d", i)
		} else {
			assert.ErrorIs(t, r.Err, lisa.ErrSuperseded, "state %d", i)
		}
	}
	assert.NoError(t, results[11].Err)
	assert.Equal(t, "p2", results[11].Key)
}

// TestQueueSendsAKeyUpdatedContinuously: a key replaced at every step
// keeps its place in line, so it is sent while the updates go on. The server
// lets one request through per step; at each step the key is updated and
// another payload joins the line. Had each update gone to the back of the
// line, the key would never be sent.
func TestQueueSendsAKeyUpdatedContinuously(t *testing.T) {
	step := make(chan struct{})
	var srv *gatedServer
	srv = newGatedServer(t, testSecret, func(string) bool {
		select {
		case <-step:
		case <-srv.open:
		}
		return false
	})
	q := newQueue(t, newTestClient(t, srv.URL), lisa.QueueOptions{Workers: 1})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		require.NoError(t, q.Enqueue(ctx, update("cold", i)))
	}
	require.Equal(t, string(update("cold", 0)), srv.waitArrival(t))
	require.NoError(t, q.EnqueueKey(ctx, "hot", update("hot", 0)))
	for v := 1; ; v++ {
		require.Less(t, v, 20, "a key updated at every step was not sent")
		require.NoError(t, q.EnqueueKey(ctx, "hot", update("hot", v)))
		require.NoError(t, q.Enqueue(ctx, update("cold", 100+v)))
		step <- struct{}{}
		if got := srv.waitArrival(t); strings.Contains(got, "hot") {
			assert.Equal(t, string(update("hot", v)), got, "its latest state")
			assert.Equal(t, 5, v, "after the four payloads ahead of it")
			break
		}
	}
	srv.release()
}

// TestQueueFull: with no room left, Enqueue returns ErrQueueFull at once,
// or with Block waits until there is room or its context ends.
func TestQueueFull(t *testing.T) {
	srv := newGatedServer(t, testSecret, holdAll)
	client := newTestClient(t, srv.URL, lisa.WithConcurrency(1))
	log := newResultLog()
	q := newQueue(t, client, lisa.QueueOptions{Workers: 1, MaxItems: 3, OnResult: log.add})
	ctx := context.Background()

	require.NoError(t, q.Enqueue(ctx, update("a", 0)))
	srv.waitArrival(t) // in flight: no longer waiting
	for i := 1; i <= 3; i++ {
		require.NoError(t, q.Enqueue(ctx, update("a", i)))
	}
	err := q.Enqueue(ctx, update("a", 4))
	require.ErrorIs(t, err, lisa.ErrQueueFull)
	assert.Equal(t, "lisa: queue full", err.Error())
	st := q.Stats()
	assert.Equal(t, 3, st.Waiting)
	assert.Equal(t, 1, st.InFlight)
	assert.Equal(t, int64(1), st.Full)

	// MaxBytes: 100 KB payloads, a second one waiting does not fit.
	big := func(c byte) []byte { return []byte(`{"d":"` + strings.Repeat(string(c), 100_000) + `"}`) }
	srv2 := newGatedServer(t, testSecret, holdAll)
	qb := newQueue(t, newTestClient(t, srv2.URL), lisa.QueueOptions{Workers: 1, MaxBytes: lisa.MaxPayloadBytes})
	require.NoError(t, qb.Enqueue(ctx, big('a')))
	srv2.waitArrival(t)
	require.NoError(t, qb.Enqueue(ctx, big('b')))
	require.ErrorIs(t, qb.Enqueue(ctx, big('c')), lisa.ErrQueueFull)
	assert.Equal(t, int64(len(big('b'))), qb.Stats().WaitingBytes)
	srv2.release()

	// Block: waits until its context ends…
	srv3 := newGatedServer(t, testSecret, holdAll)
	log3 := newResultLog()
	qc := newQueue(t, newTestClient(t, srv3.URL), lisa.QueueOptions{Workers: 1, MaxItems: 1, Block: true, OnResult: log3.add})
	require.NoError(t, qc.Enqueue(ctx, update("c", 0)))
	srv3.waitArrival(t)
	require.NoError(t, qc.Enqueue(ctx, update("c", 1)))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = qc.Enqueue(short, update("c", 2))
	cancel()
	require.ErrorIs(t, err, lisa.ErrQueueFull)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// … or until there is room.
	done := make(chan error, 1)
	go func() { done <- qc.Enqueue(ctx, update("c", 3)) }()
	select {
	case err := <-done:
		t.Fatalf("Enqueue returned %v while the queue was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	srv3.release()
	require.NoError(t, <-done)
	require.NoError(t, qc.Flush(ctx))
	results, _, _ := log3.snapshot()
	assert.Len(t, results, 3, "c0, c1 and c3 were taken; c2 was refused")
	for _, r := range results {
		assert.NoError(t, r.Err)
	}
	assert.Equal(t, 2, results[2].Index-results[0].Index, "indexes count only payloads taken")

	srv.release()
	require.NoError(t, q.Flush(ctx))
	results, _, _ = log.snapshot()
	assert.Len(t, results, 4)
}

// TestQueueCloseAgainstAServerThatNeverAnswers: Close returns soon after
// its deadline even though no request is ever answered, every payload is in
// Spill, byte-exact, and counted in the error, and no goroutine is left.
func TestQueueCloseAgainstAServerThatNeverAnswers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then net/http notices the client leaving
		<-r.Context().Done()               // never answers
	}))
	defer srv.Close()
	client, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithBaseURL(srv.URL),
		lisa.WithTimeout(time.Minute), lisa.WithConcurrency(4))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	log, spill := newResultLog(), &spillRecorder{}
	q, err := lisa.NewQueue(client, lisa.QueueOptions{Workers: 4, OnResult: log.add, Spill: spill})
	require.NoError(t, err)

	const n = 50
	var want []string
	for i := 0; i < n; i++ {
		body := update(fmt.Sprint("SKU-", i), i)
		if i%10 == 0 {
			require.NoError(t, q.EnqueueKey(context.Background(), fmt.Sprint("SKU-", i), body))
		} else {
			require.NoError(t, q.Enqueue(context.Background(), body))
		}
		want = append(want, string(body))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = q.Close(ctx)
	elapsed := time.Since(start)
	assert.Less(t, elapsed, 20*time.Second, "Close returned %s after its 300ms deadline; an attempt lasts a minute", elapsed)

	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "50 payloads not delivered")

	lines := spill.lines(t)
	sort.Strings(lines)
	sort.Strings(want)
	assert.Equal(t, want, lines)

	results, dups, _ := log.snapshot()
	require.Empty(t, dups)
	require.Len(t, results, n)
	cut := 0
	for _, r := range results {
		assert.ErrorIs(t, r.Err, lisa.ErrQueueClosed)
		assert.True(t, r.Spilled)
		if !notSentErr(r.Err) {
			cut++ // was in flight
		}
	}
	assert.Equal(t, 4, cut, "the payloads in flight were cut off; the rest were never sent")
	assert.Equal(t, lisa.QueueStats{Enqueued: n, Failed: n, Spilled: n}, q.Stats())

	// Idempotent.
	assert.Equal(t, err, q.Close(context.Background()))
	require.ErrorIs(t, q.Enqueue(context.Background(), update("late", 0)), lisa.ErrQueueClosed)
	client.CloseIdleConnections()
	srv.CloseClientConnections()
}

// TestQueueEnqueueRacesClose: Enqueue from many goroutines while Close
// runs; every payload taken gets a result, every other call ErrQueueClosed.
func TestQueueEnqueueRacesClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	defer srv.Close()
	client, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithBaseURL(srv.URL), lisa.WithConcurrency(4))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	log := newResultLog()
	q, err := lisa.NewQueue(client, lisa.QueueOptions{Workers: 4, OnResult: log.add, Block: true})
	require.NoError(t, err)

	var taken atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				if i%2 == 0 {
					err = q.Enqueue(context.Background(), update(fmt.Sprint(g, "-", i), i))
				} else {
					err = q.EnqueueKey(context.Background(), fmt.Sprint("k", i%7), update("k", i))
				}
				if err != nil {
					assert.ErrorIs(t, err, lisa.ErrQueueClosed)
					return
				}
				taken.Add(1)
			}
		}()
	}
	for taken.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	errs := make(chan error, 2)
	for range 2 { // two Close calls at once
		go func() { errs <- q.Close(context.Background()) }()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	wg.Wait()

	results, dups, _ := log.snapshot()
	require.Empty(t, dups)
	require.Len(t, results, int(taken.Load()))
	for i := 0; i < int(taken.Load()); i++ {
		r, ok := results[i]
		require.True(t, ok, "no result for payload %d", i)
		if r.Err != nil {
			require.ErrorIs(t, r.Err, lisa.ErrSuperseded)
		}
	}
	st := q.Stats()
	assert.Equal(t, taken.Load(), st.Accepted+st.Superseded)
	client.CloseIdleConnections()
}

// TestQueueStopsAfterUnauthorized: after a 401 the queue sends nothing
// more; what waited is reported as not sent and spilled, Enqueue refuses,
// and Close says so.
func TestQueueStopsAfterUnauthorized(t *testing.T) {
	srv := newGatedServer(t, testSecret, holdAll)
	// The client signs with the wrong secret: the server answers 401.
	wrong, err := lisa.NewClient(testPluginID, testAPIKey, "wrong-secret", lisa.WithBaseURL(srv.URL), lisa.WithConcurrency(1))
	require.NoError(t, err)
	log, spill := newResultLog(), &spillRecorder{}
	q := newQueue(t, wrong, lisa.QueueOptions{Workers: 1, OnResult: log.add, Spill: spill})
	ctx := context.Background()

	require.NoError(t, q.Enqueue(ctx, update("a", 0)))
	srv.waitArrival(t)
	var waiting []string
	for i := 1; i <= 5; i++ {
		require.NoError(t, q.EnqueueKey(ctx, fmt.Sprint("k", i), update("a", i)))
		waiting = append(waiting, string(update("a", i)))
	}
	srv.release()
	require.NoError(t, q.Flush(ctx))

	results, _, _ := log.snapshot()
	require.Len(t, results, 6)
	require.ErrorIs(t, results[0].Err, lisa.ErrUnauthorized)
	assert.True(t, results[0].Spilled, "a 401 is not about the payload: it is kept to send again")
	for i := 1; i <= 5; i++ {
		assert.ErrorIs(t, results[i].Err, lisa.ErrUnauthorized)
		assert.True(t, notSentErr(results[i].Err))
		assert.True(t, results[i].Spilled)
	}
	assert.ElementsMatch(t, append([]string{string(update("a", 0))}, waiting...), spill.lines(t))
	assert.Len(t, srv.handler.Requests(), 1, "one request, however many payloads")
	assert.True(t, q.Stats().Stopped)

	err = q.Enqueue(ctx, update("b", 0))
	require.ErrorIs(t, err, lisa.ErrUnauthorized)
	assert.Contains(t, err.Error(), "stopped sending after an answer 401")
	err = q.Close(ctx)
	require.ErrorIs(t, err, lisa.ErrUnauthorized)
	assert.NotContains(t, err.Error(), "not delivered")
}

// TestQueueRecoversOnResultPanics: a panicking OnResult does not stop the
// queue or the program; Close reports it.
func TestQueueRecoversOnResultPanics(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	defer srv.Close()
	var calls atomic.Int64
	q := newQueue(t, newTestClient(t, srv.URL), lisa.QueueOptions{OnResult: func(r lisa.Result) {
		calls.Add(1)
		panic(fmt.Sprint("boom ", r.Index))
	}})
	for i := 0; i < 20; i++ {
		require.NoError(t, q.EnqueueKey(context.Background(), fmt.Sprint(i%3), update("p", i)))
	}
	err := q.Close(context.Background())
	assert.EqualValues(t, 20, calls.Load(), "every payload still got its one call")
	var gp *lisa.GoroutinePanic
	require.ErrorAs(t, err, &gp)
	assert.Contains(t, fmt.Sprint(gp.Value), "boom ")
	assert.Contains(t, err.Error(), "OnResult panicked")
	assert.EqualValues(t, 20, q.Stats().OnResultPanics)
}

// TestQueueSpill: a retryable failure is spilled (pretty-printed JSON on
// one line), a permanent one is not, and a Spill write error is reported in
// the result, Stats and Close's error.
func TestQueueSpill(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("bad")) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	client := newTestClient(t, srv.URL, lisa.WithMaxRetries(0))
	log, spill := newResultLog(), &spillRecorder{}
	q := newQueue(t, client, lisa.QueueOptions{OnResult: log.add, Spill: spill})
	ctx := context.Background()
	pretty := []byte("{\n  \"productId\": \"p 1\",\n  \"price\": 1.5\n}\n")
	require.NoError(t, q.Enqueue(ctx, pretty))
	require.NoError(t, q.Enqueue(ctx, []byte(`{"productId":"bad"}`)))
	require.NoError(t, q.Flush(ctx))
	assert.Equal(t, []string{`{"productId":"p 1","price":1.5}`}, spill.lines(t))
	results, _, _ := log.snapshot()
	assert.True(t, results[0].Spilled)
	assert.ErrorIs(t, results[0].Err, lisa.ErrServer)
	assert.False(t, results[1].Spilled)
	assert.ErrorIs(t, results[1].Err, lisa.ErrBadRequest)
	require.NoError(t, q.Close(ctx))

	// A Spill that fails.
	failing := &spillRecorder{err: errors.New("disk full")}
	log2 := newResultLog()
	q2 := newQueue(t, client, lisa.QueueOptions{OnResult: log2.add, Spill: failing})
	require.NoError(t, q2.Enqueue(ctx, update("x", 1)))
	require.NoError(t, q2.Flush(ctx))
	results, _, _ = log2.snapshot()
	assert.False(t, results[0].Spilled)
	assert.ErrorIs(t, results[0].Err, lisa.ErrServer, "the send error is kept")
	assert.ErrorContains(t, results[0].Err, "write to Spill: disk full")
	assert.EqualValues(t, 1, q2.Stats().SpillErrors)
	err := q2.Close(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write to Spill: disk full")
}

// TestEnqueueChecksAndCopies: invalid payloads are refused at once and
// nothing is queued; a map changed after Enqueue is sent as it was.
func TestEnqueueChecksAndCopies(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	defer srv.Close()
	q := newQueue(t, newTestClient(t, srv.URL), lisa.QueueOptions{})
	ctx := context.Background()

	require.ErrorIs(t, q.Enqueue(ctx, []byte(`{"productId":`)), lisa.ErrInvalidPayload)
	require.ErrorIs(t, q.Enqueue(ctx, nil), lisa.ErrInvalidPayload)
	require.ErrorIs(t, q.Enqueue(ctx, make([]byte, lisa.MaxPayloadBytes+1)), lisa.ErrPayloadTooLarge)
	require.ErrorContains(t, q.EnqueueKey(ctx, "", []byte(`{}`)), "key is empty")
	var noCtx context.Context
	require.ErrorContains(t, q.Enqueue(noCtx, []byte(`{}`)), "ctx is nil")
	st := q.Stats()
	assert.Zero(t, st.Enqueued)
	assert.EqualValues(t, 3, st.Invalid)

	m := map[string]any{"productId": "1", "price": 10}
	require.NoError(t, q.Enqueue(ctx, m))
	m["price"] = 99
	require.NoError(t, q.Flush(ctx))
	require.Len(t, srv.Received(), 1)
	assert.JSONEq(t, `{"productId":"1","price":10}`, string(srv.Received()[0].Body))
}

// TestQueueFlush waits for what was enqueued before it, not after.
func TestQueueFlush(t *testing.T) {
	srv := newGatedServer(t, testSecret, func(body string) bool { return strings.Contains(body, "held") })
	log := newResultLog()
	q := newQueue(t, newTestClient(t, srv.URL), lisa.QueueOptions{Workers: 2, OnResult: log.add})
	ctx := context.Background()

	require.NoError(t, q.Flush(ctx), "nothing to wait for")
	require.NoError(t, q.Enqueue(ctx, update("held", 1)))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := q.Flush(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	srv.release()
	require.NoError(t, q.Flush(ctx))
	results, _, _ := log.snapshot()
	require.Len(t, results, 1)
	assert.NoError(t, results[0].Err)

	// Payloads enqueued after Flush do not hold it up: "early" ones are
	// held until Flush waits, "late" ones, enqueued then, until the end.
	earlyGo := make(chan struct{})
	srv2 := newGatedServer(t, testSecret, func(body string) bool {
		if strings.Contains(body, "early") {
			<-earlyGo
			return false
		}
		return true
	})
	log2 := newResultLog()
	q2 := newQueue(t, newTestClient(t, srv2.URL), lisa.QueueOptions{Workers: 2, OnResult: log2.add})
	for i := 0; i < 5; i++ {
		require.NoError(t, q2.Enqueue(ctx, update("early", i)))
	}
	// Flush looks at its context only once it is waiting: that is when
	// the late payloads come in and the early ones are let through.
	waiting := &onDone{Context: ctx, f: func() {
		for i := 0; i < 5; i++ {
			require.NoError(t, q2.Enqueue(ctx, update("late", i)))
		}
		close(earlyGo)
	}}
	require.NoError(t, q2.Flush(waiting))
	results, _, _ = log2.snapshot()
	require.Len(t, results, 5, "the early payloads, and none of the late ones")
	for i := 0; i < 5; i++ {
		assert.NoError(t, results[i].Err, "early %d", i)
	}
	assert.Equal(t, 5, q2.Stats().Waiting+q2.Stats().InFlight, "the late ones are still held")
	srv2.release()
}

// onDone is a context that calls f the first time Done is called.
type onDone struct {
	context.Context
	once sync.Once
	f    func()
}

func (c *onDone) Done() <-chan struct{} {
	c.once.Do(c.f)
	return c.Context.Done()
}

func TestNewQueueValidates(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	for _, tc := range []struct {
		name string
		c    *lisa.Client
		opts lisa.QueueOptions
		want string
	}{
		{"nil client", nil, lisa.QueueOptions{}, "lisa: NewQueue: client is nil"},
		{"zero client", &lisa.Client{}, lisa.QueueOptions{}, "lisa: NewQueue: client is nil"},
		{"negative items", c, lisa.QueueOptions{MaxItems: -1}, "MaxItems must not be negative"},
		{"negative bytes", c, lisa.QueueOptions{MaxBytes: -1}, "MaxBytes must be 0 (the default) or at least MaxPayloadBytes"},
		{"bytes below a payload", c, lisa.QueueOptions{MaxBytes: 1000}, "at least MaxPayloadBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := lisa.NewQueue(tc.c, tc.opts)
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, q)
		})
	}
	var zero *lisa.Queue
	require.ErrorContains(t, zero.Enqueue(context.Background(), []byte(`{}`)), "nil or zero Queue")
	require.ErrorContains(t, zero.Close(context.Background()), "nil or zero Queue")
	require.ErrorContains(t, zero.Flush(context.Background()), "nil or zero Queue")
	assert.Equal(t, lisa.QueueStats{}, zero.Stats())
}

func TestQueueDoesNotPrintCredentials(t *testing.T) {
	q := newQueue(t, newTestClient(t, "http://127.0.0.1:1"), lisa.QueueOptions{})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, q)
		assert.NotContains(t, out, testAPIKey, verb)
		assert.NotContains(t, out, testSecret, verb)
		assert.NotContains(t, out, fmt.Sprintf("%x", testAPIKey), verb)
	}
	assert.Contains(t, fmt.Sprint(q), "plugin-42")
}
