package lisaotel_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

const attemptSpan = "POST /plugin-notifications/{id}/updates"

func TestRetryThenAcceptedIsTwoClientSpansUnderOneSend(t *testing.T) {
	r := newRig(t, nil)
	r.srv.Script(lisatest.Fault{Status: http.StatusServiceUnavailable})

	receipt, err := r.client.Send(context.Background(), []byte(`{"productId":"1"}`))
	require.NoError(t, err)
	require.Equal(t, 2, receipt.Attempts)

	sends := r.ended(lisaotel.SendSpanName)
	require.Len(t, sends, 1)
	send := sends[0]
	assert.Equal(t, trace.SpanKindInternal, send.SpanKind)
	assert.False(t, send.Parent.IsValid(), "a Send without a span in its context starts a trace")
	assert.Equal(t, map[attribute.Key]any{
		"lisa.request.id":    receipt.RequestID,
		"lisa.payload.size":  int64(17),
		"lisa.send.attempts": int64(2),
		"lisa.send.outcome":  "accepted",
	}, attrs(send.Attributes))
	assert.Equal(t, codes.Unset, send.Status.Code)
	require.Len(t, send.Events, 1)
	assert.Equal(t, "lisa.wait", send.Events[0].Name)
	assert.Equal(t, map[attribute.Key]any{"lisa.wait.reason": "backoff", "lisa.wait.duration": 0.001}, attrs(send.Events[0].Attributes))

	attempts := r.ended(attemptSpan)
	require.Len(t, attempts, 2)
	u, err := url.Parse(r.srv.URL)
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	common := map[attribute.Key]any{
		"http.request.method": "POST",
		"server.address":      "127.0.0.1",
		"server.port":         int64(port),
		"url.template":        "/plugin-notifications/{id}/updates",
	}
	first := attrs(attempts[0].Attributes)
	second := attrs(attempts[1].Attributes)
	assert.Equal(t, merge(common, map[attribute.Key]any{"http.response.status_code": int64(503), "error.type": "503"}), first)
	assert.Equal(t, merge(common, map[attribute.Key]any{"http.response.status_code": int64(202), "http.request.resend_count": int64(1)}), second)
	assert.Equal(t, codes.Error, attempts[0].Status.Code)
	assert.Empty(t, attempts[0].Status.Description)
	assert.Equal(t, codes.Unset, attempts[1].Status.Code)
	for _, a := range attempts {
		assert.Equal(t, trace.SpanKindClient, a.SpanKind)
		assert.Equal(t, send.SpanContext.SpanID(), a.Parent.SpanID(), "parent is lisa.send")
		assert.Equal(t, send.SpanContext.TraceID(), a.SpanContext.TraceID())
	}

	// Each request carried its own attempt's trace context.
	reqs := r.srv.Requests()
	require.Len(t, reqs, 2)
	for i, req := range reqs {
		sc := attempts[i].SpanContext
		assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", req.Header.Get("Traceparent"), "attempt %d", i+1)
	}

	m := r.collect(t)
	hist, ok := m["http.client.request.duration"].Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	assert.Equal(t, "s", m["http.client.request.duration"].Unit)
	require.Len(t, hist.DataPoints, 2)
	byStatus := map[int64]metricdata.HistogramDataPoint[float64]{}
	for _, dp := range hist.DataPoints {
		v, _ := dp.Attributes.Value("http.response.status_code")
		byStatus[v.AsInt64()] = dp
		assert.Equal(t, []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}, dp.Bounds)
		assert.Equal(t, uint64(1), dp.Count)
		assert.Greater(t, dp.Sum, 0.0)
	}
	failed, ok := byStatus[503]
	require.True(t, ok)
	et, _ := failed.Attributes.Value("error.type")
	assert.Equal(t, "503", et.AsString())
	accepted := byStatus[202]
	assert.False(t, accepted.Attributes.HasValue("error.type"))
	assert.Equal(t, map[string]int64{"503": 1}, sums(t, m["lisa.client.retries"], "error.type"))
	waits, ok := m["lisa.client.wait.duration"].Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	require.Len(t, waits.DataPoints, 1)
	reason, _ := waits.DataPoints[0].Attributes.Value("lisa.wait.reason")
	assert.Equal(t, "backoff", reason.AsString())
	assert.InDelta(t, 0.001, waits.DataPoints[0].Sum, 1e-9)
}

