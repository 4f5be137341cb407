package lisa_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctxKey string

// eventLog is an Observer that writes one line per call, with what the
// context carries, so a test can compare the whole sequence.
type eventLog struct {
	mu    sync.Mutex
	lines []string
	sends []*lisa.SendInfo
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// observer records every call. SendStart and AttemptStart put a value in
// the context they return, so the log shows which context each call got.
// AttemptStart adds a Traceparent header naming the attempt, and tries to
// replace the Authorization header, which must not work.
func (l *eventLog) observer() *lisa.Observer {
	return &lisa.Observer{
		SendStart: func(ctx context.Context, s *lisa.SendInfo) context.Context {
			l.add("SendStart size=%d enqueued=%v id=%t", s.Size, s.Enqueued, s.RequestID != "")
			l.mu.Lock()
			l.sends = append(l.sends, s)
			l.mu.Unlock()
			return context.WithValue(ctx, ctxKey("send"), s.RequestID)
		},
		AttemptStart: func(ctx context.Context, a *lisa.AttemptInfo) context.Context {
			l.add("AttemptStart %d %s %s send=%t", a.Attempt, a.Method, a.URL.Path, ctx.Value(ctxKey("send")) == a.RequestID)
			a.Header.Set("Traceparent", fmt.Sprintf("attempt-%d", a.Attempt))
			a.Header.Set("Authorization", "ApiKey stolen")
			return context.WithValue(ctx, ctxKey("attempt"), a.Attempt)
		},
		AttemptDone: func(ctx context.Context, a *lisa.AttemptInfo) {
			l.add("AttemptDone %d status=%d err=%t retryAfter=%s remaining=%d ctx=%v",
				a.Attempt, a.StatusCode, a.Err != nil, a.RetryAfter, a.RateLimitRemaining, ctx.Value(ctxKey("attempt")))
		},
		Wait: func(ctx context.Context, w lisa.WaitInfo) {
			d := w.Duration
			if w.Reason == "rate-limit" || w.Reason == "cooldown" {
				// The clock moved since the wait was set: round up to 500ms.
				const step = 500 * time.Millisecond
				d = (d + step - 1) / step * step
			}
			l.add("Wait %s %s send=%t attempt=%v", w.Reason, d, ctx.Value(ctxKey("send")) != nil, ctx.Value(ctxKey("attempt")))
		},
		SendDone: func(ctx context.Context, s *lisa.SendInfo) {
			status := 0
			if s.Receipt != nil {
				status = s.Receipt.StatusCode
			}
			l.add("SendDone attempts=%d status=%d err=%t send=%t attempt=%v",
				s.Attempts, status, s.Err != nil, ctx.Value(ctxKey("send")) == s.RequestID, ctx.Value(ctxKey("attempt")))
		},
		Enqueued: func(ctx context.Context) any { return ctx.Value(ctxKey("enqueue")) },
	}
}

func TestObserverRetryThenAccepted(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	t.Cleanup(srv.Close)
	srv.Script(lisatest.Fault{Status: http.StatusServiceUnavailable}, lisatest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
	var l eventLog
	c := newTestClient(t, srv.URL, lisa.WithObserver(l.observer()), lisa.WithBackoff(time.Millisecond, time.Millisecond))

	r, err := c.Send(context.Background(), []byte(`{"productId":"1"}`))
	require.NoError(t, err)
	require.Equal(t, 3, r.Attempts)

	path := "/plugin-notifications/" + testPluginID + "/updates"
	assert.Equal(t, []string{
		"SendStart size=17 enqueued=[] id=true",
		"AttemptStart 1 POST " + path + " send=true",
		"AttemptDone 1 status=503 err=false retryAfter=0s remaining=-1 ctx=1",
		"Wait backoff 1ms send=true attempt=<nil>",
		"AttemptStart 2 POST " + path + " send=true",
		"AttemptDone 2 status=429 err=false retryAfter=0s remaining=-1 ctx=2",
		"Wait retry-after 0s send=true attempt=<nil>",
		"AttemptStart 3 POST " + path + " send=true",
		"AttemptDone 3 status=202 err=false retryAfter=0s remaining=-1 ctx=3",
		"SendDone attempts=3 status=202 err=false send=true attempt=<nil>",
	}, l.all())
	require.Len(t, l.sends, 1)
	assert.Nil(t, l.sends[0].Enqueued)
	assert.Equal(t, r, l.sends[0].Receipt)

	// Each attempt carried its own header; the client's Authorization won.
	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	for i, req := range reqs {
		assert.Equal(t, []string{fmt.Sprintf("attempt-%d", i+1)}, req.Header.Values("Traceparent"), "attempt %d", i+1)
		assert.Equal(t, r.RequestID, req.RequestID)
	}
	assert.Len(t, srv.Received(), 1, "the third attempt passed the server's checks, Authorization included")
}

func TestObserverAnswerHeaders(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("X-RateLimit-Remaining", "41")
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	var l eventLog
	c := newTestClient(t, rec.URL, lisa.WithObserver(l.observer()))
	_, err := c.Send(context.Background(), []byte(`{}`))
	require.NoError(t, err)
	lines := l.all()
	require.Len(t, lines, 7)
	assert.Equal(t, "AttemptDone 1 status=503 err=false retryAfter=0s remaining=41 ctx=1", lines[2])
	assert.Equal(t, "Wait retry-after 0s send=true attempt=<nil>", lines[3])
	assert.Equal(t, "AttemptDone 2 status=202 err=false retryAfter=0s remaining=41 ctx=2", lines[5])
}

func TestObserverFailures(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	t.Cleanup(srv.Close)
	var l eventLog
	c := newTestClient(t, srv.URL, lisa.WithObserver(l.observer()), lisa.WithMaxRetries(0))

	// Refused before sending: no call at all.
	_, err := c.Send(context.Background(), []byte(`not json`))
	require.ErrorIs(t, err, lisa.ErrInvalidPayload)
	assert.Empty(t, l.all())

	// No answer: status 0 and the transport error.
	srv.Script(lisatest.Fault{Drop: true})
	_, err = c.Send(context.Background(), []byte(`{}`))
	require.Error(t, err)
	// A 401.
	srv.Script(lisatest.Fault{Status: http.StatusUnauthorized})
	_, err = c.Send(context.Background(), []byte(`{}`))
	require.ErrorIs(t, err, lisa.ErrUnauthorized)
	assert.Equal(t, []string{
		"SendStart size=2 enqueued=[] id=true",
		"AttemptStart 1 POST /plugin-notifications/" + testPluginID + "/updates send=true",
		"AttemptDone 1 status=0 err=true retryAfter=0s remaining=-1 ctx=1",
		"SendDone attempts=1 status=0 err=true send=true attempt=<nil>",
		"SendStart size=2 enqueued=[] id=true",
		"AttemptStart 1 POST /plugin-notifications/" + testPluginID + "/updates send=true",
		"AttemptDone 1 status=401 err=false retryAfter=0s remaining=-1 ctx=1",
		"SendDone attempts=1 status=0 err=true send=true attempt=<nil>",
	}, l.all())
	require.Len(t, l.sends, 2)
	assert.ErrorIs(t, l.sends[1].Err, lisa.ErrUnauthorized)
}

func TestObserverThrottleWaits(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	t.Cleanup(srv.Close)
	var l eventLog
	c := newTestClient(t, srv.URL, lisa.WithObserver(l.observer()), lisa.WithMaxRetries(0), lisa.WithRateLimit(2, 1))
	ctx := context.Background()
	// A 503 with Retry-After 1 and no retry: the next Send waits out the
	// cooldown, then the rate limit's next token.
	srv.Script(lisatest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "1"})
	_, err := c.Send(ctx, []byte(`{}`))
	require.ErrorIs(t, err, lisa.ErrServer)
	_, err = c.Send(ctx, []byte(`{}`))
	require.NoError(t, err)
	var waits []string
	for _, line := range l.all() {
		if strings.HasPrefix(line, "Wait") {
			waits = append(waits, line)
		}
	}
	assert.Equal(t, []string{"Wait cooldown 1s send=true attempt=<nil>"}, waits, "the token came back during the cooldown")
	_, err = c.Send(ctx, []byte(`{}`))
	require.NoError(t, err)
	assert.Contains(t, l.all(), "Wait rate-limit 500ms send=true attempt=<nil>", "a token every 500ms")
}

func TestObserverQueueEnqueued(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	t.Cleanup(srv.Close)
	// The first payload is slow, so that the next three, of one key, wait
	// behind it and coalesce.
	srv.Script(lisatest.Fault{Delay: 300 * time.Millisecond, Process: true})
	var l eventLog
	c := newTestClient(t, srv.URL, lisa.WithObserver(l.observer()), lisa.WithConcurrency(1))
	q, err := lisa.NewQueue(c, lisa.QueueOptions{Workers: 1})
	require.NoError(t, err)
	enq := func(key, v string) {
		ctx := context.WithValue(context.Background(), ctxKey("enqueue"), v)
		if key == "" {
			require.NoError(t, q.Enqueue(ctx, []byte(`{"v":"`+v+`"}`)))
			return
		}
		require.NoError(t, q.EnqueueKey(ctx, key, []byte(`{"v":"`+v+`"}`)))
	}
	enq("", "slow")
	require.Eventually(t, func() bool { return q.Stats().InFlight == 1 }, 5*time.Second, time.Millisecond)
	enq("k", "a")
	enq("k", "b")
	enq("", "other")
	enq("k", "c")
	// A payload refused as invalid asks for no value.
	require.ErrorIs(t, q.EnqueueKey(context.Background(), "k", []byte(`{`)), lisa.ErrInvalidPayload)
	require.NoError(t, q.Close(context.Background()))

	var starts []string
	for _, line := range l.all() {
		if strings.HasPrefix(line, "SendStart") {
			starts = append(starts, line)
		}
	}
	assert.Equal(t, []string{
		"SendStart size=12 enqueued=[slow] id=true",
		"SendStart size=9 enqueued=[a b c] id=true", // the key kept its place in line, before "other"
		"SendStart size=13 enqueued=[other] id=true",
	}, starts)
	assert.Equal(t, int64(2), q.Stats().Superseded)
}

func TestObserverEmptyAndNil(t *testing.T) {
	_, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithObserver(nil))
	require.EqualError(t, err, "lisa: WithObserver: observer is nil")

	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, lisa.WithObserver(&lisa.Observer{}))
	r, err := c.Send(context.Background(), map[string]string{"productId": "1"})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Attempts)
	q, err := lisa.NewQueue(c, lisa.QueueOptions{})
	require.NoError(t, err)
	require.NoError(t, q.Enqueue(context.Background(), []byte(`{}`)))
	require.NoError(t, q.Close(context.Background()))
	assert.Len(t, srv.Received(), 2)
}

