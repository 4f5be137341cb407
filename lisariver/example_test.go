package lisariver_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// A product update and its notification job in one transaction, on SQLite;
// the worker delivers the product as it is when the job runs.
func ExampleNewWorker() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "lisariver-example-")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop.db")+sqliteDSN)
	defer db.Close()
	db.SetMaxOpenConns(4) // at least 2: the worker loads again while completing a job
	driver := riversqlite.New(db)
	migrator, _ := rivermigrate.New(driver, nil)
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		fmt.Println(err)
		return
	}
	db.ExecContext(ctx, `CREATE TABLE products (id TEXT PRIMARY KEY, price REAL NOT NULL)`)

	srv := lisatest.NewServer("plugin", "key", "secret") // stands in for LiSA
	defer srv.Close()
	client, _ := lisa.NewClient("plugin", "key", "secret", lisa.WithBaseURL(srv.URL))
	load := func(ctx context.Context, id string) (any, error) {
		var price float64
		err := db.QueryRowContext(ctx, `SELECT price FROM products WHERE id = ?`, id).Scan(&price)
		return map[string]any{"productId": id, "price": price}, err
	}
	worker, err := lisariver.NewWorker(client, load)
	if err != nil {
		fmt.Println(err)
		return
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	riverClient, err := river.NewClient(driver, &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers: workers,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	tx, _ := db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `INSERT INTO products (id, price) VALUES ('sku-1', 19.99)`)
	riverClient.InsertTx(ctx, tx, lisariver.NotifyArgs{Key: "sku-1"}, nil)
	if err := tx.Commit(); err != nil {
		fmt.Println(err)
		return
	}

	done, cancel := riverClient.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	riverClient.Start(ctx)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	riverClient.Stop(ctx)
	for _, n := range srv.Received() {
		fmt.Println(string(n.Body))
	}
	// Output: {"price":19.99,"productId":"sku-1"}
}