func merge(a, b map[attribute.Key]any) map[attribute.Key]any {
	out := map[attribute.Key]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestUnauthorizedIsOneErrorClientSpan(t *testing.T) {
	r := newRig(t, nil)
	r.srv.Script(lisatest.Fault{Status: http.StatusUnauthorized})
	_, err := r.client.Send(context.Background(), []byte(`{}`))
	require.ErrorIs(t, err, lisa.ErrUnauthorized)

	attempts := r.ended(attemptSpan)
	require.Len(t, attempts, 1)
	a := attrs(attempts[0].Attributes)
	assert.Equal(t, "401", a["error.type"])
	assert.Equal(t, int64(401), a["http.response.status_code"])
	assert.NotContains(t, a, attribute.Key("http.request.resend_count"))
	assert.Equal(t, codes.Error, attempts[0].Status.Code)

	send := r.ended(lisaotel.SendSpanName)
	require.Len(t, send, 1)
	s := attrs(send[0].Attributes)
	assert.Equal(t, "rejected", s["lisa.send.outcome"])
	assert.Equal(t, "401", s["error.type"])
	assert.Equal(t, int64(1), s["lisa.send.attempts"])
	assert.Equal(t, codes.Error, send[0].Status.Code)
	assert.Empty(t, send[0].Events)
}

func TestSendSpanIsAChildOfTheCallersSpan(t *testing.T) {
	r := newRig(t, nil)
	ctx, parent := r.tp.Tracer("test").Start(context.Background(), "handler")
	_, err := r.client.Send(ctx, []byte(`{}`))
	require.NoError(t, err)
	parent.End()
	send := r.ended(lisaotel.SendSpanName)
	require.Len(t, send, 1)
	assert.Equal(t, parent.SpanContext().SpanID(), send[0].Parent.SpanID())
	assert.Equal(t, parent.SpanContext().TraceID(), r.ended(attemptSpan)[0].SpanContext.TraceID())
}

func TestOutcomesAndTransportErrors(t *testing.T) {
	cases := []struct {
		name       string
		opts       []lisa.Option
		faults     []lisatest.Fault
		ctx        func() (context.Context, context.CancelFunc)
		outcome    string
		errType    string
		attemptErr []string // error.type of each attempt span
	}{
		{
			name:       "dropped, retries off",
			opts:       []lisa.Option{lisa.WithMaxRetries(0)},
			faults:     []lisatest.Fault{{Drop: true}},
			outcome:    "retries_exhausted",
			errType:    "connection_closed",
			attemptErr: []string{"connection_closed"},
		},
		{
			name:       "5xx until the retries are spent",
			opts:       []lisa.Option{lisa.WithMaxRetries(1)},
			faults:     []lisatest.Fault{{Status: 500}, {Status: 502}},
			outcome:    "retries_exhausted",
			errType:    "502",
			attemptErr: []string{"500", "502"},
		},
		{
			name:       "attempt timeout",
			opts:       []lisa.Option{lisa.WithMaxRetries(0), lisa.WithTimeout(50 * time.Millisecond)},
			faults:     []lisatest.Fault{{Delay: time.Second}},
			outcome:    "retries_exhausted",
			errType:    "timeout",
			attemptErr: []string{"timeout"},
		},
		{
			name:   "a backoff that would end past the deadline",
			opts:   []lisa.Option{lisa.WithBackoff(time.Second, time.Second)},
			faults: []lisatest.Fault{{Status: 503}},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 500*time.Millisecond)
			},
			outcome:    "retries_exhausted", // the client does not start a wait that ends past the deadline
			errType:    "503",
			attemptErr: []string{"503"},
		},
		{
			name:       "400",
			faults:     []lisatest.Fault{{Status: 400}},
			outcome:    "rejected",
			errType:    "400",
			attemptErr: []string{"400"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts)
			r.srv.Script(tc.faults...)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			_, err := r.client.Send(ctx, []byte(`{}`))
			require.Error(t, err)
			send := r.ended(lisaotel.SendSpanName)
			require.Len(t, send, 1)
			s := attrs(send[0].Attributes)
			assert.Equal(t, tc.outcome, s["lisa.send.outcome"], "%v", err)
			assert.Equal(t, tc.errType, s["error.type"])
			assert.Equal(t, codes.Error, send[0].Status.Code)
			var got []string
			for _, a := range r.ended(attemptSpan) {
				got = append(got, attrs(a.Attributes)["error.type"].(string))
				assert.Equal(t, codes.Error, a.Status.Code)
			}
			assert.Equal(t, tc.attemptErr, got)
		})
	}
}

