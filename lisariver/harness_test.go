package lisariver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

const (
	pluginID = "plugin-1"
	apiKey   = "key-1"
	secret   = "secret-1"
)

// backend is one database with River migrated and a products table
// (id, payload): SQLite or Postgres. TTx is the driver's transaction type.
type backend[TTx any] struct {
	driver riverdriver.Driver[TTx]
	// update sets the product's payload and, when insert is not nil, inserts
	// that job in the same transaction, which commits or rolls back.
	update func(ctx context.Context, key, payload string, insert river.JobArgs, commit bool) (*rivertype.JobInsertResult, error)
	// load reads the product's payload as a json.RawMessage.
	load lisariver.Loader
}

// newLisa returns a lisatest server and a client for it that retries fast.
func newLisa(t testing.TB, opts ...lisa.Option) (*lisatest.Server, *lisa.Client) {
	t.Helper()
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	t.Cleanup(srv.Close)
	opts = append([]lisa.Option{lisa.WithBaseURL(srv.URL), lisa.WithBackoff(time.Millisecond, 10*time.Millisecond)}, opts...)
	c, err := lisa.NewClient(pluginID, apiKey, secret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// riverClient returns a River client working the default queue with the
// given workers; start it with start.
func riverClient[TTx any](t testing.TB, b *backend[TTx], workers *river.Workers) *river.Client[TTx] {
	t.Helper()
	rc, err := river.NewClient(b.driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func start[TTx any](t testing.TB, rc *river.Client[TTx]) {
	t.Helper()
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rc.Stop(ctx); err != nil {
			t.Errorf("stopping River: %v", err)
		}
	})
}

// notifyWorkers registers w for NotifyArgs and a SendWorker for SendArgs.
func notifyWorkers(t testing.TB, c *lisa.Client, w river.Worker[lisariver.NotifyArgs], opts ...lisariver.Option) *river.Workers {
	t.Helper()
	sw, err := lisariver.NewSendWorker(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	river.AddWorker(workers, sw)
	return workers
}

// newWorker is lisariver.NewWorker, failing the test on an error.
func newWorker(t testing.TB, c *lisa.Client, load lisariver.Loader, opts ...lisariver.Option) *lisariver.Worker {
	t.Helper()
	w, err := lisariver.NewWorker(c, load, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// mustUpdate commits an update of key with its NotifyArgs job.
func mustUpdate[TTx any](t *testing.T, b *backend[TTx], key string, version int) *rivertype.JobInsertResult {
	t.Helper()
	res, err := b.update(context.Background(), key, payload(key, version), lisariver.NotifyArgs{Key: key}, true)
	if err != nil {
		t.Fatalf("update %s v%d: %v", key, version, err)
	}
	return res
}

func payload(key string, version int) string {
	return fmt.Sprintf(`{"productId":%q,"version":%d}`, key, version)
}

// bodies returns the bodies the server accepted, in order.
func bodies(srv *lisatest.Server) []string {
	var out []string
	for _, n := range srv.Received() {
		out = append(out, string(n.Body))
	}
	return out
}

// waitFor polls cond every 10 ms until it holds, failing after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled reports whether no lisa job waits or runs.
func settled[TTx any](t testing.TB, rc *river.Client[TTx]) bool {
	t.Helper()
	res, err := rc.JobList(context.Background(), river.NewJobListParams().
		Kinds("lisa_notify", "lisa_send").
		States(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable,
			rivertype.JobStateScheduled, rivertype.JobStatePending).First(1))
	if err != nil {
		t.Fatalf("listing jobs: %v", err)
	}
	return len(res.Jobs) == 0
}

// waitJob waits until the job is in one of states and returns it.
func waitJob[TTx any](t *testing.T, rc *river.Client[TTx], id int64, states ...rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	var job *rivertype.JobRow
	waitFor(t, 20*time.Second, fmt.Sprintf("job %d to be %v", id, states), func() bool {
		var err error
		if job, err = rc.JobGet(context.Background(), id); err != nil {
			t.Fatalf("getting job %d: %v", id, err)
		}
		return slices.Contains(states, job.State)
	})
	return job
}

// rawLoader adapts a function returning a string payload to a Loader.
func rawLoader(f func(ctx context.Context, key string) (string, error)) lisariver.Loader {
	return func(ctx context.Context, key string) (any, error) {
		s, err := f(ctx, key)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(s), nil
	}
}
