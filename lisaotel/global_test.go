package lisaotel_test

import (
	"context"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestGlobalProvidersByDefault: with no option, ClientOption uses the
// global tracer and meter providers and propagator, even when the program
// sets them after making the client.
func TestGlobalProvidersByDefault(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	t.Cleanup(srv.Close)
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL), lisaotel.ClientOption())
	require.NoError(t, err)

	tp0, mp0, prop0 := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp0)
		otel.SetMeterProvider(mp0)
		otel.SetTextMapPropagator(prop0)
	})
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	_, err = c.Send(context.Background(), []byte(`{}`))
	require.NoError(t, err)
	got := spans.GetSpans()
	require.Len(t, got, 2)
	assert.Equal(t, attemptSpan, got[0].Name)
	assert.Equal(t, lisaotel.SendSpanName, got[1].Name)
	sc := got[0].SpanContext
	assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", srv.Requests()[0].Header.Get("Traceparent"))
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Equal(t, lisaotel.ScopeName, rm.ScopeMetrics[0].Scope.Name)
	assert.Equal(t, "http.client.request.duration", rm.ScopeMetrics[0].Metrics[0].Name)
}
