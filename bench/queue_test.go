package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
)

// heldTransport answers 202 at once, like answer202, but only while it is
// not held: BenchmarkEnqueue holds it during the timed part, so that the
// queue's workers wait in it and only Enqueue itself is measured.
type heldTransport struct{ hold sync.RWMutex }

func (h *heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.hold.RLock()
	defer h.hold.RUnlock()
	return answer202{}.RoundTrip(r)
}

// enqueueChunk is how many payloads BenchmarkEnqueue enqueues between two
// untimed drains of the queue.
const enqueueChunk = 10_000

// BenchmarkEnqueue measures Queue.Enqueue of a small product with room in
// the queue, from GOMAXPROCS goroutines at once, against json.Marshal of the
// same product (the encoding Enqueue includes): the difference is the
// queue's own cost, in time and allocations.
func BenchmarkEnqueue(b *testing.B) {
	held := &heldTransport{}
	client, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL("http://127.0.0.1:1"),
		lisa.WithHTTPClient(&http.Client{Transport: held}), lisa.WithConcurrency(8))
	if err != nil {
		b.Fatal(err)
	}
	q, err := lisa.NewQueue(client, lisa.QueueOptions{MaxItems: 2 * enqueueChunk})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close(context.Background())
	ctx := context.Background()
	impls := []struct {
		name string
		fn   func() error
	}{
		{"sdk", func() error { return q.Enqueue(ctx, small) }},
		{"marshal", func() error { _, err := json.Marshal(small); return err }},
	}
	for r := 1; r <= rounds(); r++ {
		for _, impl := range inOrder(r, impls) {
			b.Run(fmt.Sprintf("round=%d/payload=small/impl=%s", r, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				b.StopTimer()
				for done := 0; done < b.N; {
					n := min(enqueueChunk, b.N-done)
					held.hold.Lock()
					b.StartTimer()
					err := runParallel(runtime.GOMAXPROCS(0), n, impl.fn)
					b.StopTimer()
					held.hold.Unlock()
					if err != nil {
						b.Fatal(err)
					}
					if err := q.Flush(ctx); err != nil {
						b.Fatal(err)
					}
					done += n
				}
			})
		}
	}
}

// runParallel calls fn n times from g goroutines and returns an error fn
// returned, if any.
func runParallel(g, n int, fn func() error) error {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := fn(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}

// BenchmarkQueueThroughput sends 10,000 small products per op through a
// Queue (Enqueue all, then Flush) and through SendAll, with the same client
// (concurrency 8) against the loopback server.
func BenchmarkQueueThroughput(b *testing.B) {
	base := loopback()
	sdk := newSDK(b, base)
	const n = 10_000
	payloads := make([]any, n)
	for i := range payloads {
		p := small
		p.ProductID = fmt.Sprint("SKU-", i)
		payloads[i] = p
	}
	var accepted atomic.Int64
	q, err := lisa.NewQueue(sdk, lisa.QueueOptions{Workers: 8, Block: true, OnResult: func(r lisa.Result) {
		if r.Err == nil {
			accepted.Add(1)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close(context.Background())
	ctx := context.Background()
	impls := []struct {
		name string
		fn   func() int
	}{
		{"sdk", func() int {
			accepted.Store(0)
			for _, p := range payloads {
				if err := q.Enqueue(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
			if err := q.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			return int(accepted.Load())
		}},
		{"sendall", func() int {
			ok := 0
			for _, r := range sdk.SendAll(ctx, payloads) {
				if r.Err == nil {
					ok++
				}
			}
			return ok
		}},
	}
	for r := 1; r <= rounds(); r++ {
		for _, impl := range inOrder(r, impls) {
			b.Run(fmt.Sprintf("round=%d/payloads=%d/conc=8/impl=%s", r, n, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if ok := impl.fn(); ok != n {
						b.Fatalf("%d of %d accepted", ok, n)
					}
				}
				b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "payloads/s")
			})
		}
	}
}

// TestPairedQueue compares a Queue with the plain alternative a user would
// write: a channel and the same number of worker goroutines calling
// client.Send. Both use one client against the loopback server; each round
// sends LISA_PAIRED_SENDS products through each side, back to back (the
// order alternating), and gives one Queue ÷ pool ratio. The difference is
// the queue's own cost: encoding and copying at Enqueue, the line,
// coalescing and the reporter.
//
//	LISA_PAIRED_ROUNDS=30 go test -run TestPairedQueue -v ./bench/
func TestPairedQueue(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("LISA_PAIRED_ROUNDS"))
	if rounds <= 0 {
		t.Skip("a measurement: set LISA_PAIRED_ROUNDS to run it")
	}
	sends := 1000
	if n, err := strconv.Atoi(os.Getenv("LISA_PAIRED_SENDS")); err == nil && n > 0 {
		sends = n
	}
	const workers = 8
	sdk := newSDK(t, loopback())
	var accepted atomic.Int64
	q, err := lisa.NewQueue(sdk, lisa.QueueOptions{Workers: workers, Block: true, OnResult: func(r lisa.Result) {
		if r.Err == nil {
			accepted.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(context.Background())
	ctx := context.Background()
	queueSide := func() (time.Duration, error) {
		accepted.Store(0)
		start := time.Now()
		for i := range sends {
			p := small
			p.Stock = i
			if err := q.Enqueue(ctx, p); err != nil {
				return 0, err
			}
		}
		if err := q.Flush(ctx); err != nil {
			return 0, err
		}
		if n := accepted.Load(); n != int64(sends) {
			return 0, fmt.Errorf("queue: %d of %d accepted", n, sends)
		}
		return time.Since(start), nil
	}
	poolSide := func() (time.Duration, error) {
		start := time.Now()
		jobs := make(chan any, workers)
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range jobs {
					if _, err := sdk.Send(ctx, p); err == nil {
						ok.Add(1)
					}
				}
			}()
		}
		for i := range sends {
			p := small
			p.Stock = i
			jobs <- p
		}
		close(jobs)
		wg.Wait()
		if n := ok.Load(); n != int64(sends) {
			return 0, fmt.Errorf("pool: %d of %d accepted", n, sends)
		}
		return time.Since(start), nil
	}
	row, err := pairRounds(rounds, func(r int) (pairSample, error) {
		var s pairSample
		sides := []func() (time.Duration, error){queueSide, poolSide}
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			cpu0 := processCPU()
			d, err := sides[i]()
			if err != nil {
				return s, err
			}
			s.wall[i], s.cpu[i] = d, processCPU()-cpu0
		}
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("paired rounds: %d, sends per side per round: %d (÷ bare reads ÷ channel pool)\n\n", rounds, sends)
	printPairedHeader()
	row.print("queue", "small", workers, rounds*sends)
}
