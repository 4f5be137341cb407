// Command testworker is a River worker process for lisariver's crash and
// multi-process tests: it delivers lisa_notify and lisa_send jobs from a
// Postgres database (products table: id, payload) to a lisatest server until
// it gets SIGTERM or SIGINT, its standard input closes, or it is killed. It prints "ready" once started.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testworker:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		dsn         = flag.String("dsn", "", "Postgres URL")
		baseURL     = flag.String("url", "", "lisatest server URL")
		name        = flag.String("name", "worker", "sent in the User-Agent")
		workers     = flag.Int("workers", 10, "River MaxWorkers")
		jobTimeout  = flag.Duration("job-timeout", time.Minute, "River JobTimeout")
		rescueAfter = flag.Duration("rescue-after", time.Hour, "River RescueStuckJobsAfter")
		rate        = flag.Float64("rate", 0, "fleet-wide requests per second per plugin (lisariver.WithRateLimit)")
		burst       = flag.Int("burst", 1, "burst of the rate limit")
		probe       = flag.Duration("probe", lisariver.DefaultProbeInterval, "lisariver.WithProbeInterval")
		retries     = flag.Int("retries", 3, "lisa.WithMaxRetries")
	)
	flag.Parse()
	// The credentials come from the environment, never the command line:
	// the worker's own plugin, and in LISA_PLUGINS more plugins for jobs
	// that name theirs, as id:key:secret separated by commas.
	plugin, key, secret := os.Getenv("LISA_PLUGIN_ID"), os.Getenv("LISA_API_KEY"), os.Getenv("LISA_SECRET")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { // the test holds stdin open: stop when it goes away
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	pool, err := pgxpool.New(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	newClient := func(plugin, key, secret string) (*lisa.Client, error) {
		return lisa.NewClient(plugin, key, secret, lisa.WithBaseURL(*baseURL),
			lisa.WithBackoff(20*time.Millisecond, 200*time.Millisecond), lisa.WithUserAgent(*name),
			lisa.WithMaxRetries(*retries))
	}
	client, err := newClient(plugin, key, secret)
	if err != nil {
		return err
	}
	clients := map[string]*lisa.Client{}
	for _, p := range strings.Split(os.Getenv("LISA_PLUGINS"), ",") {
		if p == "" {
			continue
		}
		f := strings.SplitN(p, ":", 3)
		if len(f) != 3 {
			return errors.New("LISA_PLUGINS: want id:key:secret")
		}
		if clients[f[0]], err = newClient(f[0], f[1], f[2]); err != nil {
			return err
		}
	}
	opts := []lisariver.Option{
		lisariver.WithProbeInterval(*probe),
		lisariver.WithRateLimit(*rate, *burst),
		lisariver.WithClients(func(_ context.Context, plugin string) (*lisa.Client, error) {
			if c := clients[plugin]; c != nil {
				return c, nil
			}
			return nil, fmt.Errorf("no client for plugin %q", plugin)
		}),
	}
	load := func(ctx context.Context, key string) (any, error) {
		var p string
		if err := pool.QueryRow(ctx, `SELECT payload FROM products WHERE id = $1`, key).Scan(&p); err != nil {
			return nil, err
		}
		return json.RawMessage(p), nil
	}
	notify, err := lisariver.NewWorker(client, load, opts...)
	if err != nil {
		return err
	}
	send, err := lisariver.NewSendWorker(client, opts...)
	if err != nil {
		return err
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, notify)
	river.AddWorker(ws, send)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: *workers}},
		Workers:              ws,
		FetchCooldown:        5 * time.Millisecond,
		FetchPollInterval:    50 * time.Millisecond,
		JobTimeout:           *jobTimeout,
		RescueStuckJobsAfter: *rescueAfter,
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	if err := rc.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rc.Stop(stopCtx)
}
