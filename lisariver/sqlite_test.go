package lisariver_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite"
)

// sqliteDSN is WAL mode (readers do not block the writer), a busy timeout
// (writers wait for each other instead of failing) and BEGIN IMMEDIATE (a
// transaction takes the write lock at once, so two never deadlock upgrading).
const sqliteDSN = "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"

// newSQLite returns a fresh SQLite database file with River migrated.
func newSQLite(t *testing.T) *backend[*sql.Tx] {
	t.Helper()
	return newSQLiteConns(t, 4) // the worker loads again while completing: at least 2
}

// newSQLiteConns is newSQLite with a pool of at most conns connections.
func newSQLiteConns(t *testing.T, conns int) *backend[*sql.Tx] {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "lisa.db")+sqliteDSN)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE products (id TEXT PRIMARY KEY, payload TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var rc *river.Client[*sql.Tx] // an insert-only client
	if rc, err = river.NewClient(driver, &river.Config{}); err != nil {
		t.Fatal(err)
	}
	return &backend[*sql.Tx]{
		driver: driver,
		update: func(ctx context.Context, key, payload string, insert river.JobArgs, commit bool) (*rivertype.JobInsertResult, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return nil, err
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, `INSERT INTO products (id, payload) VALUES (?, ?)
				ON CONFLICT (id) DO UPDATE SET payload = excluded.payload`, key, payload); err != nil {
				return nil, err
			}
			var res *rivertype.JobInsertResult
			if insert != nil {
				if res, err = rc.InsertTx(ctx, tx, insert, nil); err != nil {
					return nil, err
				}
			}
			if !commit {
				return res, tx.Rollback()
			}
			return res, tx.Commit()
		},
		load: rawLoader(func(ctx context.Context, key string) (string, error) {
			var p string
			err := db.QueryRowContext(ctx, `SELECT payload FROM products WHERE id = ?`, key).Scan(&p)
			return p, err
		}),
	}
}

// With one connection (riversqlite's suggested SetMaxOpenConns(1)) the
// worker could not load the payload again while its completing transaction
// holds the connection, and would wait for itself forever. It refuses such
// a pool before sending anything, with an error that says why; the job is
// kept for River to retry.
func TestOneConnectionPoolIsRefused(t *testing.T) {
	b := newSQLiteConns(t, 1)
	srv, c := newLisa(t)
	rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, b.load)))
	job := mustUpdate(t, b, "p1", 1)
	start(t, rc)
	got := waitJob(t, rc, job.Job.ID, rivertype.JobStateRetryable)
	if len(got.Errors) == 0 || !strings.Contains(got.Errors[0].Error, "at least two connections") ||
		!strings.Contains(got.Errors[0].Error, "SetMaxOpenConns(2)") {
		t.Errorf("job errors %+v, want one that says the pool needs two connections", got.Errors)
	}
	if n, _ := srv.Counts(); n != 0 {
		t.Errorf("%d requests, want none before the pool is known to work", n)
	}
}

// The fleet's pause and rate limit work on SQLite too (one machine, its
// SQL dialect): a 401 pauses the plugin and one probe per interval goes out
// until the credentials work, then every job is delivered; a rate limit
// spaces the sends.
func TestFleetOnSQLite(t *testing.T) {
	t.Run("credentials pause", func(t *testing.T) {
		const jobs, refusals = 30, 3
		b := newSQLite(t)
		srv, c := newLisa(t)
		faults := make([]lisatest.Fault, refusals)
		for i := range faults {
			faults[i] = lisatest.Fault{Status: http.StatusUnauthorized}
		}
		srv.Script(faults...)
		opt := lisariver.WithProbeInterval(300 * time.Millisecond)
		rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, b.load, opt), opt))
		for i := range jobs {
			mustUpdate(t, b, fmt.Sprint("p", i), 1)
		}
		start(t, rc)
		waitFor(t, 30*time.Second, "every notification delivered", func() bool { _, a := srv.Counts(); return a == jobs })
		requests, _ := srv.Counts()
		// The workers under way when the first 401 came, then one probe
		// per refusal.
		if bound := jobs + 4 + refusals; requests > bound {
			t.Errorf("%d requests for %d notifications and %d refusals, want at most %d", requests, jobs, refusals, bound)
		}
		t.Logf("SQLite: %d notifications, %d requests with %d refusals", jobs, requests, refusals)
	})
	t.Run("rate limit", func(t *testing.T) {
		const jobs, rate = 30, 20
		b := newSQLite(t)
		srv, c := newLisa(t)
		opt := lisariver.WithRateLimit(rate, 1)
		rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, b.load, opt), opt))
		for i := range jobs {
			mustUpdate(t, b, fmt.Sprint("p", i), 1)
		}
		start(t, rc)
		waitFor(t, 30*time.Second, "every notification delivered", func() bool { _, a := srv.Counts(); return a == jobs })
		got := srv.Received()
		span := got[len(got)-1].Time.Sub(got[0].Time)
		if perSecond := float64(len(got)-1) / span.Seconds(); perSecond > rate*1.05 {
			t.Errorf("%.1f notifications/s, want at most %d", perSecond, rate)
		}
	})
}
