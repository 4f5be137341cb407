package lisariver_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

func TestTransactional(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testTransactional(t, newSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { testTransactional(t, newPostgres(t)) })
}

// A rolled-back transaction sends nothing; a committed one is delivered.
func testTransactional[TTx any](t *testing.T, b *backend[TTx]) {
	ctx := context.Background()
	srv, c := newLisa(t)
	rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, b.load)))

	if _, err := b.update(ctx, "rolled-back", payload("rolled-back", 1), lisariver.NotifyArgs{Key: "rolled-back"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.update(ctx, "rolled-back-send", `{"x":1}`, lisariver.SendArgs{Body: []byte(`{"sent":"rolled back"}`)}, false); err != nil {
		t.Fatal(err)
	}
	committed := mustUpdate(t, b, "committed", 1)
	start(t, rc)

	waitJob(t, rc, committed.Job.ID, rivertype.JobStateCompleted)
	waitFor(t, 10*time.Second, "no job waiting", func() bool { return settled(t, rc) })
	if got, want := bodies(srv), []string{payload("committed", 1)}; !slices.Equal(got, want) {
		t.Errorf("server received %q, want %q", got, want)
	}
	all, err := rc.JobList(ctx, river.NewJobListParams().First(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Jobs) != 1 {
		t.Errorf("%d jobs in river_job, want only the committed one", len(all.Jobs))
	}
}

func TestCoalescing(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testCoalescing(t, newSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { testCoalescing(t, newPostgres(t)) })
}

// Ten committed updates while the job waits are one send of the latest state.
func testCoalescing[TTx any](t *testing.T, b *backend[TTx]) {
	srv, c := newLisa(t)
	rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, b.load)))
	first := mustUpdate(t, b, "p1", 1)
	for v := 2; v <= 10; v++ {
		if res := mustUpdate(t, b, "p1", v); !res.UniqueSkippedAsDuplicate || res.Job.ID != first.Job.ID {
			t.Fatalf("update %d inserted job %d (skipped %v), want it coalesced into job %d",
				v, res.Job.ID, res.UniqueSkippedAsDuplicate, first.Job.ID)
		}
	}
	mustUpdate(t, b, "p2", 1) // another product is another job
	start(t, rc)

	waitJob(t, rc, first.Job.ID, rivertype.JobStateCompleted)
	waitFor(t, 10*time.Second, "no job waiting", func() bool { return settled(t, rc) })
	got := bodies(srv)
	slices.Sort(got)
	if want := []string{payload("p1", 10), payload("p2", 1)}; !slices.Equal(got, want) {
		t.Errorf("server received %q, want %q", got, want)
	}
}

// naiveWorker is what lisariver.Worker would be without its second look:
// load, send, done. It loses an update committed while it runs.
type naiveWorker struct {
	river.WorkerDefaults[lisariver.NotifyArgs]
	client *lisa.Client
	load   lisariver.Loader
}

func (w *naiveWorker) Work(ctx context.Context, job *river.Job[lisariver.NotifyArgs]) error {
	p, err := w.load(ctx, job.Args.Key)
	if err != nil {
		return err
	}
	_, err = w.client.Send(ctx, p)
	return err
}

func TestUpdateWhileRunning(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testUpdateWhileRunning(t, newSQLite) })
	t.Run("postgres", func(t *testing.T) { testUpdateWhileRunning(t, newPostgres) })
}

// An update committed while the product's job runs (after it loaded the
// payload, before LiSA answered) is not inserted, because the running job
// makes it a duplicate; it must still be delivered. The naive worker shows
// that the scenario really loses the update.
func testUpdateWhileRunning[TTx any](t *testing.T, newBackend func(*testing.T) *backend[TTx]) {
	run := func(t *testing.T, worker func(*lisa.Client, lisariver.Loader) river.Worker[lisariver.NotifyArgs]) []string {
		b := newBackend(t)
		srv, c := newLisa(t)
		loaded, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		load := func(ctx context.Context, key string) (any, error) {
			p, err := b.load(ctx, key) // read first, then let the test update
			once.Do(func() { close(loaded); <-release })
			return p, err
		}
		rc := riverClient(t, b, notifyWorkers(t, c, worker(c, load)))
		job := mustUpdate(t, b, "p1", 1)
		start(t, rc)

		select {
		case <-loaded:
		case <-time.After(20 * time.Second):
			t.Fatal("the job did not start")
		}
		if res := mustUpdate(t, b, "p1", 2); !res.UniqueSkippedAsDuplicate || res.Job.State != rivertype.JobStateRunning {
			t.Fatalf("update while running: skipped %v, job state %s; want skipped as a duplicate of the running job",
				res.UniqueSkippedAsDuplicate, res.Job.State)
		}
		close(release)
		waitJob(t, rc, job.Job.ID, rivertype.JobStateCompleted)
		waitFor(t, 10*time.Second, "no job waiting", func() bool { return settled(t, rc) })
		return bodies(srv)
	}

	t.Run("naive unique job loses it", func(t *testing.T) {
		got := run(t, func(c *lisa.Client, l lisariver.Loader) river.Worker[lisariver.NotifyArgs] {
			return &naiveWorker{client: c, load: l}
		})
		if want := []string{payload("p1", 1)}; !slices.Equal(got, want) {
			t.Fatalf("naive worker: server received %q, want %q (the lost update this test is about)", got, want)
		}
	})
	t.Run("Worker delivers it", func(t *testing.T) {
		got := run(t, func(c *lisa.Client, l lisariver.Loader) river.Worker[lisariver.NotifyArgs] {
			return newWorker(t, c, l)
		})
		if want := []string{payload("p1", 1), payload("p1", 2)}; !slices.Equal(got, want) {
			t.Fatalf("server received %q, want %q", got, want)
		}
	})
}

