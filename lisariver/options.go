package lisariver

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/hello-lisa/lisa-go"
)

// MaxSnooze is the longest a job is snoozed for at once: a Retry-After, a
// pause or a probe interval longer than this snoozes the job for MaxSnooze,
// and it looks again then. It is the core's lisa.MaxRetryAfter, so that no
// answer can park a notification for longer than the client would wait.
const MaxSnooze = lisa.MaxRetryAfter

// DefaultProbeInterval is how often, while a plugin's credentials fail,
// one job of the fleet tries again (WithProbeInterval).
const DefaultProbeInterval = 30 * time.Second

// Option configures NewWorker and NewSendWorker.
type Option func(*config) error

// config is what the options set.
type config struct {
	clients    func(ctx context.Context, plugin string) (*lisa.Client, error)
	limit      rateLimit
	probeEvery time.Duration
}

// WithClients serves fleets that deliver for many plugins: a job that names
// its plugin (NotifyArgs.Plugin, SendArgs.Plugin) is sent with the client
// clients returns for that name. The worker calls it for every such job, so
// it should return a client kept for the plugin, not a new one each time.
// An error is retried by River; river.JobCancel(err) cancels the job (a
// plugin that no longer exists, say). A job that names no plugin uses the
// worker's own client.
func WithClients(clients func(ctx context.Context, plugin string) (*lisa.Client, error)) Option {
	return func(c *config) error {
		if clients == nil {
			return errors.New("lisa: WithClients: the function is nil")
		}
		c.clients = clients
		return nil
	}
}

// WithRateLimit limits the requests of every plugin, across every worker
// process that shares the database, to perSecond on average with bursts of
// up to burst requests: the processes reserve slots in the plugin's row of
// lisa_plugin. Give every process of a fleet the same limit. A job whose
// slot is less than a second away waits for it in its worker; a later one
// is snoozed. perSecond 0 turns the limit off, which is the default.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) error {
		switch {
		case math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || perSecond < 0:
			return errors.New("lisa: lisariver.WithRateLimit: perSecond must be a finite number, 0 or more")
		case perSecond > 0 && burst < 1:
			return errors.New("lisa: lisariver.WithRateLimit: burst must be at least 1")
		}
		c.limit = rateLimit{perSecond: perSecond, burst: burst}
		return nil
	}
}

// WithProbeInterval sets how often one job of the fleet tries a plugin
// whose credentials failed (401, 403, 404), while every other job of that
// plugin waits: DefaultProbeInterval by default, at most MaxSnooze.
func WithProbeInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > MaxSnooze {
			return errors.New("lisa: lisariver.WithProbeInterval: the interval must be more than 0 and at most MaxSnooze")
		}
		c.probeEvery = d
		return nil
	}
}

func newConfig(opts []Option) (config, error) {
	cfg := config{probeEvery: DefaultProbeInterval}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
}
