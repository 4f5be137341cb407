package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPaired compares Client.Send with the bare baseline in paired rounds:
// within a round both sides run back to back (their order alternating from
// round to round), so background load hits both alike, and each round gives
// one SDK ÷ bare ratio. It prints the median ratio with a 95% confidence
// interval, the interquartile range, and in how many rounds the SDK was the
// slower, for three ways of calling:
//
//   - pool: a fixed pool of goroutines sends, like SendAll or a worker pool;
//   - interleave: each goroutine alternates one SDK and one bare send and
//     times each, so both sides share every moment of the round;
//   - goroutine: one new goroutine per send, like `go client.Send(…)` from
//     an HTTP handler;
//   - handler: as goroutine, but each send is given a context that is
//     cancelled when it returns, like an HTTP handler's r.Context(). A
//     cancellable context costs net/http some work on every request, which
//     the SDK pays in every mode but deadline: its per-attempt timeout is one;
//   - deadline: as pool, but each send is given a context with a 10 s
//     timeout, like a job that bounds every call. That deadline comes before
//     the SDK's per-attempt timeout (30 s), so the SDK adds no context of
//     its own.
//
// For pool and goroutine it also prints the median ratio of CPU time (the
// whole process's, client and server: a header the SDK adds costs the
// server too), which scheduling noise moves less than wall time.
//
// It is a measurement, not a check, so it runs only when asked:
//
//	LISA_PAIRED_ROUNDS=30 go test -run TestPaired -v ./bench/
//
// LISA_PAIRED_SENDS sets the sends per side per round (default 1000);
// LISA_PAIRED_MODES, LISA_PAIRED_PAYLOADS and LISA_PAIRED_CONC (comma
// lists) pick rows, e.g. LISA_PAIRED_PAYLOADS=small.
func TestPaired(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("LISA_PAIRED_ROUNDS"))
	if rounds <= 0 {
		t.Skip("a measurement: set LISA_PAIRED_ROUNDS to run it (see bench/compare.sh)")
	}
	sends := 1000
	if n, err := strconv.Atoi(os.Getenv("LISA_PAIRED_SENDS")); err == nil && n > 0 {
		sends = n
	}
	base := loopback()
	sides := sendImpls(newSDK(t, base), newBare(base)) // sdk, bare
	fmt.Printf("paired rounds: %d, sends per side per round: %d\n\n", rounds, sends)
	printPairedHeader()
	for _, m := range pairedModes {
		for _, payload := range pairedPayloads {
			for _, conc := range []int{1, 8} {
				if !picked("LISA_PAIRED_MODES", m.name) || !picked("LISA_PAIRED_PAYLOADS", payload.name) ||
					!picked("LISA_PAIRED_CONC", strconv.Itoa(conc)) {
					continue
				}
				row, err := pairRounds(rounds, func(r int) (pairSample, error) {
					return m.run(sides[0], sides[1], r%2 == 1, conc, sends, payload.p)
				})
				if err != nil {
					t.Fatal(err)
				}
				row.print(m.name, payload.name, conc, rounds*sends)
			}
		}
	}
}

// picked reports whether the comma list in the environment variable names
// value; an unset variable picks everything.
func picked(env, value string) bool {
	list := os.Getenv(env)
	return list == "" || slices.Contains(strings.Split(list, ","), value)
}

var pairedPayloads = []struct {
	name string
	p    product
}{{"small", small}, {"large", large}}

// pairSample is one round: the time (and, where the sides ran apart, the
// CPU time) of each side, a first and b second in the table.
type pairSample struct {
	wall, cpu [2]time.Duration
}

// pairedMode is one way of calling: run measures a and b once each, b
// first when swap is set.
type pairedMode struct {
	name string
	run  func(a, b sendImpl, swap bool, conc, sends int, p product) (pairSample, error)
}

var pairedModes = []pairedMode{
	{"pool", func(a, b sendImpl, swap bool, conc, sends int, p product) (pairSample, error) {
		return backToBack(a, b, swap, func(fn sendFunc) (time.Duration, error) { return pool(conc, sends, p, 0, fn) })
	}},
	{"interleave", func(a, b sendImpl, swap bool, conc, sends int, p product) (pairSample, error) {
		if swap {
			a, b = b, a
		}
		d, err := interleave(conc, sends, p, a.fn, b.fn)
		if swap {
			d[0], d[1] = d[1], d[0]
		}
		return pairSample{wall: d}, err
	}},
	{"goroutine", func(a, b sendImpl, swap bool, conc, sends int, p product) (pairSample, error) {
		return backToBack(a, b, swap, func(fn sendFunc) (time.Duration, error) { return perSendGoroutine(conc, sends, p, false, fn) })
	}},
	{"handler", func(a, b sendImpl, swap bool, conc, sends int, p product) (pairSample, error) {
		return backToBack(a, b, swap, func(fn sendFunc) (time.Duration, error) { return perSendGoroutine(conc, sends, p, true, fn) })
	}},
	{"deadline", func(a, b sendImpl, swap bool, conc, sends int, p product) (pairSample, error) {
		return backToBack(a, b, swap, func(fn sendFunc) (time.Duration, error) { return pool(conc, sends, p, 10*time.Second, fn) })
	}},
}

// pairedRow summarises the rounds of one row.
type pairedRow struct {
	wall, cpu  []float64 // a ÷ b per round, sorted
	slower     int       // rounds in which a took longer
	aSum, bSum time.Duration
}

