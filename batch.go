package lisa

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Result is the outcome of one payload of SendAll, SendSeq or a Queue:
// exactly one of Receipt and Err is set.
type Result struct {
	// Index is the payload's position in the input, from 0; for a Queue,
	// the order in which Enqueue and EnqueueKey took it.
	Index int
	// Payload is the payload as given, so a failed one can be retried or
	// logged without keeping the input around.
	Payload any
	// Receipt is set when the notification was accepted.
	Receipt *Receipt
	// Err is set when it was not; see Send for the error types.
	Err error
	// Key is the key given to Queue.EnqueueKey; "" otherwise.
	Key string
	// Spilled reports whether a Queue wrote the payload to its Spill
	// writer (see QueueOptions.Spill).
	Spilled bool
}

// errAfterUnauthorized is the cause given to the payloads a batch did not
// send because an earlier one was answered 401.
var errAfterUnauthorized = fmt.Errorf("%w: an earlier notification of this batch was answered 401, so this one was not sent (check the plugin id, API key and secret)", ErrUnauthorized)

// SendAll sends every payload, at most WithConcurrency at a time, and returns
// exactly one Result per payload, in input order.
//
// Payloads that were not sent carry a *SendError matching ErrNotSent and the
// reason: when ctx ends, ctx's error; after a 401 answer, which every other
// request would get too, SendAll starts no new sends and the rest match
// ErrUnauthorized. Invalid payloads are reported as such in any case.
//
// A panic in a payload's MarshalJSON (or other user code run by a send) does
// not crash the program from SendAll's goroutines: SendAll stops starting
// sends, waits for those in flight, and panics in the caller's goroutine
// with an error that wraps the value and holds the original stack. A
// runtime.Goexit there (t.FailNow in a MarshalJSON) is repeated in the
// caller's goroutine the same way.
func (c *Client) SendAll(ctx context.Context, payloads []any) []Result {
	results := make([]Result, len(payloads))
	if err := c.usable(ctx, "SendAll"); err != nil {
		for i, p := range payloads {
			results[i] = Result{Index: i, Payload: p, Err: err}
		}
		return results
	}
	b := &batch{c: c}
	// The slice is already in memory, so the workers take indices from a
	// counter and write their results in place: no channel hand-offs.
	var next atomic.Int64
	var workers sync.WaitGroup
	for range min(c.concurrency(), len(payloads)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			returned := false
			defer func() { b.recoverPanic(recover(), returned) }()
			for i := int(next.Add(1) - 1); i < len(payloads) && !b.panicked(); i = int(next.Add(1) - 1) {
				results[i] = b.send(ctx, i, payloads[i])
			}
			returned = true
		}()
	}
	workers.Wait()
	b.repanic()
	return results
}

// SendSeq sends the payloads of a sequence as it is read, at most
// WithConcurrency at a time, and yields exactly one Result per payload as
// each finishes (so not in input order: Result.Index says which it was).
// Memory stays bounded by the concurrency, whatever the sequence's length,
// which suits reading a large file line by line.
//
// The sequence is read from another goroutine, one payload at a time. When
// ctx ends, or after a 401 answer, the rest of the sequence is still read
// and each payload yields a *SendError matching ErrNotSent (see SendAll), so
// every input is accounted for. Stopping the range loop early cancels the
// sends in flight, stops reading the sequence and drops their results;
// SendSeq returns only after its goroutines have ended, which includes the
// one reading the sequence: a sequence blocked waiting for input (a
// channel nobody writes to any more) holds an early break until it yields
// or returns. A panic in the
// sequence or in a payload's MarshalJSON stops the batch the same way and is
// raised again in the goroutine ranging over SendSeq, as SendAll does; so
// is a runtime.Goexit.
func (c *Client) SendSeq(ctx context.Context, payloads iter.Seq[any]) iter.Seq[Result] {
	return func(yield func(Result) bool) {
		if payloads == nil {
			return
		}
		if err := c.usable(ctx, "SendSeq"); err != nil {
			yield(Result{Err: err})
			return
		}
		n := c.concurrency()
		inner, cancel := context.WithCancel(ctx)
		b := &batch{c: c, cancel: cancel, quit: make(chan struct{})}
		type job struct {
			index   int
			payload any
		}
		jobs := make(chan job, n) // the feeder reads ahead by at most n payloads
		out := make(chan Result, n)
		var workers sync.WaitGroup
		for range n {
			workers.Add(1)
			go func() {
				defer workers.Done()
				returned := false
				defer func() { b.recoverPanic(recover(), returned) }()
				for j := range jobs {
					out <- b.send(inner, j.index, j.payload)
				}
				returned = true
			}()
		}
		go func() { // the feeder: the only reader of the sequence
			defer close(jobs)
			returned := false
			defer func() { b.recoverPanic(recover(), returned) }()
			i := 0
			for p := range payloads {
				select {
				case jobs <- job{i, p}:
					i++
				case <-b.quit:
					returned = true
					return
				}
			}
			returned = true
		}()
		go func() {
			workers.Wait() // the workers end after the feeder closes jobs
			close(out)
		}()
		func() {
			defer func() {
				b.stop()
				for range out { // let the workers finish, then out is closed
				}
			}()
			for r := range out {
				if b.panicked() || !yield(r) {
					return
				}
			}
		}()
		b.repanic()
	}
}

