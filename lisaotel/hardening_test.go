package lisaotel_test

// Defects a hostile review found, reproduced before their fix.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

type panickingTransport struct{}

func (panickingTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("transport boom") }

// TestATransportThatPanicsEndsEverySpan: the attempt's CLIENT span was
// never ended when the transport panicked (a Queue, which recovers the
// panic, leaked one span per panic).
func TestATransportThatPanicsEndsEverySpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c, err := lisa.NewClient("p1", "key-5f2c0d1e", "secret-9d8c7b6a", lisa.WithBaseURL("http://127.0.0.1:1"),
		lisa.WithHTTPClient(&http.Client{Transport: panickingTransport{}}), lisaotel.ClientOption(lisaotel.WithTracerProvider(tp)))
	require.NoError(t, err)
	assert.Panics(t, func() { _, _ = c.Send(context.Background(), []byte(`{"productId":"1"}`)) })
	require.Len(t, rec.Started(), 2)
	assert.Len(t, rec.Ended(), 2, "every span started is ended")
}

// TestTheBaseURLsPathIsNotInNamesOrLabels: a base URL's path (a proxy's
// per-tenant token) went into span names, url.template and the duration
// metric's labels: one series per tenant, and the token shown.
func TestTheBaseURLsPathIsNotInNamesOrLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	const token = "tok-PROXYTOKEN789"
	for _, tenant := range []string{"a", "b"} {
		c, err := lisa.NewClient("p1", "key-5f2c0d1e", "secret-9d8c7b6a", lisa.WithBaseURL(srv.URL+"/"+token+"/"+tenant),
			lisaotel.ClientOption(lisaotel.WithTracerProvider(tp), lisaotel.WithMeterProvider(mp)))
		require.NoError(t, err)
		_, err = c.Send(context.Background(), []byte(`{"productId":"1"}`))
		require.NoError(t, err)
	}
	var seen []string
	for _, s := range rec.Ended() {
		seen = append(seen, s.Name())
		for _, a := range s.Attributes() {
			seen = append(seen, a.Value.String())
		}
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				assert.Len(t, h.DataPoints, 1, "%s: one series for both base URLs", m.Name)
				for _, dp := range h.DataPoints {
					for _, a := range dp.Attributes.ToSlice() {
						seen = append(seen, a.Value.String())
					}
				}
			}
		}
	}
	require.NotEmpty(t, seen)
	assert.Contains(t, seen, "POST /plugin-notifications/{id}/updates")
	for _, s := range seen {
		assert.False(t, strings.Contains(s, token), "the base path shows in %q", s)
	}
}