// pairRounds runs measure for each round and collects the ratios.
func pairRounds(rounds int, measure func(round int) (pairSample, error)) (pairedRow, error) {
	var row pairedRow
	for r := 0; r < rounds; r++ {
		s, err := measure(r)
		if err != nil {
			return row, err
		}
		row.wall = append(row.wall, float64(s.wall[0])/float64(s.wall[1]))
		if s.cpu[1] > 0 {
			row.cpu = append(row.cpu, float64(s.cpu[0])/float64(s.cpu[1]))
		}
		row.aSum += s.wall[0]
		row.bSum += s.wall[1]
		if s.wall[0] > s.wall[1] {
			row.slower++
		}
	}
	slices.Sort(row.wall)
	slices.Sort(row.cpu)
	return row, nil
}

func printPairedHeader() {
	fmt.Println("| mode | payload | conc | ÷ bare, median | 95% CI of median | IQR | rounds slower | CPU ÷ bare, median | µs/send | bare µs/send |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
}

func (row pairedRow) print(mode, payload string, conc, sends int) {
	lo, hi := medianCI(row.wall)
	cpu := "–"
	if len(row.cpu) > 0 {
		cpu = fmt.Sprintf("%.3f", quantile(row.cpu, 0.5))
	}
	perSend := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(sends) }
	fmt.Printf("| %s | %s | %d | %.3f | %.3f–%.3f | %.3f–%.3f | %d of %d | %s | %.1f | %.1f |\n", mode, payload, conc,
		quantile(row.wall, 0.5), lo, hi, quantile(row.wall, 0.25), quantile(row.wall, 0.75), row.slower, len(row.wall),
		cpu, perSend(row.aSum), perSend(row.bSum))
}

// sendFunc is one side's send.
type sendFunc func(context.Context, any) error

// backToBack measures a and then b (b first if swap), wall and CPU time.
func backToBack(a, b sendImpl, swap bool, measure func(sendFunc) (time.Duration, error)) (pairSample, error) {
	var s pairSample
	order := []int{0, 1}
	if swap {
		order = []int{1, 0}
	}
	for _, i := range order {
		side := []sendImpl{a, b}[i]
		cpu0 := processCPU()
		d, err := measure(side.fn)
		if err != nil {
			return s, fmt.Errorf("%s: %w", side.name, err)
		}
		s.wall[i], s.cpu[i] = d, processCPU()-cpu0
	}
	return s, nil
}

// pool makes sends calls of fn from conc goroutines and returns how long
// they took together. With a timeout, each call gets a context of its own
// that ends after it.
func pool(conc, sends int, p product, timeout time.Duration, fn sendFunc) (time.Duration, error) {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(sends) {
				if err := callWithin(timeout, p, fn); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), loadErr(&failed)
}

// callWithin calls fn with a context that ends after timeout, or with
// context.Background() for a timeout of 0.
func callWithin(timeout time.Duration, p product, fn sendFunc) error {
	if timeout == 0 {
		return fn(context.Background(), p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return fn(ctx, p)
}

// perSendGoroutine starts one goroutine per send, at most conc at a time.
// With cancellable, each send gets a context of its own that is cancelled
// when it returns, as an HTTP handler's r.Context() is.
func perSendGoroutine(conc, sends int, p product, cancellable bool, fn sendFunc) (time.Duration, error) {
	var failed atomic.Value
	var wg sync.WaitGroup
	slots := make(chan struct{}, conc)
	start := time.Now()
	for range sends {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			ctx := context.Background()
			if cancellable {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			if err := fn(ctx, p); err != nil {
				failed.Store(err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start), loadErr(&failed)
}

// interleave has conc goroutines each alternate one call of a and one of b
// (which goes first alternating too), timing each call; it returns the
// summed time of each side.
func interleave(conc, sends int, p product, a, b sendFunc) ([2]time.Duration, error) {
	var ta, tb atomic.Int64
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	timed := func(fn sendFunc, into *atomic.Int64) error {
		start := time.Now()
		err := fn(context.Background(), p)
		into.Add(int64(time.Since(start)))
		return err
	}
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(sends); i = next.Add(1) {
				first, second, tf, ts := a, b, &ta, &tb
				if i%2 == 0 {
					first, second, tf, ts = b, a, &tb, &ta
				}
				if err := timed(first, tf); err != nil {
					failed.Store(err)
					return
				}
				if err := timed(second, ts); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return [2]time.Duration{time.Duration(ta.Load()), time.Duration(tb.Load())}, loadErr(&failed)
}

func loadErr(v *atomic.Value) error {
	err, _ := v.Load().(error)
	return err
}

// quantile returns the q-quantile of sorted values, interpolating linearly.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// medianCI returns a confidence interval of at least 95% for the median of
// the population the sorted values came from: the order statistics whose
// ranks a Binomial(n, ½) count leaves outside with at most 2.5% on each side
// (the sign-test interval; it assumes nothing about the distribution).
func medianCI(sorted []float64) (lo, hi float64) {
	n := len(sorted)
	if n == 0 {
		return 0, 0
	}
	// k is the largest count with P(Binomial(n, ½) < k) ≤ 2.5%.
	k, below := 0, 0.0
	for {
		p := math.Exp(lgammaInt(n+1) - lgammaInt(k+1) - lgammaInt(n-k+1) - float64(n)*math.Ln2)
		if below+p > 0.025 {
			break
		}
		below += p
		k++
	}
	if k == 0 { // too few rounds for 95%: the whole range
		return sorted[0], sorted[n-1]
	}
	return sorted[k-1], sorted[n-k]
}

func lgammaInt(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}