// usable checks what every send needs: a Client made by NewClient and a
// context.
func (c *Client) usable(ctx context.Context, method string) error {
	if c == nil || c.retry == nil {
		return fmt.Errorf("lisa: %s on a nil or zero Client; use NewClient", method)
	}
	if ctx == nil {
		return fmt.Errorf("lisa: %s: ctx is nil", method)
	}
	return nil
}

// concurrency is WithConcurrency's value.
func (c *Client) concurrency() int { return c.cfg.concurrency }

// batch is what the goroutines of one SendAll or SendSeq share.
type batch struct {
	c            *Client
	unauthorized atomic.Bool                    // a 401 was answered: send no more
	panic        atomic.Pointer[GoroutinePanic] // the first panic of user code
	goexit       atomic.Bool                    // user code called runtime.Goexit
	cancel       context.CancelFunc             // SendSeq: ends the sends in flight
	quit         chan struct{}                  // SendSeq: closed to stop the feeder
	stopOnce     sync.Once
}

// send checks and sends one payload. An invalid payload is reported as such
// even when the batch has stopped sending.
func (b *batch) send(ctx context.Context, i int, payload any) Result {
	r := Result{Index: i, Payload: payload}
	body, err := encode(payload)
	switch {
	case err != nil:
		r.Err = err
	case ctx.Err() != nil:
		r.Err = &SendError{Err: ctx.Err()}
	case b.unauthorized.Load():
		r.Err = &SendError{Err: errAfterUnauthorized}
	default:
		r.Receipt, r.Err = b.c.send(ctx, body)
		var apiErr *APIError
		if errors.As(r.Err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized {
			b.unauthorized.Store(true)
		}
	}
	return r
}

// recoverPanic, called with recover() by a deferred function in each
// goroutine, keeps the first panic and stops the batch. returned tells a
// goroutine that ended normally from one ended by runtime.Goexit in user
// code (t.FailNow in a MarshalJSON, say), which recover does not see; that
// too stops the batch, or its payload's result would be lost without a word.
func (b *batch) recoverPanic(v any, returned bool) {
	if v != nil {
		b.panic.CompareAndSwap(nil, &GoroutinePanic{Value: v, Stack: debug.Stack()})
		b.stop()
	} else if !returned {
		b.goexit.Store(true)
		b.stop()
	}
}

func (b *batch) panicked() bool { return b.panic.Load() != nil || b.goexit.Load() }

// stop ends SendSeq's feeder and the sends in flight; SendAll has neither.
func (b *batch) stop() {
	b.stopOnce.Do(func() {
		if b.quit != nil {
			close(b.quit)
		}
		if b.cancel != nil {
			b.cancel()
		}
	})
}

// repanic raises, in the caller's goroutine, a panic kept by recoverPanic,
// or repeats a runtime.Goexit there (as golang.org/x/sync/singleflight
// does), so that a t.FailNow ends the test that called SendAll.
func (b *batch) repanic() {
	if p := b.panic.Load(); p != nil {
		panic(p)
	}
	if b.goexit.Load() {
		runtime.Goexit()
	}
}

// GoroutinePanic is the value SendAll and SendSeq panic with, in the
// caller's goroutine, when user code (a MarshalJSON, the sequence) panicked
// in one of theirs.
type GoroutinePanic struct {
	// Value is what the code panicked with.
	Value any
	// Stack is the stack of the goroutine that panicked.
	Stack []byte
}

// Error gives the value and the original stack.
func (p *GoroutinePanic) Error() string {
	return fmt.Sprintf("lisa: panic in a send goroutine: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns Value when it is an error.
func (p *GoroutinePanic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}
