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
// calls it when the job runs (on SQLite once more after LiSA accepted the
// notification, to see whether the product changed meanwhile).
//
// The payload is sent as lisa.Client.Send sends it: a []byte or
// json.RawMessage as is, anything else encoded with encoding/json. It must
// depend only on the stored product: a field that differs on every call (the
// current time, a random id) makes every check see a change and the job send
// again and again. An error is retried by River with its backoff; return
// river.JobCancel(err) to drop the job instead (for a product that no longer
// exists, say). A job that names a plugin is loaded by the same Loader: put
// the plugin in the key when products differ per plugin.
type Loader func(ctx context.Context, key string) (payload any, err error)

// Worker delivers NotifyArgs jobs: it loads the product's payload and sends
// it; when the product was updated meanwhile, the job runs again (see the
// package documentation). Register it with
// river.AddWorker(workers, w).
type Worker struct {
	river.WorkerDefaults[NotifyArgs]
	fleet *fleet
	load  Loader
	pool  poolCheck
}

// NewWorker returns a worker that sends with c what load returns. c may be
// nil when WithClients is given and every job names its plugin.
func NewWorker(c *lisa.Client, load Loader, opts ...Option) (*Worker, error) {
	f, err := newFleet(c, opts)
	if err != nil {
		return nil, err
	}
	if load == nil {
		return nil, errors.New("lisa: lisariver.NewWorker: the Loader is nil")
	}
	return &Worker{fleet: f, load: load}, nil
}

func newFleet(c *lisa.Client, opts []Option) (*fleet, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if c == nil && cfg.clients == nil {
		return nil, errors.New("lisa: lisariver: a worker needs a client or WithClients")
	}
	return &fleet{client: c, cfg: cfg}, nil
}

// Work sends the product's current payload and maps the outcome to River's:
// see the package documentation.
func (w *Worker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	if w == nil || w.fleet == nil || w.load == nil {
		return errors.New("lisa: lisariver.Worker needs a client and a loader: use NewWorker")
	}
	key := job.Args.Key
	if key == "" {
		return river.JobCancel(errors.New("lisa: NotifyArgs.Key is empty"))
	}
	d, err := w.fleet.begin(ctx, job.Args.Plugin, job.ID)
	if err != nil {
		return err
	}
	if d.gate != nil && !d.gate.sqlite {
		return w.workVersioned(ctx, job, d)
	}
	if err := w.pool.check(ctx, d.gate); err != nil {
		return err
	}
	body, err := w.body(ctx, d.client, key)
	if err != nil {
		return err
	}
	_, err = d.client.Send(ctx, body)
	if err := w.fleet.end(ctx, d, err); err != nil {
		return err
	}
	if d.gate != nil {
		// One completing transaction of this process at a time: with
		// more, the holders could take every connection of the pool and
		// wait for each other (see gate.writing).
		release, err := d.gate.writing(ctx)
		if err != nil {
			return err // retried: the notification is sent again
		}
		defer release()
	}
	return completeUnlessChanged(ctx, job, func(ctx context.Context) (bool, error) {
		now, err := w.body(ctx, d.client, key)
		if err != nil {
			return false, err
		}
		return !bytes.Equal(now, body), nil
	})
}

// workVersioned is Work on Postgres: it notes the version of the job's row
// before loading the payload, and after LiSA accepted it completes the job
// only if the row is still that version. A newer version means an update of
// the product was skipped as a duplicate of this running job: the job runs
// again at once (river.JobSnooze(0)) and sends the latest state. Updates
// committed before the version was read are in the payload loaded after it.
// The version comes with the admission's statement and the completion shares
// a statement with the process's other jobs (gate.completeIfUnchanged): no
// transaction is held, no second load is needed, and one connection is
// enough.
func (w *Worker) workVersioned(ctx context.Context, job *river.Job[NotifyArgs], d *delivery) error {
	version := d.version
	if version == "" { // not read with the admission (a probe)
		var err error
		if version, err = d.gate.jobVersion(ctx, job.ID); err != nil {
			return err
		}
	}
	body, err := w.body(ctx, d.client, job.Args.Key)
	if err != nil {
		return err
	}
	_, err = d.client.Send(ctx, body)
	if err := w.fleet.end(ctx, d, err); err != nil {
		return err
	}
	done, err := d.gate.completeIfUnchanged(ctx, job.ID, version)
	switch {
	case err != nil:
		return err // retried: the notification is sent again
	case !done:
		return river.JobSnooze(0)
	}
	return nil
}

// body loads the payload for key and encodes it as Send would. A payload
// that can never be sent (invalid, oversize) cancels the job.
func (w *Worker) body(ctx context.Context, c *lisa.Client, key string) ([]byte, error) {
	payload, err := w.load(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lisa: loading %q: %w", key, err)
	}
	p, err := c.Preview(payload)
	if err != nil {
		return nil, river.JobCancel(fmt.Errorf("lisa: payload of %q: %w", key, err))
	}
	return p.Body, nil
}

// SendWorker delivers SendArgs jobs: it sends the body as stored. Register
// it with river.AddWorker(workers, w).
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	fleet *fleet
}

// NewSendWorker returns a worker that sends each SendArgs body with c. c may
// be nil when WithClients is given and every job names its plugin.
func NewSendWorker(c *lisa.Client, opts ...Option) (*SendWorker, error) {
	f, err := newFleet(c, opts)
	if err != nil {
		return nil, err
	}
	return &SendWorker{fleet: f}, nil
}

// Work sends the job's body and maps the outcome to River's: see the package
// documentation.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	if w == nil || w.fleet == nil {
		return errors.New("lisa: lisariver.SendWorker needs a client: use NewSendWorker")
	}
	d, err := w.fleet.begin(ctx, job.Args.Plugin, 0)
	if err != nil {
		return err
	}
	_, err = d.client.Send(ctx, job.Args.Body)
	return w.fleet.end(ctx, d, err)
}
