package lisariver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/riverqueue/river"
)

// fleet is what Worker and SendWorker share: the clients, the options, and
// the gates through which the processes of a fleet share each plugin's
// pause and rate limit.
type fleet struct {
	client *lisa.Client
	cfg    config
	gates  gates
}

// delivery is one run of a job: the client it sends with, its plugin ("" for
// the worker's own client), the gate (nil without a River client) and
// whether it is the probe of a credentials pause.
type delivery struct {
	client *lisa.Client
	plugin string
	gate   *gate
	probe  bool
	// version is the job row's version on Postgres, read with the
	// admission ("" when not read).
	version string
}

// begin finds the job's client and asks the plugin's gate whether it may
// send: it returns a river.JobSnooze error while the plugin is paused or its
// rate used up, and waits for a rate-limit slot less than a second away.
//
// jobID, when not 0, asks for the job row's version too (delivery.version).
func (f *fleet) begin(ctx context.Context, plugin string, jobID int64) (*delivery, error) {
	c := f.client
	if plugin != "" {
		if f.cfg.clients == nil {
			return nil, fmt.Errorf("lisa: the job names plugin %q but the worker has no WithClients", plugin)
		}
		var err error
		if c, err = f.cfg.clients(ctx, plugin); err != nil {
			return nil, fmt.Errorf("lisa: client of plugin %q: %w", plugin, err)
		}
	}
	if c == nil {
		return nil, fmt.Errorf("lisa: no client for plugin %q", plugin)
	}
	d := &delivery{client: c, plugin: plugin, gate: f.gates.from(ctx)}
	if d.gate == nil {
		return d, nil
	}
	a, err := d.gate.admit(ctx, plugin, jobID, f.cfg.limit, f.cfg.probeEvery)
	switch {
	case err != nil:
		return nil, err
	case a.snooze > 0:
		return nil, snooze(a.snooze)
	case a.wait > 0:
		t := time.NewTimer(a.wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	d.probe, d.version = a.probe, a.version
	return d, nil
}

// end maps the Send's result to River's outcome (see outcome) and tells the
// plugin's gate what the answer means for every other job of the plugin.
func (f *fleet) end(ctx context.Context, d *delivery, err error) error {
	// The gate is told even when the job's context has ended (its timeout),
	// so that the fleet learns from the answer the job got.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var apiErr *lisa.APIError
	switch {
	case err == nil || (d.probe && payloadRejected(err)):
		if d.probe { // the credentials work again
			_ = d.gate.resume(gctx, d.plugin) // on failure the next probe resumes
		}
	case lisa.FailsEveryRequest(err):
		if d.gate != nil {
			// Were the pause not recorded, the next job would find out
			// with one more request: the job is kept either way.
			_ = d.gate.pause(gctx, d.plugin, pausedCredentials, f.cfg.probeEvery)
		}
		return snooze(f.cfg.probeEvery)
	case errors.As(err, &apiErr) && apiErr.RetryAfter > 0 && isRetryAfterStatus(apiErr.StatusCode):
		wait := min(apiErr.RetryAfter, MaxSnooze)
		if d.gate != nil {
			_ = d.gate.pause(gctx, d.plugin, pausedRetryAfter, wait)
		}
		return snooze(wait)
	case d.probe: // no word on the credentials: the pause goes on
		_ = d.gate.pause(gctx, d.plugin, pausedCredentials, f.cfg.probeEvery)
	}
	return outcome(ctx, err)
}

// snooze returns river.JobSnooze for d, bounded by MaxSnooze, plus up to a
// tenth more at random (still within MaxSnooze), so that a backlog paused at
// once does not wake in one instant.
func snooze(d time.Duration) error {
	d = min(d, MaxSnooze)
	d += rand.N(d/10 + 1)
	return river.JobSnooze(min(d, MaxSnooze))
}

// poolCheck remembers whether the database pool gave a second connection
// while one was held, as completing a NotifyArgs job on SQLite needs: the
// answer does not change, so each worker asks once.
type poolCheck struct {
	ok      atomic.Bool
	refused atomic.Pointer[error]
}

// poolCheckTimeout is how long the check waits for a second connection.
const poolCheckTimeout = 3 * time.Second

// check makes sure, once per worker, that a second connection can be had
// while a query holds one, before anything is sent: with one connection
// (riversqlite's suggested SetMaxOpenConns(1)) completing a job would wait
// for itself forever. It returns an error that says so instead.
func (p *poolCheck) check(ctx context.Context, g *gate) error {
	if g == nil || p.ok.Load() {
		return nil
	}
	if err := p.refused.Load(); err != nil {
		return *err
	}
	// A row not yet scanned holds its connection; a read takes no lock.
	held := g.exec.QueryRow(ctx, "SELECT 1")
	var one int
	defer held.Scan(&one) //nolint:errcheck // only releases the connection
	cctx, cancel := context.WithTimeout(ctx, poolCheckTimeout)
	defer cancel()
	if err := g.exec.QueryRow(cctx, "SELECT 1").Scan(&one); err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			err := errors.New("lisa: lisariver.Worker needs a database pool of at least two connections: " +
				"on SQLite it loads the payload again while a transaction holds one; the pool gave no second connection within " +
				poolCheckTimeout.String() + " (use SetMaxOpenConns(2) or more, not 1)")
			p.refused.Store(&err)
			return err
		}
		return fmt.Errorf("lisa: checking the database pool: %w", err)
	}
	p.ok.Store(true)
	return nil
}
