package lisa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// attemptTransport bounds each attempt by the per-attempt timeout. It does
// not expose CloseIdleConnections, so retryablehttp's habit of closing all
// idle connections after a failed request does not reach a transport that
// other sends share.
type attemptTransport struct {
	base  http.RoundTripper
	watch *attemptWatch
}

// RoundTrip runs one attempt under the per-attempt timeout, which keeps
// running until the answer's body is closed.
func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= t.watch.timeout && ctx.Done() != nil {
		// The caller's context ends first, so it bounds the attempt already;
		// a context of our own would only add a level of cancellation that
		// net/http pays for on every request. (A context whose Done is nil
		// never ends, whatever its Deadline says.)
		resp, err := t.base.RoundTrip(req)
		return t.keptContract(resp, err)
	}
	ctx, a := t.watch.start(ctx)
	resp, err := t.keptContract(t.base.RoundTrip(req.WithContext(ctx)))
	if err != nil {
		t.watch.done(a)
		var timeout *attemptTimeoutError
		if errors.As(context.Cause(ctx), &timeout) {
			err = timeout // say "timed out", not "context canceled"
		}
		return nil, err
	}
	a.body = resp.Body
	resp.Body = a // closing the body ends the attempt
	return resp, nil
}

// keptContract holds the base transport's answer to the RoundTripper
// contract, which mock transports in users' tests break. It is called after
// the base returns, not around it, so that it adds no frame to the deepest
// stack of a Send.
func (t *attemptTransport) keptContract(resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return nil, err
	}
	if resp == nil { // as net/http's Client says of such a RoundTripper
		return nil, fmt.Errorf("lisa: RoundTripper %T returned a nil *http.Response with a nil error", t.base)
	}
	if resp.Body == nil { // net/http's Client would fill it in after us
		resp.Body = http.NoBody
	}
	return resp, nil
}

// attemptTimeoutError is the cause of an attempt cancelled by its timeout.
// It is a net.Error whose Timeout is true, and it matches
// context.DeadlineExceeded, like the error of a context.WithTimeout.
type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("lisa: attempt timed out after %s", e.after)
}
func (e *attemptTimeoutError) Timeout() bool   { return true }
func (e *attemptTimeoutError) Temporary() bool { return true }
func (e *attemptTimeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded
}

// attemptWatch enforces the per-attempt timeout of every attempt of a
// Client with one timer, instead of a context.WithTimeout per attempt. Each
// new runtime timer wakes the thread parked in the network poller (a
// syscall and a thread wake-up on the latency path of every send, measured at
// about 6% of a loopback round trip). All attempts share one timeout, so
// their deadlines come in the order they start: the in-flight attempts are
// kept in a list in that order, and the timer is armed for the first one's
// deadline. Starting and ending an attempt only touch the list.
type attemptWatch struct {
	timeout time.Duration

	mu         sync.Mutex
	head, tail *attempt // in-flight attempts, oldest first
	timer      *time.Timer
	armed      bool // the timer will fire
}

// attempt is one in-flight attempt, a node of the watch's list. Once the
// answer has come, it stands in for the answer's body, so that closing the
// body ends the attempt.
type attempt struct {
	deadline   time.Time
	cancel     context.CancelCauseFunc
	prev, next *attempt
	linked     bool
	watch      *attemptWatch
	body       io.ReadCloser
}

// Read reads the answer's body.
func (a *attempt) Read(p []byte) (int, error) { return a.body.Read(p) }

// Close closes the answer's body and ends the attempt.
func (a *attempt) Close() error {
	err := a.body.Close()
	a.watch.done(a)
	return err
}

func newAttemptWatch(timeout time.Duration) *attemptWatch {
	return &attemptWatch{timeout: timeout}
}

// start begins an attempt: its context is cancelled, with an
// *attemptTimeoutError as cause, when the timeout passes before done.
func (w *attemptWatch) start(parent context.Context) (context.Context, *attempt) {
	ctx, cancel := context.WithCancelCause(parent)
	a := &attempt{deadline: time.Now().Add(w.timeout), cancel: cancel, watch: w}
	w.mu.Lock()
	a.linked, a.prev = true, w.tail
	if w.tail != nil {
		w.tail.next = a
	} else {
		w.head = a
	}
	w.tail = a
	if !w.armed { // an armed timer fires no later than this deadline
		w.armed = true
		if w.timer == nil {
			w.timer = time.AfterFunc(w.timeout, w.fire)
		} else {
			w.timer.Reset(w.timeout)
		}
	}
	w.mu.Unlock()
	return ctx, a
}

// done ends an attempt and releases its context. It may be called twice.
func (w *attemptWatch) done(a *attempt) {
	w.mu.Lock()
	w.unlink(a)
	w.mu.Unlock()
	a.cancel(nil)
}

func (w *attemptWatch) unlink(a *attempt) {
	if !a.linked {
		return
	}
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		w.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		w.tail = a.prev
	}
	a.prev, a.next, a.linked = nil, nil, false
}

// fire cancels the attempts whose deadline has passed and re-arms the timer
// for the oldest one left; with none left, the timer rests until the next
// start.
func (w *attemptWatch) fire() {
	now := time.Now()
	var expired []*attempt
	w.mu.Lock()
	for w.head != nil && !w.head.deadline.After(now) {
		a := w.head
		w.unlink(a)
		expired = append(expired, a)
	}
	if w.head != nil {
		w.timer.Reset(w.head.deadline.Sub(now))
	} else {
		w.armed = false
	}
	w.mu.Unlock()
	for _, a := range expired {
		a.cancel(&attemptTimeoutError{after: w.timeout})
	}
}
