// Command outbox shows transactional, durable delivery with lisariver on
// SQLite, with nothing to install: a product table and River's tables in one
// SQLite file, product updates that enqueue their notification in the same
// transaction, a worker delivering to an in-process lisatest server, and a
// look at what was cancelled and why.
//
//	cd lisariver && go run ./examples/outbox
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "outbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "lisariver-outbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// WAL, a busy timeout and BEGIN IMMEDIATE let River, the worker and the
	// application share the file; the worker needs at least 2 connections.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's tables: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE products (id TEXT PRIMARY KEY, price REAL NOT NULL)`); err != nil {
		return err
	}

	// A local stand-in for LiSA's ingest endpoint.
	srv := lisatest.NewServer("demo-plugin", "demo-key", "demo-secret")
	defer srv.Close()
	client, err := lisa.NewClient("demo-plugin", "demo-key", "demo-secret", lisa.WithBaseURL(srv.URL))
	if err != nil {
		return err
	}

	// The Loader reads the product as it is when the job runs.
	load := func(ctx context.Context, id string) (any, error) {
		var price float64
		if err := db.QueryRowContext(ctx, `SELECT price FROM products WHERE id = ?`, id).Scan(&price); err != nil {
			return nil, err
		}
		return map[string]any{"productId": id, "price": price}, nil
	}
	notify, err := lisariver.NewWorker(client, load)
	if err != nil {
		return err
	}
	send, err := lisariver.NewSendWorker(client)
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, notify)
	river.AddWorker(workers, send)
	riverClient, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}

	// updatePrice changes a price and enqueues its notification in one
	// transaction: the job exists only if the transaction commits.
	updatePrice := func(id string, price float64, commit bool) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO products (id, price) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET price = excluded.price`, id, price); err != nil {
			return err
		}
		if _, err := riverClient.InsertTx(ctx, tx, lisariver.NotifyArgs{Key: id}, nil); err != nil {
			return err
		}
		if !commit {
			return tx.Rollback()
		}
		return tx.Commit()
	}

	// Three committed updates before the worker starts: one notification
	// of the latest price. One rolled back: nothing.
	for _, price := range []float64{19.99, 18.49, 17.99} {
		if err := updatePrice("sku-1", price, true); err != nil {
			return err
		}
	}
	if err := updatePrice("sku-2", 5.00, false); err != nil {
		return err
	}
	// A body that is not JSON: cancelled, never sent.
	if _, err := riverClient.Insert(ctx, lisariver.SendArgs{Body: []byte(`{"productId": "sku-3",`)}, nil); err != nil {
		return err
	}

	events, stop := riverClient.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled)
	defer stop()
	if err := riverClient.Start(ctx); err != nil {
		return err
	}
	for range 2 {
		select {
		case <-events:
		case <-time.After(20 * time.Second):
			return fmt.Errorf("jobs not done after 20s")
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := riverClient.Stop(stopCtx); err != nil {
		return err
	}

	fmt.Println("3 committed updates of sku-1, 1 rolled-back update of sku-2, 1 invalid body")
	for _, n := range srv.Received() {
		fmt.Printf("delivered: %s (request id %s)\n", n.Body, n.RequestID)
	}
	if len(srv.Received()) != 1 {
		return fmt.Errorf("want exactly 1 notification delivered, got %d", len(srv.Received()))
	}

	// What was cancelled, and why: River keeps the jobs and their errors.
	rows, err := db.QueryContext(ctx, `SELECT id, kind, json_extract(errors, '$[#-1].error')
		FROM river_job WHERE state IN ('cancelled', 'discarded') AND kind LIKE 'lisa_%' ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id        int64
			kind, why string
		)
		if err := rows.Scan(&id, &kind, &why); err != nil {
			return err
		}
		fmt.Printf("cancelled: job %d (%s): %q\n", id, kind, why)
	}
	return rows.Err()
}