func TestUpdateDuringSecondLoad(t *testing.T) {
	// On SQLite the worker completes the job in a transaction and loads the
	// payload a second time; on Postgres it completes the job only if its
	// row is unchanged, and the narrowest window is an update whose
	// transaction is still open when the job completes.
	t.Run("sqlite", func(t *testing.T) { testUpdateDuringSecondLoad(t, newSQLite(t)) })
	t.Run("postgres update open while the job completes", testUpdateOpenWhileCompleting)
}

// An update whose transaction inserted its job (skipped as a duplicate of
// the running job) and is still open when the job, its notification
// accepted, completes: the completion waits for it and the job runs again
// with the update's state.
func testUpdateOpenWhileCompleting(t *testing.T) {
	ctx := context.Background()
	pool, app := pgApp(t, postgresDSN(t))
	b := &backend[pgx.Tx]{driver: riverpgxv5.New(pool),
		load: rawLoader(func(ctx context.Context, key string) (string, error) {
			var p string
			err := pool.QueryRow(ctx, `SELECT payload FROM products WHERE id = $1`, key).Scan(&p)
			return p, err
		})}
	srv, c := newLisa(t)
	loaded, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	load := func(ctx context.Context, key string) (any, error) {
		p, err := b.load(ctx, key)
		once.Do(func() { close(loaded); <-release })
		return p, err
	}
	rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, load)))
	if _, err := updateProduct(ctx, pool, app, "p1", payload("p1", 1), lisariver.NotifyArgs{Key: "p1"}, true); err != nil {
		t.Fatal(err)
	}
	start(t, rc)
	select {
	case <-loaded:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start")
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE products SET payload = $2 WHERE id = $1`, "p1", payload("p1", 2)); err != nil {
		t.Fatal(err)
	}
	res, err := app.InsertTx(ctx, tx, lisariver.NotifyArgs{Key: "p1"}, nil)
	if err != nil || !res.UniqueSkippedAsDuplicate {
		t.Fatalf("insert while running: %+v, %v; want it skipped as a duplicate", res, err)
	}
	close(release)
	waitFor(t, 20*time.Second, "the first notification", func() bool { return len(srv.Received()) == 1 })
	time.Sleep(200 * time.Millisecond) // the job completes meanwhile, waiting for tx
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "no job waiting", func() bool { return settled(t, rc) })
	if got, want := bodies(srv), []string{payload("p1", 1), payload("p1", 2)}; !slices.Equal(got, want) {
		t.Errorf("server received %q, want %q", got, want)
	}
}

// An update committed after the worker's second load, while its job is
// still marked running, is the narrowest window: it must not be skipped as a
// duplicate of a job that is about to complete.
func testUpdateDuringSecondLoad[TTx any](t *testing.T, b *backend[TTx]) {
	srv, c := newLisa(t)
	var (
		mu      sync.Mutex
		calls   int
		updated = make(chan *rivertype.JobInsertResult, 1)
	)
	load := func(ctx context.Context, key string) (any, error) {
		p, err := b.load(ctx, key)
		mu.Lock()
		calls++
		second := calls == 2
		mu.Unlock()
		if second { // the check after the first 202: commit an update now
			go func() {
				res, err := b.update(context.Background(), key, payload(key, 3), lisariver.NotifyArgs{Key: key}, true)
				if err != nil {
					t.Errorf("update during the second load: %v", err)
				}
				updated <- res
			}()
			time.Sleep(200 * time.Millisecond) // let it reach the job's row
		}
		return p, err
	}
	rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, load)))
	mustUpdate(t, b, "p1", 1)
	start(t, rc)

	select {
	case res := <-updated:
		if res != nil && res.UniqueSkippedAsDuplicate {
			t.Errorf("the update was skipped as a duplicate of job %d in state %s", res.Job.ID, res.Job.State)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the second load did not happen")
	}
	waitFor(t, 20*time.Second, "the latest state delivered", func() bool {
		got := bodies(srv)
		return len(got) > 0 && got[len(got)-1] == payload("p1", 3)
	})
	waitFor(t, 10*time.Second, "no job waiting", func() bool { return settled(t, rc) })
	if got, want := bodies(srv), []string{payload("p1", 1), payload("p1", 3)}; !slices.Equal(got, want) {
		t.Errorf("server received %q, want %q", got, want)
	}
}

func TestSendArgsByteExact(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSendArgsByteExact(t, newSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { testSendArgsByteExact(t, newPostgres(t)) })
}

// A SendArgs body is sent byte for byte, even where the database stores args
// as jsonb (which would reorder keys, drop spaces and reformat numbers), and
// every job is sent: identical bodies do not coalesce.
func testSendArgsByteExact[TTx any](t *testing.T, b *backend[TTx]) {
	ctx := context.Background()
	srv, c := newLisa(t)
	rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, b.load)))
	body := []byte("{ \"z\": 1,\n  \"a\": [1.50, 2e3],  \"price\": 19.990, \"name\": \"caf\\u00e9 \u00e9\", \"a\": \"dup\" }")
	for i := 0; i < 3; i++ {
		if _, err := rc.Insert(ctx, lisariver.SendArgs{Body: body}, nil); err != nil {
			t.Fatal(err)
		}
	}
	start(t, rc)
	waitFor(t, 20*time.Second, "three notifications", func() bool { return len(srv.Received()) == 3 })
	for i, n := range srv.Received() {
		if !bytes.Equal(n.Body, body) {
			t.Errorf("notification %d: body %q, want %q", i, n.Body, body)
		}
	}
}