func TestCanceledDuringBackoff(t *testing.T) {
	r := newRig(t, []lisa.Option{lisa.WithBackoff(time.Minute, time.Minute)})
	r.srv.Script(lisatest.Fault{Status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(r.ended(attemptSpan)) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := r.client.Send(ctx, []byte(`{}`))
	require.ErrorIs(t, err, context.Canceled)
	send := r.ended(lisaotel.SendSpanName)
	require.Len(t, send, 1)
	s := attrs(send[0].Attributes)
	assert.Equal(t, "canceled", s["lisa.send.outcome"])
	require.Len(t, send[0].Events, 1)
	assert.Equal(t, map[attribute.Key]any{"lisa.wait.reason": "backoff", "lisa.wait.duration": 60.0}, attrs(send[0].Events[0].Attributes))
}

func TestCooldownAndThrottled(t *testing.T) {
	r := newRig(t, []lisa.Option{lisa.WithMaxRetries(0)})
	r.srv.Script(lisatest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	_, err := r.client.Send(context.Background(), []byte(`{}`))
	require.ErrorIs(t, err, lisa.ErrRateLimited)

	// Within the cooldown, a Send whose deadline comes first is held back…
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = r.client.Send(ctx, []byte(`{}`))
	require.ErrorIs(t, err, lisa.ErrThrottled)
	// …and one that can wait, waits.
	_, err = r.client.Send(context.Background(), []byte(`{}`))
	require.NoError(t, err)

	send := r.ended(lisaotel.SendSpanName)
	require.Len(t, send, 3)
	first, held, waited := attrs(send[0].Attributes), attrs(send[1].Attributes), attrs(send[2].Attributes)
	assert.Equal(t, "retries_exhausted", first["lisa.send.outcome"])
	assert.Equal(t, "429", first["error.type"])
	assert.Equal(t, "throttled", held["lisa.send.outcome"])
	assert.Equal(t, "throttled", held["error.type"])
	assert.Equal(t, int64(0), held["lisa.send.attempts"])
	assert.Equal(t, "accepted", waited["lisa.send.outcome"])
	require.Len(t, send[2].Events, 1)
	ev := attrs(send[2].Events[0].Attributes)
	assert.Equal(t, "cooldown", ev["lisa.wait.reason"])
	assert.Greater(t, ev["lisa.wait.duration"], 0.5, "the rest of the 1s cooldown")
	assert.LessOrEqual(t, ev["lisa.wait.duration"], 1.0)
	assert.Len(t, r.ended(attemptSpan), 2, "the held-back Send made no attempt")

	m := r.collect(t)
	waits, ok := m["lisa.client.wait.duration"].Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	require.Len(t, waits.DataPoints, 1)
	reason, _ := waits.DataPoints[0].Attributes.Value("lisa.wait.reason")
	assert.Equal(t, "cooldown", reason.AsString())
}

func TestRateLimitWaitEvent(t *testing.T) {
	r := newRig(t, []lisa.Option{lisa.WithRateLimit(20, 1)})
	for range 2 {
		_, err := r.client.Send(context.Background(), []byte(`{}`))
		require.NoError(t, err)
	}
	send := r.ended(lisaotel.SendSpanName)
	require.Len(t, send, 2)
	assert.Empty(t, send[0].Events)
	require.Len(t, send[1].Events, 1)
	ev := attrs(send[1].Events[0].Attributes)
	assert.Equal(t, "rate-limit", ev["lisa.wait.reason"])
	assert.Greater(t, ev["lisa.wait.duration"], 0.0, "the rest of the 50ms between tokens")
	assert.LessOrEqual(t, ev["lisa.wait.duration"], 0.05)
}

func TestRateLimitRemainingGauge(t *testing.T) {
	r := newRig(t, nil)
	// lisatest sends no X-RateLimit-Remaining: nothing is recorded.
	_, err := r.client.Send(context.Background(), []byte(`{}`))
	require.NoError(t, err)
	_, ok := r.collect(t)["lisa.client.rate_limit.remaining"]
	assert.False(t, ok)

	var n atomic.Int64
	srv := newHeaderServer(t, func(w http.ResponseWriter) {
		w.Header().Set("X-RateLimit-Remaining", strconv.FormatInt(100-n.Add(1), 10))
		w.WriteHeader(http.StatusAccepted)
	})
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv),
		lisaotel.ClientOption(lisaotel.WithMeterProvider(r.mp), lisaotel.WithTracerProvider(r.tp)))
	require.NoError(t, err)
	for range 3 {
		_, err := c.Send(context.Background(), []byte(`{}`))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(97), gauge(t, r.collect(t)["lisa.client.rate_limit.remaining"]))
}

func TestPluginIDOnlyWhenAskedFor(t *testing.T) {
	for _, with := range []bool{false, true} {
		var opts []lisaotel.Option
		if with {
			opts = append(opts, lisaotel.WithPluginID(pluginID))
		}
		r := newRig(t, nil, opts...)
		_, err := r.client.Send(context.Background(), []byte(`{}`))
		require.NoError(t, err)
		found := 0
		for _, s := range r.spans.GetSpans() {
			v, ok := attrs(s.Attributes)["lisa.plugin.id"]
			if ok {
				assert.Equal(t, pluginID, v)
				found++
			}
			assert.NotContains(t, everyString(s), pluginID+"/", "the id is in no URL")
		}
		hist := r.collect(t)["http.client.request.duration"].Data.(metricdata.Histogram[float64])
		v, ok := hist.DataPoints[0].Attributes.Value("lisa.plugin.id")
		if with {
			assert.Equal(t, 2, found)
			assert.True(t, ok)
			assert.Equal(t, pluginID, v.AsString())
		} else {
			assert.Zero(t, found)
			assert.False(t, ok)
		}
	}
}
