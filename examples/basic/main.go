// Command basic is the smallest correct program that sends one product update
// to LiSA's ingest endpoint.
//
//	LISA_PLUGIN_ID=… LISA_API_KEY=… LISA_SECRET=… go run ./examples/basic -product 123 -price 19.99
//
// -url (or LISA_BASE_URL) points it at another endpoint, such as `lisa serve`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/hello-lisa/lisa-go"
)

func main() {
	baseURL := flag.String("url", envOr("LISA_BASE_URL", lisa.DefaultBaseURL), "ingest base URL")
	productID := flag.String("product", "123", "product id")
	price := flag.Float64("price", 19.99, "new price")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	receipt, err := send(ctx, *baseURL, map[string]any{"productId": *productID, "price": *price})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("accepted: status %d, request id %s, %d attempt(s)\n", receipt.StatusCode, receipt.RequestID, receipt.Attempts)
}

// send builds a client from the environment and sends one update, giving up
// after two minutes.
func send(ctx context.Context, baseURL string, update any) (*lisa.Receipt, error) {
	client, err := lisa.NewClient(os.Getenv("LISA_PLUGIN_ID"), os.Getenv("LISA_API_KEY"), os.Getenv("LISA_SECRET"),
		lisa.WithBaseURL(baseURL))
	if err != nil {
		return nil, fmt.Errorf("%w (set LISA_PLUGIN_ID, LISA_API_KEY and LISA_SECRET)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return client.Send(ctx, update)
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
