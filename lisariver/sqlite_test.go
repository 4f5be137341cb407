package lisariver_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

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
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "lisa.db")+sqliteDSN)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4) // the worker loads again while completing: at least 2
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
