package lisaotel_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	_ "modernc.org/sqlite"
)

// TestRiverJobSendIsLinkedToItsTransaction: with River's otelriver
// middleware propagating the trace context, a lisariver job inserted in a
// traced transaction is worked in a span that links to the insert, and the
// job's send is a child of that span, its attempts carrying its trace to
// the server.
func TestRiverJobSendIsLinkedToItsTransaction(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "river.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE products (id TEXT PRIMARY KEY, price REAL NOT NULL)`)
	require.NoError(t, err)

	worker, err := lisariver.NewSendWorker(r.client)
	require.NoError(t, err)
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	rc, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers:           workers,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Plugins: []rivertype.Plugin{otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			TracerProvider:         r.tp,
			MeterProvider:          r.mp,
			EnableTracePropagation: true,
		})},
		TestOnly: true,
	})
	require.NoError(t, err)

	// The transaction that changes the product inserts the job.
	txCtx, txSpan := r.tp.Tracer("test").Start(ctx, "update product")
	tx, err := db.BeginTx(txCtx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(txCtx, `INSERT INTO products (id, price) VALUES ('123', 19.99)`)
	require.NoError(t, err)
	_, err = rc.InsertTx(txCtx, tx, lisariver.SendArgs{Body: []byte(`{"productId":"123","price":19.99}`)}, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	txSpan.End()

	done, cancel := rc.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	defer cancel()
	require.NoError(t, rc.Start(ctx))
	select {
	case ev := <-done:
		require.Equal(t, river.EventKindJobCompleted, ev.Kind)
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not complete in 10s")
	}
	stopCtx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	require.NoError(t, rc.Stop(stopCtx))

	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		spans := r.ended(name)
		require.Len(t, spans, 1, name)
		return spans.Snapshots()[0]
	}
	insert, work, send, attempt := one("river.insert_many"), one("river.work"), one(lisaotel.SendSpanName), one(attemptSpan)
	assert.Equal(t, txSpan.SpanContext().SpanID(), insert.Parent().SpanID(), "the insert is in the transaction's span")
	require.Len(t, work.Links(), 1)
	assert.Equal(t, insert.SpanContext().TraceID(), work.Links()[0].SpanContext.TraceID(), "the work links to the insert's trace")
	assert.Equal(t, insert.SpanContext().SpanID(), work.Links()[0].SpanContext.SpanID())
	assert.Equal(t, work.SpanContext().SpanID(), send.Parent().SpanID(), "the job's send is a child of its work span")
	assert.Equal(t, send.SpanContext().SpanID(), attempt.Parent().SpanID())
	assert.Equal(t, work.SpanContext().TraceID(), attempt.SpanContext().TraceID())
	reqs := r.srv.Requests()
	require.Len(t, reqs, 1)
	assert.Contains(t, reqs[0].Header.Get("Traceparent"), work.SpanContext().TraceID().String())
}
