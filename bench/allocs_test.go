package bench

import (
	"context"
	"testing"
)

// TestSendAllocatesLessThanBare holds the goal on allocations: a Send
// makes no more than the careful hand-written sender does for the same
// request (bare.send: a timeout and a request id included), both counted in
// this run (so a Go release that changes net/http moves both sides), over
// an in-memory transport.
func TestSendAllocatesLessThanBare(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random, so counts vary")
	}
	count := func(impl sendImpl) float64 {
		return testing.AllocsPerRun(200, func() {
			if err := impl.fn(context.Background(), small); err != nil {
				t.Fatal(err)
			}
		})
	}
	impls := inMemoryImpls(t)
	sdkAllocs, bareAllocs := count(impls[0]), count(impls[1])
	t.Logf("allocations per send: sdk %.1f, bare %.1f", sdkAllocs, bareAllocs)
	if sdkAllocs > bareAllocs {
		t.Errorf("a Send allocates %.1f times, bare %.1f: want no more", sdkAllocs, bareAllocs)
	}
}
