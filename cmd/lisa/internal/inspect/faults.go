package inspect

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hello-lisa/lisa-go/lisatest"
)

// faultRequest is what POST /api/faults takes.
type faultRequest struct {
	// Kind is one of 500, 503, 429, 413, drop, delay.
	Kind string `json:"kind"`
	// Count is how many of the next requests get the fault; 0 means 1.
	Count int `json:"count"`
	// RetryAfter is the Retry-After in seconds sent with 503 and 429
	// (default 1).
	RetryAfter *int `json:"retryAfter,omitempty"`
	// Delay is how long "delay" waits before answering as the checks say,
	// as a Go duration (default "2s").
	Delay string `json:"delay,omitempty"`
}

// Bounds on what POST /api/faults accepts, so that a typo cannot hang the
// server for an hour.
const (
	maxFaultCount = 1000
	maxRetryAfter = 3600
	maxDelay      = 5 * time.Minute
)

// faultKinds lists the kinds in the order the page offers them.
var faultKinds = []string{"503", "500", "429", "413", "drop", "delay"}

// toFault checks fr and returns the lisatest fault it asks for.
func (fr faultRequest) toFault() (lisatest.Fault, error) {
	if fr.Count < 0 || fr.Count > maxFaultCount {
		return lisatest.Fault{}, fmt.Errorf("lisa: count is %d, want 1 to %d", fr.Count, maxFaultCount)
	}
	retryAfter := 1
	if fr.RetryAfter != nil {
		retryAfter = *fr.RetryAfter
		if retryAfter < 0 || retryAfter > maxRetryAfter {
			return lisatest.Fault{}, fmt.Errorf("lisa: retryAfter is %d, want 0 to %d seconds", retryAfter, maxRetryAfter)
		}
	}
	switch fr.Kind {
	case "500":
		return lisatest.Fault{Status: http.StatusInternalServerError, Kind: "500"}, nil
	case "503":
		return lisatest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: strconv.Itoa(retryAfter), Kind: "503"}, nil
	case "429":
		return lisatest.Fault{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(retryAfter), Kind: "429"}, nil
	case "413":
		return lisatest.Fault{Status: http.StatusRequestEntityTooLarge, Kind: "413"}, nil
	case "drop":
		return lisatest.Fault{Drop: true, Kind: "drop"}, nil
	case "delay":
		d := 2 * time.Second
		if fr.Delay != "" {
			var err error
			if d, err = time.ParseDuration(fr.Delay); err != nil || d <= 0 || d > maxDelay {
				return lisatest.Fault{}, fmt.Errorf("lisa: delay must be a duration up to %s, such as \"2s\"", maxDelay)
			}
		}
		return lisatest.Fault{Delay: d, Kind: "delay " + d.String()}, nil
	}
	return lisatest.Fault{}, fmt.Errorf("lisa: kind must be one of %v", faultKinds)
}

// faultQueue holds the faults queued from the page or the API. It hands them
// to the lisatest handler one at a time, as each request arrives, so that
// the queue can be shown and cleared.
type faultQueue struct {
	mu      sync.Mutex
	pending []pendingFault
	version int64 // counts changes, so that the page can drop a stale state
}

type pendingFault struct {
	fault lisatest.Fault
	left  int
}

// faultState is what GET /api/faults answers.
type faultState struct {
	Pending []pendingView `json:"pending"` // in the order they will apply
	Kinds   []string      `json:"kinds"`
	Version int64         `json:"version"` // grows with every change
}

type pendingView struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

func (q *faultQueue) add(f lisatest.Fault, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.version++
	if k := len(q.pending); k > 0 && q.pending[k-1].fault == f {
		q.pending[k-1].left += n
		return
	}
	q.pending = append(q.pending, pendingFault{f, n})
}

func (q *faultQueue) clear() {
	q.mu.Lock()
	q.pending = nil
	q.version++
	q.mu.Unlock()
}

// next takes the next fault, if any.
func (q *faultQueue) next() (lisatest.Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return lisatest.Fault{}, false
	}
	f := q.pending[0].fault
	q.version++
	if q.pending[0].left--; q.pending[0].left == 0 {
		q.pending = q.pending[1:]
	}
	return f, true
}

func (q *faultQueue) state() faultState {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := faultState{Pending: []pendingView{}, Kinds: faultKinds, Version: q.version}
	for _, p := range q.pending {
		st.Pending = append(st.Pending, pendingView{p.fault.Kind, p.left})
	}
	return st
}
