package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPaired compares Client.Send with the bare baseline in paired rounds:
// within a round both sides run back to back (their order alternating from
// round to round), so background load hits both alike, and each round gives
// one SDK ÷ bare ratio. It prints the median ratio, its interquartile range
// and in how many rounds the SDK was the slower, for three ways of calling:
//
//   - pool: a fixed pool of goroutines sends, like SendAll or a worker pool;
//   - interleave: each goroutine alternates one SDK and one bare send and
//     times each, so both sides share every moment of the round;
//   - goroutine: one new goroutine per send, like `go client.Send(…)` from
//     an HTTP handler.
//
// It is a measurement, not a check, so it runs only when asked:
//
//	LISA_PAIRED_ROUNDS=30 go test -run TestPaired -v ./bench/
//
// LISA_PAIRED_SENDS sets the sends per side per round (default 400).
func TestPaired(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("LISA_PAIRED_ROUNDS"))
	if rounds <= 0 {
		t.Skip("a measurement: set LISA_PAIRED_ROUNDS to run it (see bench/compare.sh)")
	}
	sends := 400
	if n, err := strconv.Atoi(os.Getenv("LISA_PAIRED_SENDS")); err == nil && n > 0 {
		sends = n
	}
	base := loopback()
	sdk := newSDK(t, base)
	hand := newBare(base)
	sides := sendImpls(sdk, hand) // sdk, bare
	modes := []struct {
		name string
		// run measures both sides, in the order given, and returns their times
		run func(first, second sendImpl, conc, sends int, p product) ([2]time.Duration, error)
	}{
		{"pool", func(first, second sendImpl, conc, sends int, p product) ([2]time.Duration, error) {
			return backToBack(first, second, func(fn sendFunc) (time.Duration, error) { return pool(conc, sends, p, fn) })
		}},
		{"interleave", func(first, second sendImpl, conc, sends int, p product) ([2]time.Duration, error) {
			return interleave(conc, sends, p, first.fn, second.fn)
		}},
		{"goroutine", func(first, second sendImpl, conc, sends int, p product) ([2]time.Duration, error) {
			return backToBack(first, second, func(fn sendFunc) (time.Duration, error) { return perSendGoroutine(conc, sends, p, fn) })
		}},
	}
	fmt.Printf("paired rounds: %d, sends per side per round: %d\n\n", rounds, sends)
	fmt.Println("| mode | payload | conc | SDK ÷ bare, median | IQR | rounds SDK slower | SDK µs/send | bare µs/send |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, m := range modes {
		for _, payload := range []struct {
			name string
			p    product
		}{{"small", small}, {"large", large}} {
			for _, conc := range []int{1, 8} {
				var ratios []float64
				var sdkTotal, bareTotal time.Duration
				slower := 0
				for r := 0; r < rounds; r++ {
					first, second := sides[0], sides[1] // sdk, bare
					if r%2 == 1 {
						first, second = second, first // alternate who goes first
					}
					d, err := m.run(first, second, conc, sends, payload.p)
					if err != nil {
						t.Fatal(err)
					}
					s, b := d[0], d[1]
					if r%2 == 1 {
						s, b = b, s
					}
					ratios = append(ratios, float64(s)/float64(b))
					sdkTotal += s
					bareTotal += b
					if s > b {
						slower++
					}
				}
				slices.Sort(ratios)
				perSend := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(rounds*sends) }
				fmt.Printf("| %s | %s | %d | %.3f | %.3f–%.3f | %d of %d | %.1f | %.1f |\n", m.name, payload.name, conc,
					quantile(ratios, 0.5), quantile(ratios, 0.25), quantile(ratios, 0.75), slower, rounds,
					perSend(sdkTotal), perSend(bareTotal))
			}
		}
	}
}

// sendFunc is one side's send.
type sendFunc func(context.Context, any) error

// backToBack measures first, then second.
func backToBack(first, second sendImpl, measure func(sendFunc) (time.Duration, error)) ([2]time.Duration, error) {
	var d [2]time.Duration
	for i, s := range []sendImpl{first, second} {
		var err error
		if d[i], err = measure(s.fn); err != nil {
			return d, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return d, nil
}

// pool makes sends calls of fn from conc goroutines and returns how long
// they took together.
func pool(conc, sends int, p product, fn sendFunc) (time.Duration, error) {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(sends) {
				if err := fn(context.Background(), p); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), loadErr(&failed)
}

// perSendGoroutine starts one goroutine per send, at most conc at a time.
func perSendGoroutine(conc, sends int, p product, fn sendFunc) (time.Duration, error) {
	var failed atomic.Value
	var wg sync.WaitGroup
	slots := make(chan struct{}, conc)
	start := time.Now()
	for range sends {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := fn(context.Background(), p); err != nil {
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