func TestObserverSendAll(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	t.Cleanup(srv.Close)
	var l eventLog
	c := newTestClient(t, srv.URL, lisa.WithObserver(l.observer()), lisa.WithConcurrency(1))
	results := c.SendAll(context.Background(), []any{[]byte(`{"a":1}`), []byte(`not json`), []byte(`{"b":22}`)})
	require.Len(t, results, 3)
	require.ErrorIs(t, results[1].Err, lisa.ErrInvalidPayload)
	var starts, dones []string
	for _, line := range l.all() {
		switch {
		case strings.HasPrefix(line, "SendStart"):
			starts = append(starts, line)
		case strings.HasPrefix(line, "SendDone"):
			dones = append(dones, line)
		}
	}
	assert.Equal(t, []string{"SendStart size=7 enqueued=[] id=true", "SendStart size=8 enqueued=[] id=true"}, starts,
		"one per payload sent; none for the invalid one")
	assert.Len(t, dones, 2)
}

func TestObserverPanicInSendStart(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	t.Cleanup(srv.Close)
	var dones int
	var mu sync.Mutex
	c := newTestClient(t, srv.URL, lisa.WithObserver(&lisa.Observer{
		SendStart: func(context.Context, *lisa.SendInfo) context.Context { panic("observer bug") },
		SendDone: func(context.Context, *lisa.SendInfo) {
			mu.Lock()
			dones++
			mu.Unlock()
		},
	}))
	// Send: the panic is the caller's, as from any code it runs.
	require.PanicsWithValue(t, "observer bug", func() { _, _ = c.Send(context.Background(), []byte(`{}`)) })
	// A Queue: the payload's result, and the queue carries on.
	var got []lisa.Result
	q, err := lisa.NewQueue(c, lisa.QueueOptions{OnResult: func(r lisa.Result) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	}})
	require.NoError(t, err)
	require.NoError(t, q.Enqueue(context.Background(), []byte(`{}`)))
	require.NoError(t, q.Close(context.Background()))
	require.Len(t, got, 1)
	var gp *lisa.GoroutinePanic
	require.ErrorAs(t, got[0].Err, &gp)
	assert.Equal(t, "observer bug", gp.Value)
	assert.Zero(t, dones, "no SendDone for a Send whose SendStart did not return")
	assert.Empty(t, srv.Requests())
}
