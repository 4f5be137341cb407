// Command river shows a lisariver job's send in OpenTelemetry: a
// transaction inserts the job under a span, River's otelriver middleware
// carries the trace context in the job's metadata, and the job's work span
// links back to the insert; the job's lisa.send span and its attempt are
// children of the work span, and the attempt carries the trace to the
// server. It runs with no account and no network: SQLite in a temporary
// directory and a local fake of the ingest endpoint (lisatest).
//
//	go run ./examples/river          # from lisaotel/
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	_ "modernc.org/sqlite"
)

const (
	pluginID = "river-plugin"
	apiKey   = "river-api-key"
	secret   = "river-secret"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "river:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	// Spans are kept in memory, to print them at the end; a service would
	// export them.
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())

	client, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL),
		lisaotel.ClientOption(lisaotel.WithTracerProvider(tp), lisaotel.WithPropagator(propagation.TraceContext{})))
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "lisaotel-river-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "river.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE products (id TEXT PRIMARY KEY, price REAL NOT NULL)`); err != nil {
		return err
	}

	worker, err := lisariver.NewSendWorker(client)
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	rc, err := river.NewClient(driver, &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers: workers,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		// River's own middleware, with the trace context carried in the job.
		Plugins: []rivertype.Plugin{otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			TracerProvider:         tp,
			EnableTracePropagation: true,
		})},
	})
	if err != nil {
		return err
	}

	// A request handler changes a product and inserts the job in the same
	// transaction.
	txCtx, txSpan := tp.Tracer("shop").Start(ctx, "PUT /products/123")
	tx, err := db.BeginTx(txCtx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(txCtx, `INSERT INTO products (id, price) VALUES ('123', 19.99)`); err != nil {
		return err
	}
	if _, err := rc.InsertTx(txCtx, tx, lisariver.SendArgs{Body: []byte(`{"productId":"123","price":19.99}`)}, nil); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	txSpan.End()

	events, stopEvents := rc.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	defer stopEvents()
	if err := rc.Start(ctx); err != nil {
		return err
	}
	select {
	case ev := <-events:
		if ev.Kind != river.EventKindJobCompleted {
			return fmt.Errorf("the job ended %s", ev.Kind)
		}
	case <-ctx.Done():
		return fmt.Errorf("the job did not complete: %w", ctx.Err())
	}
	if err := rc.Stop(ctx); err != nil {
		return err
	}

	printTraces(out, spans.GetSpans())
	fmt.Fprintln(out, "\ntraceparent the server received:", srv.Requests()[0].Header.Get("Traceparent"))
	return nil
}

// printTraces prints each trace as a tree, its spans' links beside them.
func printTraces(out io.Writer, spans tracetest.SpanStubs) {
	names := map[string]string{} // span id → name
	children := map[string][]tracetest.SpanStub{}
	var traces []string
	var roots []tracetest.SpanStub
	for _, s := range spans {
		names[s.SpanContext.SpanID().String()] = s.Name
		if s.Parent.IsValid() {
			p := s.Parent.SpanID().String()
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
			traces = append(traces, s.SpanContext.TraceID().String())
		}
	}
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		line := strings.Repeat("  ", depth) + s.Name + " (" + s.SpanKind.String() + ")"
		for _, l := range s.Links {
			line += "  → links to " + names[l.SpanContext.SpanID().String()] + " in trace " + l.SpanContext.TraceID().String()
		}
		fmt.Fprintln(out, line)
		// Children end before their parent, so they come first in spans.
		for _, c := range children[s.SpanContext.SpanID().String()] {
			walk(c, depth+1)
		}
	}
	for i, r := range roots {
		fmt.Fprintf(out, "\ntrace %s\n", traces[i])
		walk(r, 1)
	}
}
