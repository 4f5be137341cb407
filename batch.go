package lisa

import (
	"context"
	"fmt"
	"iter"
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
	// Body is the payload's encoded bytes, exactly what was (or would have
	// been) sent, so that a failed one can be sent again or logged; nil
	// when the payload was invalid.
	Body []byte
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

// SendAll sends every payload, at most WithConcurrency at a time, and returns
// exactly one Result per payload, in input order.
//
// Payloads that were not sent carry a *SendError with Attempts 0 and the
// reason: when ctx ends, ctx's error; after an answer that FailsEveryRequest
// (401, 403, 404), which every other request would get too, SendAll starts
// no new sends and the rest match that answer's sentinel. Invalid payloads
// are reported as such in any case.
//
// A panic in a payload's MarshalJSON (or other user code run by a send) does
// not crash the program from SendAll's goroutines: SendAll stops starting
// sends, waits for those in flight, and panics in the caller's goroutine
// with a *GoroutinePanic that holds the value and the original stack. User
// code must not call runtime.Goexit (t.FailNow) on these goroutines.
func (c *Client) SendAll(ctx context.Context, payloads []any) []Result {
	results := make([]Result, len(payloads))
	if err := c.usable(ctx, "SendAll"); err != nil {
		for i := range payloads {
			results[i] = Result{Index: i, Err: err}
		}
		return results
	}
	b := &batch{c: c}
	var next atomic.Int64 // the index of the next payload to take
	var workers sync.WaitGroup
	for range min(c.cfg.concurrency, len(payloads)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			defer b.recoverPanic()
			for i := int(next.Add(1) - 1); i < len(payloads) && b.panic.Load() == nil; i = int(next.Add(1) - 1) {
				body, err := encode(payloads[i])
				results[i] = b.send(ctx, i, body, err)
			}
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
// which suits reading a large file line by line. Each payload is encoded
// (a []byte copied) before the next is read, so a sequence may reuse its
// buffer, as bufio.Scanner.Bytes does.
//
// The sequence is read from another goroutine. When ctx ends, or after an
// answer that FailsEveryRequest, the rest of the sequence is still read and
// each payload yields a *SendError with Attempts 0 (see SendAll), so every
// input is accounted for. Stopping the range loop early cancels the sends
// in flight, stops reading the sequence and drops their results; SendSeq
// returns only after its goroutines have ended, the one reading the
// sequence included. A panic in the sequence or in a payload's MarshalJSON
// stops the batch and is raised again in the goroutine ranging over
// SendSeq, as SendAll does.
func (c *Client) SendSeq(ctx context.Context, payloads iter.Seq[any]) iter.Seq[Result] {
	return func(yield func(Result) bool) {
		if payloads == nil {
			return
		}
		if err := c.usable(ctx, "SendSeq"); err != nil {
			yield(Result{Err: err})
			return
		}
		n := c.cfg.concurrency
		inner, cancel := context.WithCancel(ctx)
		b := &batch{c: c}
		defer b.repanic()           // after the cleanup below, in the caller's goroutine
		quit := make(chan struct{}) // closed to stop the feeder
		type job struct {
			index int
			body  []byte
			err   error
		}
		jobs := make(chan job, n) // the feeder reads ahead by at most n payloads
		out := make(chan Result, n)
		var workers sync.WaitGroup
		for range n {
			workers.Add(1)
			go func() {
				defer workers.Done()
				defer b.recoverPanic()
				for j := range jobs {
					out <- b.send(inner, j.index, j.body, j.err)
				}
			}()
		}
		go func() { // the feeder: the only reader of the sequence
			defer close(jobs)
			defer b.recoverPanic()
			i := 0
			for p := range payloads {
				body, err := encode(p) // before the sequence reuses p's bytes
				select {
				case jobs <- job{i, body, err}:
					i++
				case <-quit:
					return
				}
			}
		}()
		go func() {
			workers.Wait() // the workers end after the feeder closes jobs
			close(out)
		}()
		// However the loop ends (a break, a panic or runtime.Goexit in its
		// body), stop reading, cancel the sends in flight and wait for
		// every goroutine.
		defer func() {
			close(quit)
			cancel()
			for range out { // the workers finish; then out is closed
			}
		}()
		for r := range out {
			if b.panic.Load() != nil || !yield(r) {
				return
			}
		}
	}
}

// batch is what the goroutines of one SendAll or SendSeq share.
type batch struct {
	c       *Client
	stopped atomic.Pointer[error]          // an answer that FailsEveryRequest: send no more
	panic   atomic.Pointer[GoroutinePanic] // the first panic of user code
}

// send sends one encoded payload. An invalid payload is reported as such
// even when the batch has stopped sending.
func (b *batch) send(ctx context.Context, i int, body []byte, err error) Result {
	r := Result{Index: i, Body: body}
	switch {
	case err != nil:
		r.Err = err
	case ctx.Err() != nil:
		r.Err = &SendError{Err: ctx.Err()}
	case b.stopped.Load() != nil:
		r.Err = &SendError{Err: *b.stopped.Load()}
	default:
		r.Receipt, r.Err = b.c.send(ctx, body, nil)
		if FailsEveryRequest(r.Err) {
			stop := stoppedBy(r.Err, "the batch stopped sending")
			b.stopped.CompareAndSwap(nil, &stop)
		}
	}
	return r
}

// recoverPanic, deferred in each goroutine, keeps the first panic, which
// stops the batch.
func (b *batch) recoverPanic() {
	if v := recover(); v != nil {
		b.panic.CompareAndSwap(nil, &GoroutinePanic{Value: v, Stack: debug.Stack()})
	}
}

// repanic raises, in the caller's goroutine, a panic kept by recoverPanic.
func (b *batch) repanic() {
	if p := b.panic.Load(); p != nil {
		panic(p)
	}
}

// GoroutinePanic is the value SendAll and SendSeq panic with, in the
// caller's goroutine, when user code (a MarshalJSON, the sequence) panicked
// in one of theirs; and the error a Queue reports for a panic in user code
// it ran (a transport, Spill, OnResult).
type GoroutinePanic struct {
	// Value is what the code panicked with.
	Value any
	// Stack is the stack of the goroutine that panicked.
	Stack []byte
}

// Error gives the value and the original stack.
func (p *GoroutinePanic) Error() string {
	return fmt.Sprintf("lisa: panic in user code: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns Value when it is an error.
func (p *GoroutinePanic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}
