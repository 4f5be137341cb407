package lisaotel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const (
	pluginID = "plugin-otel-7"
	apiKey   = "key-0a1b2c3d-otel-apikey"
	secret   = "secret-4e5f6a7b-otel-secret"
)

// rig is a lisatest server and the SDK's in-memory span exporter and
// manual metric reader, with a client instrumented to use them.
type rig struct {
	srv    *lisatest.Server
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	opts   []lisaotel.Option
	client *lisa.Client
}

func newRig(t *testing.T, clientOpts []lisa.Option, otelOpts ...lisaotel.Option) *rig {
	t.Helper()
	r := &rig{
		srv:    lisatest.NewServer(pluginID, apiKey, secret),
		spans:  tracetest.NewInMemoryExporter(),
		reader: sdkmetric.NewManualReader(),
	}
	t.Cleanup(r.srv.Close)
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans))
	r.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = r.tp.Shutdown(context.Background())
		_ = r.mp.Shutdown(context.Background())
	})
	r.opts = append([]lisaotel.Option{
		lisaotel.WithTracerProvider(r.tp),
		lisaotel.WithMeterProvider(r.mp),
		lisaotel.WithPropagator(propagation.TraceContext{}),
	}, otelOpts...)
	all := append([]lisa.Option{
		lisa.WithBaseURL(r.srv.URL),
		lisa.WithBackoff(time.Millisecond, time.Millisecond),
		lisaotel.ClientOption(r.opts...),
	}, clientOpts...)
	c, err := lisa.NewClient(pluginID, apiKey, secret, all...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	r.client = c
	return r
}

// ended returns the spans ended so far with this name.
func (r *rig) ended(name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range r.spans.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// collect reads every metric, by name.
func (r *rig) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// attrs maps attributes to their values, typed, so that a test tells an
// int from a string.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]any {
	out := map[attribute.Key]any{}
	for _, kv := range kvs {
		out[kv.Key] = kv.Value.AsInterface()
	}
	return out
}

// sums returns a sum metric's values by the value of key ("" for points
// without it).
func sums(t *testing.T, m metricdata.Metrics, key attribute.Key) map[string]int64 {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T", m.Name, m.Data)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		v, _ := dp.Attributes.Value(key)
		out[v.String()] += dp.Value
	}
	return out
}

// gauge returns the single value of an int64 gauge.
func gauge(t *testing.T, m metricdata.Metrics) int64 {
	t.Helper()
	g, ok := m.Data.(metricdata.Gauge[int64])
	require.True(t, ok, "%s is a %T", m.Name, m.Data)
	require.Len(t, g.DataPoints, 1)
	return g.DataPoints[0].Value
}

// newHeaderServer is a test server on 127.0.0.1 whose every answer answer
// writes; it returns its URL.
func newHeaderServer(t *testing.T, answer func(http.ResponseWriter)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		answer(w)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// everyString is all the text a span holds: name, attributes, events,
// links and status, each value printed.
func everyString(s tracetest.SpanStub) string {
	var b strings.Builder
	kvs := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			fmt.Fprintf(&b, "%s=%s\n", kv.Key, kv.Value.String())
		}
	}
	b.WriteString(s.Name + "\n" + s.Status.Description + "\n")
	kvs(s.Attributes)
	for _, e := range s.Events {
		b.WriteString(e.Name + "\n")
		kvs(e.Attributes)
	}
	for _, l := range s.Links {
		kvs(l.Attributes)
	}
	kvs(s.Resource.Attributes())
	return b.String()
}
