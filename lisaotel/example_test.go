package lisaotel_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A send that is answered 503 and then accepted is one lisa.send span with
// a CLIENT span per attempt. A program would pass no provider and use the
// global ones it set up; this one keeps the spans in memory to print them.
func Example() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()
	srv.Script(lisatest.Fault{Status: 503})

	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	client, err := lisa.NewClient("my-plugin", "my-api-key", "my-secret",
		lisa.WithBaseURL(srv.URL), lisa.WithBackoff(10*time.Millisecond, 10*time.Millisecond),
		lisaotel.ClientOption(lisaotel.WithTracerProvider(tp)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Send(context.Background(), map[string]any{"productId": "123", "price": 19.99}); err != nil {
		log.Fatal(err)
	}
	for _, s := range spans.GetSpans() {
		fmt.Print(s.SpanKind, " ", s.Name)
		for _, kv := range s.Attributes {
			switch kv.Key {
			case "http.response.status_code", "http.request.resend_count", "lisa.send.outcome", "lisa.send.attempts":
				fmt.Print(" ", kv.Key, "=", kv.Value.String())
			}
		}
		for _, e := range s.Events {
			fmt.Print(" [", e.Name, " ", e.Attributes[0].Value.String(), "]")
		}
		fmt.Println()
	}
	// Output:
	// client POST /plugin-notifications/{id}/updates http.response.status_code=503
	// client POST /plugin-notifications/{id}/updates http.request.resend_count=1 http.response.status_code=202
	// internal lisa.send lisa.send.attempts=2 lisa.send.outcome=accepted [lisa.wait backoff]
}

// ObserveClient exports the client's Stats as metrics when they are
// collected.
func ExampleObserveClient() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	client, err := lisa.NewClient("my-plugin", "my-api-key", "my-secret", lisa.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	reg, err := lisaotel.ObserveClient(client, lisaotel.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()
	for range 3 {
		if _, err := client.Send(context.Background(), []byte(`{"productId":"123"}`)); err != nil {
			log.Fatal(err)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "lisa.client.sends" {
			for _, dp := range sum.DataPoints {
				if result, _ := dp.Attributes.Value("lisa.result"); result.AsString() == "accepted" {
					fmt.Println(m.Name, result.AsString(), dp.Value)
				}
			}
		}
	}
	// Output:
	// lisa.client.sends accepted 3
}
