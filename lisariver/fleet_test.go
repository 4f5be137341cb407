package lisariver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// backlog inserts n products and one NotifyArgs job for each (for plugin,
// "" for the worker's own), and names each product prefix followed by its number.
func backlog(t *testing.T, pool *pgxpool.Pool, rc *river.Client[pgx.Tx], n int, prefix, plugin string) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO products (id, payload)
		SELECT $2 || i, json_build_object('productId', $2 || i, 'version', 1)::text
		FROM generate_series(1, $1) AS i`, n, prefix); err != nil {
		t.Fatal(err)
	}
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: lisariver.NotifyArgs{Key: fmt.Sprint(prefix, i+1), Plugin: plugin}}
	}
	if _, err := rc.InsertMany(ctx, params); err != nil {
		t.Fatal(err)
	}
}

// jobStates counts the lisa jobs by state.
func jobStates(t *testing.T, pool *pgxpool.Pool) map[rivertype.JobState]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT state, count(*) FROM river_job WHERE kind LIKE 'lisa_%' GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[rivertype.JobState]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[rivertype.JobState(s)] = n
	}
	return out
}

// A wrong secret in every process of a fleet: the first 401 pauses the
// plugin for the whole fleet, so that while it lasts the fleet makes a
// bounded number of requests (the ones already under way, then one probe
// per interval), cancels nothing and keeps every job; a process restarted
// with the right secret delivers the backlog.
func TestWrongSecretPausesTheFleet(t *testing.T) {
	const jobs, workers, processes = 200, 4, 2
	probe, broken := 2*time.Second, 6*time.Second
	dsn := postgresDSN(t)
	pool, rc := pgApp(t, dsn)
	backlog(t, pool, rc, jobs, "p", "")
	fake := lisatest.NewHandler(pluginID, apiKey, secret)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)

	var procs []*workerProcess
	for i := range processes {
		procs = append(procs, startWorkerEnv(t, []string{"LISA_SECRET=wrong-secret"}, dsn, srv.URL,
			fmt.Sprint("wrong-", i+1), "-workers", fmt.Sprint(workers), "-probe", probe.String()))
	}
	time.Sleep(broken)
	for _, p := range procs {
		p.stop()
	}
	requests, accepted := fake.Counts()
	states := jobStates(t, pool)
	// Before the first 401 is recorded every worker may be sending; after
	// it, one probe per interval for the whole fleet.
	bound := processes*workers + int(broken/probe) + 1
	t.Logf("wrong secret: %d jobs, %d processes × %d workers, probe every %s, %s: %d requests (bound %d), %d accepted; jobs by state %v",
		jobs, processes, workers, probe, broken, requests, bound, accepted, states)
	if requests == 0 || requests > bound {
		t.Errorf("%d requests with a wrong secret, want 1 to %d", requests, bound)
	}
	if n := states[rivertype.JobStateCancelled] + states[rivertype.JobStateDiscarded] + states[rivertype.JobStateCompleted]; n != 0 {
		t.Errorf("jobs by state %v: want every job kept, none finalized", states)
	}

	restarted := time.Now()
	startWorker(t, dsn, srv.URL, "right", "-workers", fmt.Sprint(workers))
	waitFor(t, time.Minute, "the backlog delivered after the restart", func() bool {
		_, accepted := fake.Counts()
		return accepted >= jobs
	})
	t.Logf("restarted with the right secret: %d notifications delivered in %s", jobs, time.Since(restarted).Round(100*time.Millisecond))
	waitFor(t, 10*time.Second, "every job completed", func() bool { return jobStates(t, pool)[rivertype.JobStateCompleted] == jobs })
}

// A secret that LiSA rejects and then, fixed on LiSA's side, accepts: the
// fleet's periodic probe notices and delivers the backlog without a restart.
func TestSecretFixedOnLiSAsSidePassesTheProbe(t *testing.T) {
	const jobs, workers, processes = 200, 4, 2
	probe := 2 * time.Second
	dsn := postgresDSN(t)
	pool, rc := pgApp(t, dsn)
	backlog(t, pool, rc, jobs, "p", "")
	fake := lisatest.NewHandler(pluginID, apiKey, secret)
	stale := lisatest.NewHandler(pluginID, apiKey, "the-old-secret") // LiSA before the fix
	var fixed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fixed.Load() {
			fake.ServeHTTP(w, r)
			return
		}
		stale.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	for i := range processes {
		startWorker(t, dsn, srv.URL, fmt.Sprint("worker-", i+1), "-workers", fmt.Sprint(workers), "-probe", probe.String())
	}
	waitFor(t, 30*time.Second, "a 401", func() bool { n, _ := stale.Counts(); return n > 0 })
	time.Sleep(3 * probe)
	rejected, _ := stale.Counts()
	bound := processes*workers + 3 + 1
	if rejected > bound {
		t.Errorf("%d requests rejected during %s, want at most %d", rejected, 3*probe, bound)
	}
	fixed.Store(true)
	since := time.Now()
	waitFor(t, time.Minute, "the backlog delivered after the fix", func() bool {
		_, accepted := fake.Counts()
		return accepted >= jobs
	})
	t.Logf("secret fixed on LiSA's side: %d requests rejected before; %d delivered %s after the fix (probe every %s)",
		rejected, jobs, time.Since(since).Round(100*time.Millisecond), probe)
	if states := jobStates(t, pool); states[rivertype.JobStateCancelled]+states[rivertype.JobStateDiscarded] != 0 {
		t.Errorf("jobs by state %v, want none cancelled or discarded", states)
	}
}

// One fleet for many plugins: jobs name their plugin and the workers get
// its client from WithClients. Shop B's secret is wrong: its jobs pause and
// wait (a minute until the next probe), while shop A's jobs and the jobs
// that name no plugin (the worker's own client) are all delivered meanwhile.
func TestManyPluginsOneBrokenSecret(t *testing.T) {
	const perPlugin, workers, processes = 100, 4, 2
	probe := time.Minute
	dsn := postgresDSN(t)
	pool, rc := pgApp(t, dsn)
	backlog(t, pool, rc, perPlugin, "a", "shop-a")
	backlog(t, pool, rc, perPlugin, "b", "shop-b")
	backlog(t, pool, rc, perPlugin, "p", "")
	own := lisatest.NewHandler(pluginID, apiKey, secret)
	shopA := lisatest.NewHandler("shop-a", "key-a", "secret-a")
	shopB := lisatest.NewHandler("shop-b", "key-b", "secret-b")
	mux := http.NewServeMux()
	mux.Handle("/plugin-notifications/"+pluginID+"/", own)
	mux.Handle("/plugin-notifications/shop-a/", shopA)
	mux.Handle("/plugin-notifications/shop-b/", shopB)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	env := []string{"LISA_PLUGINS=shop-a:key-a:secret-a,shop-b:key-b:not-the-secret"}
	for i := range processes {
		startWorkerEnv(t, env, dsn, srv.URL, fmt.Sprint("worker-", i+1), "-workers", fmt.Sprint(workers), "-probe", probe.String())
	}
	began := time.Now()
	waitFor(t, probe/2, "shop A's and the own plugin's notifications delivered while shop B is paused", func() bool {
		_, a := shopA.Counts()
		_, o := own.Counts()
		return a >= perPlugin && o >= perPlugin
	})
	elapsed := time.Since(began)
	rejected, accepted := shopB.Counts()
	bound := processes * workers // those under way when the first 401 came
	t.Logf("many plugins: shop A and own plugin delivered %d each in %s; shop B (wrong secret) %d requests (bound %d), %d accepted; jobs by state %v",
		perPlugin, elapsed.Round(100*time.Millisecond), rejected, bound, accepted, jobStates(t, pool))
	if rejected == 0 || rejected > bound || accepted != 0 {
		t.Errorf("shop B: %d requests, %d accepted; want 1 to %d requests, none accepted", rejected, accepted, bound)
	}
	var kept, finalized int
	if err := pool.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE state NOT IN ('completed', 'cancelled', 'discarded')),
		count(*) FILTER (WHERE state IN ('cancelled', 'discarded'))
		FROM river_job WHERE args ->> 'plugin' = 'shop-b'`).Scan(&kept, &finalized); err != nil {
		t.Fatal(err)
	}
	if kept != perPlugin || finalized != 0 {
		t.Errorf("shop B's jobs: %d kept, %d cancelled or discarded; want all %d kept", kept, finalized, perPlugin)
	}
}

