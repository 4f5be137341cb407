// Command catalogsync is a realistic product sync job: it reads a catalog
// (one JSON product per line), sends an update for each with bounded
// concurrency, and writes the products that were not accepted to a file for
// the next run.
//
// By default it runs against a local lisatest server that fails now and then
// (so retries can be seen); -live sends to the real endpoint with the
// credentials in LISA_PLUGIN_ID, LISA_API_KEY and LISA_SECRET.
//
//	go run ./examples/catalogsync
//	go run ./examples/catalogsync -live -catalog my-catalog.ndjson -failed retry.ndjson
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
)

func main() {
	catalog := flag.String("catalog", "examples/catalogsync/testdata/catalog.ndjson", "NDJSON catalog, one product per line")
	live := flag.Bool("live", false, "send to the real ingest endpoint (credentials from LISA_* env)")
	baseURL := flag.String("url", lisa.DefaultBaseURL, "ingest base URL with -live")
	concurrency := flag.Int("concurrency", 8, "notifications in flight")
	failedPath := flag.String("failed", "", "write products that were not accepted to this file")
	verbose := flag.Bool("v", false, "log retries")
	flag.Parse()
	if err := run(*catalog, *live, *baseURL, *concurrency, *failedPath, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "catalogsync:", err)
		os.Exit(1)
	}
}

func run(catalog string, live bool, baseURL string, concurrency int, failedPath string, verbose bool) error {
	pluginID, apiKey, secret := os.Getenv("LISA_PLUGIN_ID"), os.Getenv("LISA_API_KEY"), os.Getenv("LISA_SECRET")
	if !live {
		pluginID, apiKey, secret = "catalogsync-demo", "demo-key", "demo-secret"
		srv := lisatest.NewServer(pluginID, apiKey, secret, lisatest.WithRandomFaults(lisatest.RandomFaults{
			Seed: 2026, ServerError: 0.05, RateLimit: 0.03, DropBefore: 0.02,
		}))
		defer srv.Close()
		baseURL = srv.URL
		fmt.Println("sending to a local lisatest server that fails about 10% of requests:", srv.URL)
	}
	opts := []lisa.Option{
		lisa.WithBaseURL(baseURL),
		lisa.WithConcurrency(concurrency),
		lisa.WithUserAgent("catalogsync-example/1.0"),
	}
	if !live {
		// The local server fails one request in ten at random, so with the
		// default four attempts about one run in thirty would lose a product
		// (300 × 0.1⁴). Nine attempts make that one run in millions.
		opts = append(opts, lisa.WithBackoff(10*time.Millisecond, 200*time.Millisecond), lisa.WithMaxRetries(8))
	}
	if verbose {
		opts = append(opts, lisa.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	}
	client, err := lisa.NewClient(pluginID, apiKey, secret, opts...)
	if err != nil {
		return err
	}

	f, err := os.Open(catalog)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// Stream the catalog: only the products in flight are in memory.
	var scanErr error
	products := func(yield func(any) bool) {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), lisa.MaxPayloadBytes+1)
		for sc.Scan() {
			line := sc.Bytes() // SendSeq copies it before the next Scan
			if len(line) == 0 {
				continue
			}
			if !yield(json.RawMessage(line)) {
				return
			}
		}
		scanErr = sc.Err()
	}

	var failed []json.RawMessage
	accepted, retried, start := 0, 0, time.Now()
	for r := range client.SendSeq(ctx, products) {
		if r.Err != nil {
			fmt.Fprintf(os.Stderr, "product #%d: %v\n", r.Index+1, r.Err)
			failed = append(failed, json.RawMessage(r.Body))
			continue
		}
		accepted++
		if r.Receipt.Attempts > 1 {
			retried++
		}
	}
	if scanErr != nil {
		return fmt.Errorf("read %s: %w", catalog, scanErr)
	}
	fmt.Printf("%d accepted (%d after a retry), %d failed, in %s\n", accepted, retried, len(failed), time.Since(start).Round(time.Millisecond))

	if len(failed) > 0 && failedPath != "" {
		out, err := os.Create(failedPath)
		if err != nil {
			return err
		}
		for _, p := range failed {
			fmt.Fprintf(out, "%s\n", p)
		}
		if err := out.Close(); err != nil {
			return err
		}
		fmt.Printf("failed products written to %s: rerun with -catalog %s\n", failedPath, failedPath)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d products were not accepted", len(failed))
	}
	return nil
}
