package lisariver

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hello-lisa/lisa-go"
	"github.com/riverqueue/river"
)

// Loader returns the notification payload for key as it is now. The worker
// calls it when the job runs, and once more after LiSA accepted the
// notification to see whether the product changed meanwhile.
//
// The payload is sent as lisa.Client.Send sends it: a []byte or
// json.RawMessage as is, anything else encoded with encoding/json. It must
// depend only on the stored product: a field that differs on every call (the
// current time, a random id) makes every check see a change and the job send
// again and again. An error
// is retried by River with its backoff; return river.JobCancel(err) to drop
// the job instead (for a product that no longer exists, say).
type Loader func(ctx context.Context, key string) (payload any, err error)

// Worker delivers NotifyArgs jobs: it loads the product's payload, sends it
// and, after LiSA accepted it, loads it again; when it changed, the job runs
// again (see the package documentation). Register it with
// river.AddWorker(workers, lisariver.NewWorker(client, load)).
type Worker struct {
	river.WorkerDefaults[NotifyArgs]
	client *lisa.Client
	load   Loader
	// checking lets one job at a time hold its completing transaction while
	// the Loader runs on another connection: with more, the holders could
	// take every connection of a shared pool and wait for each other.
	checking chan struct{}
}

// NewWorker returns a worker that sends with c what load returns.
func NewWorker(c *lisa.Client, load Loader) *Worker {
	return &Worker{client: c, load: load, checking: make(chan struct{}, 1)}
}

// Work sends the product's current payload and maps the outcome to River's:
// see the package documentation.
func (w *Worker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	if w == nil || w.client == nil || w.load == nil || w.checking == nil {
		return errors.New("lisa: lisariver.Worker needs a client and a loader: use NewWorker")
	}
	key := job.Args.Key
	if key == "" {
		return river.JobCancel(errors.New("lisa: NotifyArgs.Key is empty"))
	}
	body, err := w.body(ctx, key)
	if err != nil {
		return err
	}
	if _, err := w.client.Send(ctx, body); err != nil {
		return outcome(ctx, err)
	}
	select {
	case w.checking <- struct{}{}:
		defer func() { <-w.checking }()
	case <-ctx.Done():
		return ctx.Err() // retried: the notification is sent again
	}
	return completeUnlessChanged(ctx, job, func(ctx context.Context) (bool, error) {
		now, err := w.body(ctx, key)
		if err != nil {
			return false, err
		}
		return !bytes.Equal(now, body), nil
	})
}

// body loads the payload for key and encodes it as Send would. A payload
// that can never be sent (invalid, oversize) cancels the job.
func (w *Worker) body(ctx context.Context, key string) ([]byte, error) {
	payload, err := w.load(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lisa: loading %q: %w", key, err)
	}
	p, err := w.client.Preview(payload)
	if err != nil {
		return nil, river.JobCancel(fmt.Errorf("lisa: payload of %q: %w", key, err))
	}
	return p.Body, nil
}

// SendWorker delivers SendArgs jobs: it sends the body as stored. Register it
// with river.AddWorker(workers, lisariver.NewSendWorker(client)).
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	client *lisa.Client
}

// NewSendWorker returns a worker that sends each SendArgs body with c.
func NewSendWorker(c *lisa.Client) *SendWorker {
	return &SendWorker{client: c}
}

// Work sends the job's body and maps the outcome to River's: see the package
// documentation.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	if w == nil || w.client == nil {
		return errors.New("lisa: lisariver.SendWorker needs a client: use NewSendWorker")
	}
	_, err := w.client.Send(ctx, job.Args.Body)
	return outcome(ctx, err)
}