// A 429 with Retry-After pauses the plugin for the whole fleet: after the
// answer, no process sends for that plugin until the wait has passed (but
// for requests already under way), and then the backlog is delivered with
// nothing cancelled. The workers' clients do not retry (WithMaxRetries(0)),
// so the Send returns the 429 at once instead of waiting it out itself.
func TestRetryAfterPausesTheFleet(t *testing.T) {
	const jobs, workers, processes = 300, 4, 2
	const retryAfter = 3 * time.Second
	dsn := postgresDSN(t)
	pool, rc := pgApp(t, dsn)
	backlog(t, pool, rc, jobs, "p", "")
	fake := lisatest.NewHandler(pluginID, apiKey, secret)
	var (
		n      atomic.Int64
		mu     sync.Mutex
		times  []time.Time // when each request arrived
		paused time.Time   // when the 429 was answered
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		if n.Add(1) == 50 {
			mu.Lock()
			paused = time.Now()
			mu.Unlock()
			w.Header().Set("Retry-After", fmt.Sprint(int(retryAfter.Seconds())))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	for i := range processes {
		startWorker(t, dsn, srv.URL, fmt.Sprint("worker-", i+1), "-workers", fmt.Sprint(workers), "-retries", "0")
	}
	waitFor(t, time.Minute, "every notification delivered", func() bool { _, a := fake.Counts(); return a >= jobs })
	mu.Lock()
	defer mu.Unlock()
	var during, after int
	for _, at := range times {
		switch {
		case at.After(paused) && at.Before(paused.Add(retryAfter-100*time.Millisecond)):
			during++
		case !at.Before(paused.Add(retryAfter - 100*time.Millisecond)):
			after++
		}
	}
	t.Logf("Retry-After %s on request 50: %d requests in the %s after it (bound %d: those under way), %d after; jobs by state %v",
		retryAfter, during, retryAfter, processes*workers, after, jobStates(t, pool))
	if during > processes*workers {
		t.Errorf("%d requests during the Retry-After, want at most %d (those already under way)", during, processes*workers)
	}
	if states := jobStates(t, pool); states[rivertype.JobStateCancelled]+states[rivertype.JobStateDiscarded] != 0 {
		t.Errorf("jobs by state %v, want none cancelled or discarded", states)
	}
}

// Three worker processes share a rate limit of 50 requests a second for
// their plugin through the database: over the run (12 s by default; set
// LISARIVER_RATE_SECONDS=60 for the minute) they send at most 5 %
// more than the limit in any 5-second window, and use at least 90 % of it
// while the backlog lasts.
func TestFleetRateLimit(t *testing.T) {
	const rate, processes, workers = 50, 3, 8
	seconds := 12
	if s, err := strconv.Atoi(os.Getenv("LISARIVER_RATE_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	jobs := rate * seconds
	dsn := postgresDSN(t)
	pool, rc := pgApp(t, dsn)
	backlog(t, pool, rc, jobs, "p", "")
	fake := lisatest.NewHandler(pluginID, apiKey, secret)
	var (
		mu    sync.Mutex
		times []time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	for i := range processes {
		startWorker(t, dsn, srv.URL, fmt.Sprint("worker-", i+1), "-workers", fmt.Sprint(workers),
			"-rate", fmt.Sprint(rate), "-burst", "1")
	}
	waitFor(t, time.Duration(seconds)*3*time.Second+30*time.Second, "every notification delivered",
		func() bool { _, a := fake.Counts(); return a >= jobs })
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	span := times[len(times)-1].Sub(times[0])
	average := float64(len(times)-1) / span.Seconds()
	// The most requests in any 5-second window.
	const window = 5 * time.Second
	most := 0
	for i, j := 0, 0; i < len(times); i++ {
		for times[i].Sub(times[j]) >= window {
			j++
		}
		most = max(most, i-j+1)
	}
	limit := rate * window.Seconds() * 1.05
	t.Logf("fleet rate limit %d/s, %d processes × %d workers, 20 ms latency: %d requests in %s: %.2f/s on average (%.1f %% of the limit); at most %d in any %s (limit %.1f)",
		rate, processes, workers, len(times), span.Round(time.Millisecond), average, 100*average/rate, most, window, limit)
	if float64(most) > limit {
		t.Errorf("%d requests in one %s window, want at most %.1f", most, window, limit)
	}
	if average > rate*1.05 || average < rate*0.9 {
		t.Errorf("%.2f requests/s on average, want %.1f to %.1f", average, rate*0.9, rate*1.05)
	}
}
