package lisariver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// BenchmarkThroughput compares lisariver.Worker with plain River (a worker
// that loads the product and sends it, with no guarantee for updates made
// while it runs) on Postgres, paired: each iteration runs both on fresh
// databases, with the same River configuration (10 workers, 5 ms fetch
// cooldown) and the same client, against a server answering at once or
// after 20 ms. It reports both rates and their ratio:
//
//	go test -run '^$' -bench Throughput -benchtime 5x ./
func BenchmarkThroughput(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		jobs := 3000
		if latency > 0 {
			jobs = 1500
		}
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			var plain, ours float64
			var ratios []float64
			for i := 0; i < b.N; i++ {
				// Alternate which runs first, so neither always gets the
				// warmer machine.
				var p, o float64
				if i%2 == 0 {
					p = throughputRun(b, latency, jobs, false)
					o = throughputRun(b, latency, jobs, true)
				} else {
					o = throughputRun(b, latency, jobs, true)
					p = throughputRun(b, latency, jobs, false)
				}
				plain, ours = plain+p, ours+o
				ratios = append(ratios, o/p)
			}
			slices.Sort(ratios)
			b.Logf("%d jobs, latency %s: ratio per pair %.2f (min %.2f, median %.2f, max %.2f)",
				jobs, latency, ratios, ratios[0], ratios[len(ratios)/2], ratios[len(ratios)-1])
			b.ReportMetric(plain/float64(b.N), "river-jobs/s")
			b.ReportMetric(ours/float64(b.N), "lisariver-jobs/s")
			b.ReportMetric(ours/plain, "ratio")
		})
	}
}

// throughputRun delivers jobs notifications of distinct products with one
// River client and returns the jobs per second from Start to the last one
// done.
func throughputRun(b *testing.B, latency time.Duration, jobs int, coalescing bool) float64 {
	b.StopTimer()
	ctx := context.Background()
	pool, app := pgApp(b, postgresDSN(b))
	if _, err := pool.Exec(ctx, `INSERT INTO products (id, payload)
		SELECT 'p' || i, json_build_object('productId', 'p' || i, 'version', 1)::text
		FROM generate_series(1, $1) AS i`, jobs); err != nil {
		b.Fatal(err)
	}
	params := make([]river.InsertManyParams, jobs)
	for i := range params {
		params[i] = river.InsertManyParams{Args: lisariver.NotifyArgs{Key: fmt.Sprint("p", i+1)}}
	}
	if _, err := app.InsertMany(ctx, params); err != nil {
		b.Fatal(err)
	}
	fake := lisatest.NewHandler(pluginID, apiKey, secret, lisatest.WithoutRecords())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if latency > 0 {
			time.Sleep(latency)
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	load := rawLoader(func(ctx context.Context, key string) (string, error) {
		var p string
		err := pool.QueryRow(ctx, `SELECT payload FROM products WHERE id = $1`, key).Scan(&p)
		return p, err
	})
	var w river.Worker[lisariver.NotifyArgs] = &naiveWorker{client: c, load: load}
	if coalescing {
		w = newWorker(b, c, load)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers:           notifyWorkers(b, c, w),
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	if err := rc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 5*time.Minute, "every job done", func() bool { return settled(b, rc) })
	elapsed := time.Since(began)
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rc.Stop(stopCtx); err != nil {
		b.Fatal(err)
	}
	if _, accepted := fake.Counts(); accepted < jobs {
		b.Fatalf("%d of %d notifications accepted", accepted, jobs)
	}
	b.StartTimer()
	return float64(jobs) / elapsed.Seconds()
}
