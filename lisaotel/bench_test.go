package lisaotel_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// side is one way of sending for the overhead measurements.
type side struct {
	name   string
	client *lisa.Client
}

// overheadSides are clients of one lisatest server: not instrumented
// (bare), instrumented with no-op providers (noop: a program that has not
// set up OpenTelemetry), and instrumented with the SDK recording every span
// and metric (sdk: spans batched to an exporter that drops them, metrics
// aggregated by a reader never collected). With control, a second bare
// client comes second: its ratio to bare shows what the measurement alone
// gives.
func overheadSides(tb testing.TB, control bool) []side {
	srv := lisatest.NewServer(pluginID, apiKey, secret, lisatest.WithoutRecords())
	tb.Cleanup(srv.Close)
	return instrumented(tb, control, lisa.WithBaseURL(srv.URL))
}

// instrumented makes the sides of overheadSides with opts.
func instrumented(tb testing.TB, control bool, opts ...lisa.Option) []side {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	newClient := func(more ...lisa.Option) *lisa.Client {
		c, err := lisa.NewClient(pluginID, apiKey, secret, append(more, opts...)...)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(c.CloseIdleConnections)
		return c
	}
	sides := []side{{"bare", newClient()}}
	if control {
		sides = append(sides, side{"bare again", newClient()})
	}
	return append(sides, []side{
		{"noop", newClient(lisaotel.ClientOption(
			lisaotel.WithTracerProvider(tracenoop.NewTracerProvider()),
			lisaotel.WithMeterProvider(metricnoop.NewMeterProvider())))},
		{"sdk", newClient(lisaotel.ClientOption(
			lisaotel.WithTracerProvider(tp), lisaotel.WithMeterProvider(mp),
			lisaotel.WithPropagator(propagation.TraceContext{})))},
	}...)
}

var benchPayload = []byte(`{"productId":"123","title":"Linen shirt, sand","price":19.99,"stock":4}`)

// BenchmarkSend: one Send to lisatest on loopback, for each side. Compare
// the sides' ns/op within one run (benchstat); TestPairedOverhead pairs
// them more tightly.
func BenchmarkSend(b *testing.B) {
	for _, s := range overheadSides(b, false) {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.client.Send(context.Background(), benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOverhead is BenchmarkSend with the network taken out: the
// client's transport answers 202 in memory, so ns/op is the client's own
// work and the difference between the sides is what the instrumentation
// adds to each send, with little noise. Run the sides interleaved:
//
//	go test -run '^$' -bench Overhead -count 10 .
func BenchmarkOverhead(b *testing.B) {
	for _, s := range instrumented(b, false, lisa.WithHTTPClient(&http.Client{Transport: answer202{}})) {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.client.Send(context.Background(), benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// answer202 is a transport that accepts every request at once.
type answer202 struct{}

func (answer202) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusAccepted, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// TestPairedOverhead measures what instrumenting a client adds to a Send,
// in paired rounds: within a round the sides each make the same
// number of sends back to back, in an order rotating from round to round,
// so background load hits them alike; each round gives one ratio to bare
// per side (a second bare client, noop, sdk), of wall time and of the
// process's CPU time. It
// prints their medians with a 95% confidence interval (sign test), the
// interquartile range and in how many rounds the instrumented side was the
// slower. It is a measurement, not a check, so it runs only when asked:
//
//	LISA_PAIRED_ROUNDS=30 go test -run TestPairedOverhead -v .
//
// LISA_PAIRED_SENDS sets the sends per side per round (default 500),
// LISA_PAIRED_CONC the goroutines sending (default 1), and
// LISA_PAIRED_MEMORY=1 takes the network out, as BenchmarkOverhead does.
func TestPairedOverhead(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("LISA_PAIRED_ROUNDS"))
	if rounds <= 0 {
		t.Skip("a measurement: set LISA_PAIRED_ROUNDS to run it")
	}
	sends, conc := envInt("LISA_PAIRED_SENDS", 500), envInt("LISA_PAIRED_CONC", 1)
	sides := overheadSides(t, true)
	if os.Getenv("LISA_PAIRED_MEMORY") == "1" {
		sides = instrumented(t, true, lisa.WithHTTPClient(&http.Client{Transport: answer202{}}))
	}
	n := len(sides) - 1
	// wall[i] and cpu[i] are side i+1's ÷ bare, per round.
	wall, cpu := make([][]float64, n), make([][]float64, n)
	slower := make([]int, n)
	total := make([]time.Duration, len(sides))
	for _, s := range sides { // warm the connections up
		if err := sendMany(s.client, 4*conc, conc); err != nil {
			t.Fatal(err)
		}
	}
	for r := range rounds {
		w, c := make([]time.Duration, len(sides)), make([]time.Duration, len(sides))
		for k := range sides {
			i := (r + k) % len(sides)
			cpu0, start := processCPU(), time.Now()
			if err := sendMany(sides[i].client, sends, conc); err != nil {
				t.Fatal(err)
			}
			w[i], c[i] = time.Since(start), processCPU()-cpu0
			total[i] += w[i]
		}
		for i := range n {
			wall[i] = append(wall[i], float64(w[i+1])/float64(w[0]))
			if c[0] > 0 {
				cpu[i] = append(cpu[i], float64(c[i+1])/float64(c[0]))
			}
			if w[i+1] > w[0] {
				slower[i]++
			}
		}
	}
	fmt.Printf("paired rounds: %d, sends per side per round: %d, goroutines: %d, in memory: %t\n\n",
		rounds, sends, conc, os.Getenv("LISA_PAIRED_MEMORY") == "1")
	fmt.Println("| side | ÷ bare, median | 95% CI of median | IQR | rounds slower | CPU ÷ bare, median | CPU IQR | µs/send | bare µs/send |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	perSend := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(rounds*sends) }
	for i := range n {
		slices.Sort(wall[i])
		slices.Sort(cpu[i])
		lo, hi := medianCI(wall[i])
		fmt.Printf("| %s | %.3f | %.3f–%.3f | %.3f–%.3f | %d of %d | %.3f | %.3f–%.3f | %.1f | %.1f |\n", sides[i+1].name,
			quantile(wall[i], 0.5), lo, hi, quantile(wall[i], 0.25), quantile(wall[i], 0.75), slower[i], rounds,
			quantile(cpu[i], 0.5), quantile(cpu[i], 0.25), quantile(cpu[i], 0.75), perSend(total[i+1]), perSend(total[0]))
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// sendMany makes n sends from conc goroutines.
func sendMany(c *lisa.Client, n, conc int) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan struct{}, n)
	)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range conc {
		wg.Go(func() {
			for range next {
				if _, err := c.Send(context.Background(), benchPayload); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// quantile is the q-quantile of sorted values, interpolated linearly.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// medianCI is a distribution-free confidence interval of at least 95% for
// the median: the order statistics k and n-k+1, with k the largest rank
// such that a Binomial(n, ½) count falls below k with probability ≤ 2.5%.
func medianCI(sorted []float64) (lo, hi float64) {
	n := len(sorted)
	k, below := 0, 0.0
	for k < n {
		lg := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
		p := math.Exp(lg(n) - lg(k) - lg(n-k) - float64(n)*math.Ln2) // P(count = k)
		if below+p > 0.025 {
			break
		}
		below += p
		k++
	}
	if k == 0 {
		return sorted[0], sorted[n-1]
	}
	return sorted[k-1], sorted[n-k]
}
