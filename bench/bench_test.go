package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hello-lisa/lisa-go"
)

const (
	pluginID = "bench-plugin"
	apiKey   = "bench-api-key"
	secret   = "bench-secret"
)

// rounds is how many times each group of benchmarks runs, alternating
// implementations; compare.sh sets LISA_BENCH_ROUNDS.
func rounds() int {
	if n, err := strconv.Atoi(os.Getenv("LISA_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// inOrder returns the implementations in the order for round r: as given in
// odd rounds, reversed in even ones (A B, B A, A B …), so that running first
// or second in a pair favours neither side.
func inOrder[T any](r int, impls []T) []T {
	if r%2 == 1 {
		return impls
	}
	out := make([]T, len(impls))
	for i, v := range impls {
		out[len(impls)-1-i] = v
	}
	return out
}

type product struct {
	ProductID   string  `json:"productId"`
	Title       string  `json:"title"`
	Price       float64 `json:"price"`
	Currency    string  `json:"currency"`
	Stock       int     `json:"stock"`
	Description string  `json:"description,omitempty"`
}

// small is a product of about 100 bytes; large one of about 150 KiB.
var (
	small = product{ProductID: "SKU-12345", Title: "Linen shirt, sand", Price: 49.95, Currency: "EUR", Stock: 17}
	large = product{ProductID: "SKU-12346", Title: "Catalog entry", Price: 129, Currency: "EUR", Stock: 3,
		Description: strings.Repeat("Soft, breathable linen. ", 150<<10/24)}
)

func size(p product) int {
	b, _ := json.Marshal(p)
	return len(b)
}

// server is the limit for sending: a loopback server that reads the body
// and answers 202.
var (
	serverOnce sync.Once
	serverURL  string
)

func loopback() string {
	serverOnce.Do(func() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		}))
		serverURL = srv.URL // closed when the process ends
	})
	return serverURL
}

// bare is the baseline: the docs' Go sample done right, by hand.
type bare struct {
	url    string
	key    []byte
	client *http.Client
}

func newBare(base string) *bare {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
	return &bare{
		url:    base + "/plugin-notifications/" + pluginID + "/updates",
		key:    []byte(secret),
		client: &http.Client{Transport: t},
	}
}

// send is what a careful hand-written sender does for one attempt: the
// same request as the SDK's (a request id included) and a timeout, without
// which one silent server hangs a job.
func (b *bare) send(ctx context.Context, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, b.key)
	mac.Write(body)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "ApiKey "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hmac-Signature", hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Request-Id", uuid.NewString())
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// sendImpl is one side of a Send comparison.
type sendImpl struct {
	name string
	fn   func(context.Context, any) error
}

func sendImpls(sdk *lisa.Client, hand *bare) []sendImpl {
	return []sendImpl{
		{"sdk", func(ctx context.Context, p any) error { _, err := sdk.Send(ctx, p); return err }},
		{"bare", hand.send},
	}
}

func newSDK(tb testing.TB, base string) *lisa.Client {
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(base), lisa.WithConcurrency(8))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkSign compares Signer.Sign with a fresh hmac.New per call and with
// raw SHA-256 (the floor: HMAC cannot beat the hash under it).
func BenchmarkSign(b *testing.B) {
	signer := lisa.NewSigner([]byte(secret))
	impls := []struct {
		name string
		fn   func([]byte) string
	}{
		{"sdk", signer.Sign},
		{"hmac-new", func(body []byte) string {
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(body)
			return hex.EncodeToString(mac.Sum(nil))
		}},
		{"sha256", func(body []byte) string {
			sum := sha256.Sum256(body)
			return string(sum[:1]) // the hash only: no key, no hex
		}},
	}
	for r := 1; r <= rounds(); r++ {
		for _, n := range []int{64, 1 << 10, 16 << 10, 192 << 10} {
			body := bytes.Repeat([]byte("a"), n)
			for _, impl := range inOrder(r, impls) {
				b.Run(fmt.Sprintf("round=%d/size=%d/impl=%s", r, n, impl.name), func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(n))
					for i := 0; i < b.N; i++ {
						impl.fn(body)
					}
				})
			}
		}
	}
}

