package lisa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
)

// The examples run against lisatest, a local fake of the ingest endpoint, so
// they need no account and no network. In production leave out WithBaseURL.

func ExampleClient_Send() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()

	client, err := lisa.NewClient("my-plugin", "my-api-key", "my-secret", lisa.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	receipt, err := client.Send(context.Background(), map[string]any{"productId": "123", "price": 19.99})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("status:", receipt.StatusCode, "attempts:", receipt.Attempts, "bytes:", receipt.Size)
	fmt.Printf("server received: %s\n", srv.Received()[0].Body)
	// Output:
	// status: 202 attempts: 1 bytes: 33
	// server received: {"price":19.99,"productId":"123"}
}

func ExampleClient_Send_errors() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()

	// Signed with the wrong secret: the server answers 401.
	client, _ := lisa.NewClient("my-plugin", "my-api-key", "wrong-secret", lisa.WithBaseURL(srv.URL))
	_, err := client.Send(context.Background(), []byte(`{"productId":"123","price":19.99}`))

	var apiErr *lisa.APIError
	switch {
	case errors.Is(err, lisa.ErrUnauthorized) && errors.As(err, &apiErr):
		fmt.Println("unauthorized:", apiErr.StatusCode, apiErr.Body)
	case err != nil:
		fmt.Println("other error:", err)
	}

	// Too large: refused before anything is sent.
	_, err = client.Send(context.Background(), make([]byte, lisa.MaxPayloadBytes+1))
	fmt.Println("too large:", errors.Is(err, lisa.ErrPayloadTooLarge))

	// Not JSON: refused before anything is sent.
	_, err = client.Send(context.Background(), []byte(`{"productId":`))
	fmt.Println("invalid:", errors.Is(err, lisa.ErrInvalidPayload))
	fmt.Println("requests the server saw:", len(srv.Requests()))
	// Output:
	// unauthorized: 401 {"error":"signature does not match the body"}
	// too large: true
	// invalid: true
	// requests the server saw: 1
}

func ExampleClient_SendAll() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()
	client, _ := lisa.NewClient("my-plugin", "my-api-key", "my-secret",
		lisa.WithBaseURL(srv.URL), lisa.WithConcurrency(8))

	payloads := []any{
		map[string]any{"productId": "1", "price": 9.5},
		[]byte(`{"productId":"2","stock":0}`),
		[]byte(`not json`),
	}
	for _, r := range client.SendAll(context.Background(), payloads) {
		if r.Err != nil {
			fmt.Printf("#%d failed: %v\n", r.Index, r.Err)
			continue
		}
		fmt.Printf("#%d accepted (%d)\n", r.Index, r.Receipt.StatusCode)
	}
	// Output:
	// #0 accepted (202)
	// #1 accepted (202)
	// #2 failed: lisa: invalid payload: body is not valid JSON
}

func ExampleClient_SendSeq() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()
	client, _ := lisa.NewClient("my-plugin", "my-api-key", "my-secret", lisa.WithBaseURL(srv.URL))

	// A sequence can be as long as a file: only a few payloads are in memory.
	updates := func(yield func(any) bool) {
		for i := 0; i < 100; i++ {
			if !yield(map[string]any{"productId": fmt.Sprint(i), "stock": i}) {
				return
			}
		}
	}
	accepted, failed := 0, 0
	for r := range client.SendSeq(context.Background(), updates) {
		if r.Err != nil {
			failed++
			continue
		}
		accepted++
	}
	fmt.Println(accepted, "accepted,", failed, "failed")
	// Output:
	// 100 accepted, 0 failed
}

func ExampleSigner() {
	signer := lisa.NewSigner([]byte("your-secret"))
	body := []byte(`{"productId":"123","price":19.99}`)
	sig := signer.Sign(body)
	fmt.Println(sig)
	fmt.Println(signer.Verify(body, sig), signer.Verify([]byte(`{"productId":"123"}`), sig))
	// Output:
	// 10c8d5a599836c0d387f6e5f62765eb2eeeb14491ce2e06ef5ff5814d54d3986
	// true false
}

func ExampleQueue() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()
	client, _ := lisa.NewClient("my-plugin", "my-api-key", "my-secret", lisa.WithBaseURL(srv.URL))

	var spill bytes.Buffer // in production, a file: `lisa send -ndjson FILE` sends it again
	var mu sync.Mutex
	results, failed := 0, 0
	queue, err := lisa.NewQueue(client, lisa.QueueOptions{
		Spill: &spill,
		OnResult: func(r lisa.Result) { // from the queue's goroutines, once per payload
			mu.Lock()
			defer mu.Unlock()
			results++
			if r.Err != nil && !errors.Is(r.Err, lisa.ErrSuperseded) {
				failed++
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// On the request path: Enqueue returns at once. Five quick price
	// changes of one product are coalesced: LiSA gets the last one last.
	ctx := context.Background()
	for price := 10; price <= 14; price++ {
		if err := queue.EnqueueKey(ctx, "123", map[string]any{"productId": "123", "price": price}); err != nil {
			fmt.Println(err) // ErrQueueFull, ErrQueueClosed, an invalid payload…
		}
	}
	_ = queue.Enqueue(ctx, map[string]any{"productId": "456", "stock": 0})

	// In the shutdown hook: deliver what waits for at most 10 seconds; the
	// rest goes to Spill and is counted in the error.
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := queue.Close(shutdown); err != nil {
		fmt.Println(err)
	}

	last := ""
	for _, n := range srv.Received() {
		if bytes.Contains(n.Body, []byte(`"123"`)) {
			last = string(n.Body)
		}
	}
	fmt.Println("results:", results, "failed:", failed, "spilled bytes:", spill.Len())
	fmt.Println("LiSA's last update of 123:", last)
	// Output:
	// results: 6 failed: 0 spilled bytes: 0
	// LiSA's last update of 123: {"price":14,"productId":"123"}
}
