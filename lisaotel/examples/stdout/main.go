// Command stdout shows lisaotel end to end with no account and no network:
// it starts a local fake of the ingest endpoint (lisatest), sends a few
// product updates through an instrumented client and a Queue, prints every
// span to standard output with OpenTelemetry's stdout exporter, and serves
// the metrics for Prometheus through OpenTelemetry's Prometheus exporter.
//
//	go run ./examples/stdout                   # from lisaotel/: prints the spans, then one scrape
//	go run ./examples/stdout -serve            # keeps serving http://127.0.0.1:9464/metrics
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	pluginID = "stdout-plugin"
	apiKey   = "stdout-api-key"
	secret   = "stdout-secret"
)

func main() {
	addr := flag.String("metrics", "127.0.0.1:9464", "`address` to serve /metrics on")
	serve := flag.Bool("serve", false, "keep serving /metrics until interrupted")
	flag.Parse()
	d, err := run(os.Stdout, *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdout:", err)
		os.Exit(1)
	}
	defer d.Close()
	if !*serve {
		// Scrape once, as Prometheus would, and show the lisa lines.
		text, err := scrape(d.MetricsURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stdout:", err)
			os.Exit(1)
		}
		fmt.Println("\nMetrics, as Prometheus scrapes them from", d.MetricsURL)
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "lisa_") || strings.HasPrefix(line, "http_client_request_duration_seconds_count") {
				fmt.Println("  ", line)
			}
		}
		return
	}
	fmt.Println("\nserving", d.MetricsURL, "until interrupted")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
}

// demo is what run leaves running: the metrics server.
type demo struct {
	MetricsURL string
	close      func()
}

// Close stops the metrics server and flushes the providers.
func (d *demo) Close() { d.close() }

// run sets OpenTelemetry up (spans to out, metrics to a Prometheus registry
// served on addr), then sends: a product update, one answered 503 first, one
// with a wrong secret, and two coalesced updates through a Queue.
func run(out io.Writer, addr string) (*demo, error) {
	// The two lines a program adds are marked "lisaotel"; the rest is the
	// program's own OpenTelemetry setup.
	spans, err := stdouttrace.New(stdouttrace.WithWriter(out), stdouttrace.WithPrettyPrint())
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	metricsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go metricsSrv.Serve(ln)
	d := &demo{MetricsURL: "http://" + ln.Addr().String() + "/metrics", close: func() {
		metricsSrv.Close()
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	}}
	if err := send(out); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// send is a quickstart with an instrumented client.
func send(out io.Writer) error {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	srv.Script(lisatest.Fault{}, lisatest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0"})

	client, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL),
		lisaotel.ClientOption()) // lisaotel: spans and metrics of every send
	if err != nil {
		return err
	}
	if _, err := lisaotel.ObserveClient(client); err != nil { // lisaotel: metrics from client.Stats()
		return err
	}
	ctx, span := otel.Tracer("stdout-example").Start(context.Background(), "update product 123")
	defer span.End()

	fmt.Fprintln(out, "1. Two product updates, the second answered 503 first")
	for _, p := range []string{`{"productId":"123","price":19.99}`, `{"productId":"124","stock":0}`} {
		if _, err := client.Send(ctx, []byte(p)); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "\n2. A wrong secret")
	wrong, err := lisa.NewClient(pluginID, apiKey, "not-the-secret", lisa.WithBaseURL(srv.URL), lisaotel.ClientOption())
	if err != nil {
		return err
	}
	if _, err := wrong.Send(ctx, []byte(`{"productId":"123"}`)); !errors.Is(err, lisa.ErrUnauthorized) {
		return fmt.Errorf("wrong secret: want ErrUnauthorized, got %v", err)
	}

	fmt.Fprintln(out, "\n3. Two updates of one product through a Queue: one send, linked to both Enqueue calls")
	q, err := lisa.NewQueue(client, lisa.QueueOptions{Workers: 1}) // one worker: updates coalesce behind a send
	if err != nil {
		return err
	}
	if _, err := lisaotel.ObserveQueue(q); err != nil {
		return err
	}
	srv.Script(lisatest.Fault{Delay: 200 * time.Millisecond, Process: true}) // hold the first send, so the next two coalesce
	if err := q.Enqueue(ctx, []byte(`{"productId":"200"}`)); err != nil {
		return err
	}
	for q.Stats().InFlight == 0 {
		time.Sleep(time.Millisecond)
	}
	for _, price := range []string{"9.99", "8.99"} {
		ectx, espan := otel.Tracer("stdout-example").Start(context.Background(), "price change")
		err := q.EnqueueKey(ectx, "123", []byte(`{"productId":"123","price":`+price+`}`))
		espan.End()
		if err != nil {
			return err
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return q.Close(closeCtx)
}

// scrape fetches the metrics once.
func scrape(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return string(b), nil
}