// BenchmarkSend compares Client.Send with the bare baseline on loopback, at
// concurrency 1 and 8, for a small and a large product.
func BenchmarkSend(b *testing.B) {
	base := loopback()
	sdk := newSDK(b, base)
	hand := newBare(base)
	impls := sendImpls(sdk, hand)
	for r := 1; r <= rounds(); r++ {
		for _, payload := range []struct {
			name string
			p    product
		}{{"small", small}, {"large", large}} {
			for _, conc := range []int{1, 8} {
				for _, impl := range inOrder(r, impls) {
					name := fmt.Sprintf("round=%d/payload=%s/conc=%d/impl=%s", r, payload.name, conc, impl.name)
					b.Run(name, func(b *testing.B) {
						b.ReportAllocs()
						b.SetBytes(int64(size(payload.p)))
						runConcurrent(b, conc, func() error { return impl.fn(context.Background(), payload.p) })
					})
				}
			}
		}
	}
}

// runConcurrent calls fn b.N times from conc goroutines.
func runConcurrent(b *testing.B, conc int, fn func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := fn(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
}

// BenchmarkSendAll sends 10,000 small products per op (LISA_SENDALL_N
// sets another count) through SendAll, through SendSeq, and through a
// hand-written worker pool, at concurrency 1, 8 and 64. It reports the
// throughput and the peak live heap while sending.
func BenchmarkSendAll(b *testing.B) {
	base := loopback()
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("LISA_SENDALL_N")); err == nil && v > 0 {
		n = v
	}
	payloads := make([]any, n)
	for i := range payloads {
		p := small
		p.ProductID = fmt.Sprint("SKU-", i)
		payloads[i] = p
	}
	for _, conc := range []int{1, 8, 64} {
		sdk, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(base), lisa.WithConcurrency(conc))
		if err != nil {
			b.Fatal(err)
		}
		hand := newBare(base)
		impls := []struct {
			name string
			fn   func() int
		}{
			{"sdk", func() int {
				ok := 0
				for _, r := range sdk.SendAll(context.Background(), payloads) {
					if r.Err == nil {
						ok++
					}
				}
				return ok
			}},
			{"sdk-seq", func() int { // SendSeq keeps no results: memory bounded by the concurrency
				ok := 0
				for r := range sdk.SendSeq(context.Background(), slices.Values(payloads)) {
					if r.Err == nil {
						ok++
					}
				}
				return ok
			}},
			{"bare", func() int {
				var ok atomic.Int64
				var next atomic.Int64
				var wg sync.WaitGroup
				for g := 0; g < conc; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
							if hand.send(context.Background(), payloads[i]) == nil {
								ok.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				return int(ok.Load())
			}},
		}
		for r := 1; r <= rounds(); r++ {
			for _, impl := range inOrder(r, impls) {
				b.Run(fmt.Sprintf("round=%d/payloads=%d/conc=%d/impl=%s", r, n, conc, impl.name), func(b *testing.B) {
					b.ReportAllocs()
					stop := make(chan struct{})
					peak := watchHeap(stop)
					start := time.Now()
					for i := 0; i < b.N; i++ {
						if ok := impl.fn(); ok != n {
							b.Fatalf("%d of %d accepted", ok, n)
						}
					}
					elapsed := time.Since(start)
					close(stop)
					b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "payloads/s")
					b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MiB")
				})
			}
		}
	}
}

// watchHeap samples the live heap until stop is closed, then sends its peak.
func watchHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// answer202 is an in-memory transport: every request is answered 202 at
// once, so that only the client's own work is measured.
type answer202 struct{}

func (answer202) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusAccepted, Status: "202 Accepted", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: r}, nil
}

// inMemoryImpls returns the SDK and bare sides, both sending through
// answer202.
func inMemoryImpls(tb testing.TB) []sendImpl {
	sdk, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL("http://127.0.0.1:1"),
		lisa.WithHTTPClient(&http.Client{Transport: answer202{}}))
	if err != nil {
		tb.Fatal(err)
	}
	hand := newBare("http://127.0.0.1:1")
	hand.client = &http.Client{Transport: answer202{}}
	return sendImpls(sdk, hand)
}

// BenchmarkOverhead measures what each side costs per send besides the
// network: encoding, signing, building the request, the client machinery.
func BenchmarkOverhead(b *testing.B) {
	impls := inMemoryImpls(b)
	for r := 1; r <= rounds(); r++ {
		for _, impl := range inOrder(r, impls) {
			b.Run(fmt.Sprintf("round=%d/payload=small/impl=%s", r, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := impl.fn(context.Background(), small); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
