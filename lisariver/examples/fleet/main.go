// Command fleet is one worker process of a lisariver fleet on Postgres: run
// as many as you like against one database. It is the program shown in
// lisariver/README.md.
//
//	DATABASE_URL=postgres://… LISA_PLUGIN_ID=… LISA_API_KEY=… LISA_SECRET=… go run ./examples/fleet
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer pool.Close()

	// River's tables (river_job …) must exist before any client uses them:
	// migrate at start, or run `river migrate-up` once per deployment.
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River: %w", err)
	}

	// No client retries: River retries the job, and a 429 with Retry-After
	// then reaches the worker at once and pauses the whole fleet. LiSA
	// answers within 15 s; JobTimeout below leaves room for one attempt.
	client, err := lisa.NewClient(os.Getenv("LISA_PLUGIN_ID"), os.Getenv("LISA_API_KEY"), os.Getenv("LISA_SECRET"),
		lisa.WithMaxRetries(0), lisa.WithTimeout(20*time.Second))
	if err != nil {
		return err
	}
	load := func(ctx context.Context, id string) (any, error) {
		var payload string // the product as it is now, as JSON
		err := pool.QueryRow(ctx, `SELECT payload FROM products WHERE id = $1`, id).Scan(&payload)
		return json.RawMessage(payload), err
	}
	limit := lisariver.WithRateLimit(50, 1) // per plugin, for the whole fleet
	notify, err := lisariver.NewWorker(client, load, limit)
	if err != nil {
		return err
	}
	send, err := lisariver.NewSendWorker(client, limit)
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, notify)
	river.AddWorker(workers, send)

	riverClient, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers:              workers,
		FetchCooldown:        10 * time.Millisecond,
		JobTimeout:           30 * time.Second,
		RescueStuckJobsAfter: 45 * time.Second,
	})
	if err != nil {
		return err
	}
	if err := riverClient.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done() // SIGINT or SIGTERM: finish the jobs under way, then stop
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return riverClient.Stop(stopCtx)
}
