package lisariver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// pgApp is the application's side of a Postgres test: a pool and an
// insert-only River client.
func pgApp(t testing.TB, dsn string) (*pgxpool.Pool, *river.Client[pgx.Tx]) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return pool, rc
}

// A worker process killed with SIGKILL while LiSA holds its request: once
// River rescues the job, another worker delivers it.
func TestCrashMidSend(t *testing.T) {
	ctx := context.Background()
	dsn := postgresDSN(t)
	pool, rc := pgApp(t, dsn)

	var (
		hold    sync.Once
		arrived = make(chan struct{})
		fake    = lisatest.NewHandler(pluginID, apiKey, secret)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := false
		hold.Do(func() { held = true })
		if held { // hold the first request until its client goes away
			close(arrived)
			io.Copy(io.Discard, r.Body) // then net/http notices the connection close
			<-r.Context().Done()
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	res, err := updateProduct(ctx, pool, rc, "p1", payload("p1", 1), lisariver.NotifyArgs{Key: "p1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	first := startWorker(t, dsn, srv.URL, "first")
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the first worker did not send")
	}
	first.kill()
	killed := time.Now()
	if job, err := rc.JobGet(ctx, res.Job.ID); err != nil || job.State != rivertype.JobStateRunning {
		t.Fatalf("after the kill: job %+v, %v; want it left running", job, err)
	}

	// Short settings by default; LISARIVER_CRASH_SETTINGS="30s 45s" measures
	// another JobTimeout and RescueStuckJobsAfter.
	jobTimeout, rescueAfter := "2s", "3s"
	if s := strings.Fields(os.Getenv("LISARIVER_CRASH_SETTINGS")); len(s) == 2 {
		jobTimeout, rescueAfter = s[0], s[1]
	}
	startWorker(t, dsn, srv.URL, "second", "-job-timeout", jobTimeout, "-rescue-after", rescueAfter)
	waitFor(t, 5*time.Minute, "the notification delivered after the crash", func() bool { return len(fake.Received()) > 0 })
	delivered := time.Since(killed)
	job := waitJob(t, rc, res.Job.ID, rivertype.JobStateCompleted)

	var got []string
	for _, n := range fake.Received() {
		got = append(got, string(n.Body))
	}
	if want := []string{payload("p1", 1)}; !slices.Equal(got, want) {
		t.Errorf("server accepted %q, want %q", got, want)
	}
	if len(job.Errors) == 0 || !strings.Contains(job.Errors[0].Error, "rescued") {
		t.Errorf("job errors %+v, want the rescue recorded", job.Errors)
	}
	t.Logf("crash: delivered %s after SIGKILL (job timeout %s, rescue after %s, plus the dead leader's lease), in attempt %d",
		delivered.Round(100*time.Millisecond), jobTimeout, rescueAfter, job.Attempt)
}
