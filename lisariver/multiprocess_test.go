package lisariver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/riverqueue/river"
)

// observer sits in front of a lisatest handler: it adds latency, counts
// requests per worker (by User-Agent) and counts overlapping requests for
// one product, which would mean a job claimed twice (a product has at most
// one job waiting or running, and it sends one request at a time).
type observer struct {
	next    http.Handler
	latency time.Duration

	mu          sync.Mutex
	inflight    map[string]int
	overlaps    int
	byAgent     map[string]int
	first, last time.Time
}

func newObserver(next http.Handler, latency time.Duration) *observer {
	return &observer{next: next, latency: latency, inflight: map[string]int{}, byAgent: map[string]int{}}
}

func (o *observer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	var p struct {
		ProductID string `json:"productId"`
	}
	json.Unmarshal(body, &p)
	o.mu.Lock()
	if o.first.IsZero() {
		o.first = time.Now()
	}
	o.inflight[p.ProductID]++
	if o.inflight[p.ProductID] > 1 {
		o.overlaps++
	}
	o.byAgent[r.UserAgent()]++
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.inflight[p.ProductID]--
		o.last = time.Now()
		o.mu.Unlock()
	}()
	time.Sleep(o.latency)
	o.next.ServeHTTP(w, r)
}

// Two worker processes on one Postgres deliver 10,000 updates of 1,000
// products against a server with random faults and 20 ms latency: no job is
// claimed twice, both processes work, and every product's final state is
// delivered.
func TestManyProcesses(t *testing.T) {
	products, updates := 1000, 10000
	if testing.Short() {
		products, updates = 100, 1000
	}
	ctx := context.Background()
	dsn := postgresDSN(t)
	pool, rc := pgApp(t, dsn)
	fake := lisatest.NewHandler(pluginID, apiKey, secret, lisatest.WithRandomFaults(lisatest.RandomFaults{
		Seed: 11, ServerError: 0.04, RateLimit: 0.02, BadGateway: 0.01, DropBefore: 0.01, DropAfter: 0.01,
	}))
	obs := newObserver(fake, 20*time.Millisecond)
	srv := httptest.NewServer(obs)
	t.Cleanup(srv.Close)

	began := time.Now()
	workers := []*workerProcess{
		startWorker(t, dsn, srv.URL, "worker-1", "-workers", "16"),
		startWorker(t, dsn, srv.URL, "worker-2", "-workers", "16"),
	}
	var next, skipped atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < updates; i = int(next.Add(1)) - 1 {
				key := fmt.Sprintf("p%04d", i%products)
				res, err := updateProduct(ctx, pool, rc, key, payload(key, i/products+1), lisariver.NotifyArgs{Key: key}, true)
				if err != nil {
					t.Errorf("update %d: %v", i, err)
					return
				}
				if res.UniqueSkippedAsDuplicate {
					skipped.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, 3*time.Minute, "every job done", func() bool { return settled(t, rc) })
	elapsed := time.Since(began)
	for _, w := range workers {
		w.stop()
	}

	last := map[string]string{} // the last state accepted per product
	for _, n := range fake.Received() {
		var p struct {
			ProductID string `json:"productId"`
		}
		if err := json.Unmarshal(n.Body, &p); err != nil {
			t.Fatalf("accepted body %q: %v", n.Body, err)
		}
		last[p.ProductID] = string(n.Body)
	}
	rows, err := pool.Query(ctx, `SELECT id, payload FROM products`)
	if err != nil {
		t.Fatal(err)
	}
	finals := 0
	for rows.Next() {
		var id, final string
		if err := rows.Scan(&id, &final); err != nil {
			t.Fatal(err)
		}
		finals++
		if last[id] != final {
			t.Errorf("product %s: last delivered %q, final state %q", id, last[id], final)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if finals != products {
		t.Errorf("%d products in the table, want %d", finals, products)
	}
	var failed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('cancelled', 'discarded')`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != 0 {
		t.Errorf("%d jobs cancelled or discarded, want none", failed)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.overlaps != 0 {
		t.Errorf("%d requests overlapped another for the same product: a job was claimed twice", obs.overlaps)
	}
	if len(obs.byAgent) != 2 {
		t.Errorf("requests by worker %v, want both workers sending", obs.byAgent)
	}
	requests, accepted := fake.Counts()
	t.Logf("many processes: %d updates of %d products, %d coalesced into waiting or running jobs; "+
		"%d requests (%v by worker), %d accepted, faults %v; all final states delivered in %s",
		updates, products, skipped.Load(), requests, values(obs.byAgent), accepted, fake.FaultCounts(), elapsed.Round(100*time.Millisecond))
}

func values(m map[string]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Throughput of one worker process against two, 5 River workers each,
// against a server with 20 ms latency: a figure for the log, not an
// assertion (the machine's speed is not this test's business). With 5
// workers a process is bound by the server's latency, as on machines of
// their own; with many more, the processes, Postgres and the server share
// this machine's CPUs and the figure measures those instead.
func TestThroughputOneVsTwoProcesses(t *testing.T) {
	jobs, perProcess := 1500, 5
	if testing.Short() {
		jobs = 300
	}
	run := func(t *testing.T, processes int) time.Duration {
		ctx := context.Background()
		dsn := postgresDSN(t)
		pool, rc := pgApp(t, dsn)
		if _, err := pool.Exec(ctx, `INSERT INTO products (id, payload)
			SELECT 'p' || i, json_build_object('productId', 'p' || i, 'version', 1)::text
			FROM generate_series(1, $1) AS i`, jobs); err != nil {
			t.Fatal(err)
		}
		params := make([]river.InsertManyParams, jobs)
		for i := range params {
			params[i] = river.InsertManyParams{Args: lisariver.NotifyArgs{Key: fmt.Sprint("p", i+1)}}
		}
		if _, err := rc.InsertMany(ctx, params); err != nil {
			t.Fatal(err)
		}
		fake := lisatest.NewHandler(pluginID, apiKey, secret)
		obs := newObserver(fake, 20*time.Millisecond)
		srv := httptest.NewServer(obs)
		defer srv.Close()
		for i := range processes {
			w := startWorker(t, dsn, srv.URL, fmt.Sprint("worker-", i+1), "-workers", strconv.Itoa(perProcess))
			defer w.stop()
		}
		waitFor(t, 2*time.Minute, "every notification accepted", func() bool {
			_, accepted := fake.Counts()
			return accepted >= jobs
		})
		obs.mu.Lock()
		defer obs.mu.Unlock()
		if obs.overlaps != 0 {
			t.Errorf("%d overlapping requests for one product", obs.overlaps)
		}
		return obs.last.Sub(obs.first)
	}
	one := run(t, 1)
	two := run(t, 2)
	rate := func(d time.Duration) float64 { return float64(jobs) / d.Seconds() }
	t.Logf("throughput: %d notifications, 20 ms server latency, %d workers per process: "+
		"1 process %s (%.0f/s), 2 processes %s (%.0f/s): %.2fx",
		jobs, perProcess, one.Round(time.Millisecond), rate(one), two.Round(time.Millisecond), rate(two), one.Seconds()/two.Seconds())
}
