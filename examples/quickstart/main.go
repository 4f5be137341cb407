// Command quickstart shows the SDK end to end with no account and no network:
// it starts a local fake of the ingest endpoint (lisatest), sends a few
// product updates, and shows what a wrong secret and an oversize payload do.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
)

const (
	pluginID = "quickstart-plugin"
	apiKey   = "quickstart-api-key"
	secret   = "quickstart-secret"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	fmt.Println("local ingest server:", srv.Endpoint())

	client, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	fmt.Println("\n1. Product updates")
	updates := []any{
		map[string]any{"productId": "123", "price": 19.99},
		map[string]any{"productId": "124", "stock": 0},
		[]byte(`{"productId":"125","title":"Linen shirt, sand"}`),
	}
	for _, u := range updates {
		r, err := client.Send(ctx, u)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		fmt.Printf("   accepted: status %d, %d bytes, %d attempt(s), request id %s\n", r.StatusCode, r.Size, r.Attempts, r.RequestID)
	}

	fmt.Println("\n2. A wrong secret")
	wrong, err := lisa.NewClient(pluginID, apiKey, "not-the-secret", lisa.WithBaseURL(srv.URL))
	if err != nil {
		return err
	}
	_, err = wrong.Send(ctx, map[string]any{"productId": "123", "price": 19.99})
	if !errors.Is(err, lisa.ErrUnauthorized) {
		return fmt.Errorf("wrong secret: want ErrUnauthorized, got %v", err)
	}
	fmt.Println("   rejected as expected:", err)

	fmt.Println("\n3. An oversize payload")
	_, err = client.Send(ctx, map[string]any{"productId": "126", "description": strings.Repeat("x", lisa.MaxPayloadBytes)})
	if !errors.Is(err, lisa.ErrPayloadTooLarge) {
		return fmt.Errorf("oversize: want ErrPayloadTooLarge, got %v", err)
	}
	fmt.Println("   refused before sending:", err)

	fmt.Println("\n4. What the server saw")
	for _, r := range srv.Requests() {
		fmt.Printf("   %d %s (request id %s)\n", r.Status, r.Reason, r.RequestID)
	}
	fmt.Printf("\n%d notifications accepted.\n", len(srv.Received()))
	return nil
}
