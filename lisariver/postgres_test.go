package lisariver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The tests that need Postgres share one throwaway cluster per test binary:
// initdb into a temporary directory, pg_ctl on a free loopback port, River
// migrated once into a template database that each test copies.
var cluster struct {
	once   sync.Once
	err    error
	dir    string // removed when the cluster stops
	dsn    string // with %s for the database name
	admin  *pgxpool.Pool
	stop   func()
	nextDB atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster.stop != nil {
		cluster.stop()
	}
	os.Exit(code)
}

// postgresDSN returns the URL of a new database with River migrated and a
// products table, dropped when the test ends. Without Postgres it skips the
// test, or fails it when CI is set.
func postgresDSN(t testing.TB) string {
	t.Helper()
	cluster.once.Do(func() { cluster.err = startCluster() })
	if cluster.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required in CI: %v", cluster.err)
		}
		t.Skipf("skipping: PostgreSQL could not be started (%v). Install PostgreSQL (initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin) to run this test; with CI=true it fails instead", cluster.err)
	}
	ctx := context.Background()
	name := fmt.Sprintf("test_%d", cluster.nextDB.Add(1))
	if _, err := cluster.admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE lisa_template"); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := cluster.admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	return fmt.Sprintf(cluster.dsn, name)
}

// newPostgres returns a backend on a fresh Postgres database, with pgx.
func newPostgres(t *testing.T) *backend[pgx.Tx] {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	driver := riverpgxv5.New(pool)
	rc, err := river.NewClient(driver, &river.Config{}) // insert-only
	if err != nil {
		t.Fatal(err)
	}
	return &backend[pgx.Tx]{
		driver: driver,
		update: func(ctx context.Context, key, payload string, insert river.JobArgs, commit bool) (*rivertype.JobInsertResult, error) {
			return updateProduct(ctx, pool, rc, key, payload, insert, commit)
		},
		load: rawLoader(func(ctx context.Context, key string) (string, error) {
			var p string
			err := pool.QueryRow(ctx, `SELECT payload FROM products WHERE id = $1`, key).Scan(&p)
			return p, err
		}),
	}
}

// updateProduct sets a product's payload and inserts a job in the same
// transaction, as an application would.
func updateProduct(ctx context.Context, pool *pgxpool.Pool, rc *river.Client[pgx.Tx], key, payload string, insert river.JobArgs, commit bool) (*rivertype.JobInsertResult, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO products (id, payload) VALUES ($1, $2)
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
		return res, tx.Rollback(ctx)
	}
	return res, tx.Commit(ctx)
}

// pgProgram finds a PostgreSQL program on PATH or where Debian puts it.
func pgProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin", name)
}

// startCluster runs initdb and pg_ctl start, as a non-root user when running
// as root (initdb refuses root), and prepares the template database.
func startCluster() (err error) {
	initdb, err := pgProgram("initdb")
	if err != nil {
		return err
	}
	pgCtl, err := pgProgram("pg_ctl")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "lisariver-pg-")
	if err != nil {
		return err
	}
	cluster.dir = dir
	var asUser []string // the command prefix that drops root
	if os.Geteuid() == 0 {
		if asUser, err = dropRoot(dir); err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
	run := func(name string, args ...string) error {
		cmd := exec.Command(name, args...)
		if asUser != nil {
			cmd = exec.Command(asUser[0], append(append(asUser[1:], name), args...)...)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(name), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	stopCmd := []string{pgCtl, "-D", data, "-m", "immediate", "-w", "stop"}
	cluster.stop = func() {
		_ = run(stopCmd[0], stopCmd[1:]...)
		os.RemoveAll(dir)
	}
	// Should this process die without running TestMain's cleanup (a panic,
	// the test timeout), a watchdog stops the cluster a second later.
	watchdog := exec.Command("sh", "-c", `while kill -0 "$1" 2>/dev/null; do sleep 1; done; shift; "$@" >/dev/null 2>&1; rm -rf "$0"`,
		dir, strconv.Itoa(os.Getpid()))
	watchdog.Args = append(watchdog.Args, append(asUser, stopCmd...)...)
	watchdog.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := watchdog.Start(); err != nil {
		return err
	}
	go watchdog.Wait()
	defer func() {
		if err != nil {
			cluster.stop()
			cluster.stop = nil
		}
	}()
	if err := run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		return err
	}
	var port int
	for try := 0; ; try++ { // a free port can be taken before pg_ctl binds it
		if port, err = freePort(); err != nil {
			return err
		}
		// Durability off: the cluster is thrown away.
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c max_connections=200 -F -c synchronous_commit=off -c full_page_writes=off", port, dir)
		if err = run(pgCtl, "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err == nil {
			break
		}
		if try == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return fmt.Errorf("%v; log: %s", err, log)
		}
	}
	cluster.dsn = "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/%s?sslmode=disable"

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cluster.admin, err = pgxpool.New(ctx, fmt.Sprintf(cluster.dsn, "postgres")); err != nil {
		return err
	}
	stopServer := cluster.stop
	cluster.stop = func() { cluster.admin.Close(); stopServer() }
	if _, err := cluster.admin.Exec(ctx, "CREATE DATABASE lisa_template"); err != nil {
		return err
	}
	return prepareTemplate(ctx, fmt.Sprintf(cluster.dsn, "lisa_template"))
}

// prepareTemplate migrates River and creates the products table.
func prepareTemplate(ctx context.Context, dsn string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close() // a template database must have no connections
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River: %w", err)
	}
	_, err = pool.Exec(ctx, `CREATE TABLE products (id text PRIMARY KEY, payload text NOT NULL)`)
	return err
}

// dropRoot gives dir to the postgres user (or nobody) and returns the
// command prefix that runs a program as that user.
func dropRoot(dir string) ([]string, error) {
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		return nil, errors.New("running as root and runuser is not available to drop root for initdb")
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		return []string{runuser, "-u", name, "--"}, nil
	}
	return nil, errors.New("running as root and neither user postgres nor nobody exists to run initdb")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
