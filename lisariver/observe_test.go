package lisariver_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// The README's query for cancelled jobs runs on Postgres and says why.
func TestReadmeCancelledQuery(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Seeing what was cancelled")
	if !ok {
		t.Fatal("README has no section on cancelled jobs")
	}
	_, block, ok := strings.Cut(section, "```sql\n")
	query, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("that section has no sql block")
	}

	ctx := context.Background()
	pool, _ := pgApp(t, postgresDSN(t))
	_, c := newLisa(t)
	b := &backend[pgx.Tx]{driver: riverpgxv5.New(pool)}
	rc := riverClient(t, b, notifyWorkers(t, c, newWorker(t, c, func(context.Context, string) (any, error) { return nil, nil })))
	res, err := rc.Insert(ctx, lisariver.SendArgs{Body: []byte(`{"price":`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start(t, rc)
	waitJob(t, rc, res.Job.ID, rivertype.JobStateCancelled)

	rows, err := pool.Query(ctx, query)
	if err != nil {
		t.Fatalf("the README's query: %v\n%s", err, query)
	}
	type row struct {
		ID        int64
		Kind      string
		LastError string
	}
	var got []row
	for rows.Next() {
		var r row
		var args, finalized any
		if err := rows.Scan(&r.ID, &r.Kind, &args, &finalized, &r.LastError); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != res.Job.ID || got[0].Kind != "lisa_send" ||
		!strings.Contains(got[0].LastError, "invalid payload: body is not valid JSON") {
		t.Errorf("the README's query found %+v, want job %d (lisa_send) with the reason", got, res.Job.ID)
	}
}
