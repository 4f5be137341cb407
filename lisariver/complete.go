package lisariver

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
)

// completeUnlessChanged ends a NotifyArgs job after its notification was
// accepted: completed when the product is unchanged, run again at once
// (river.JobSnooze(0)) when it changed.
//
// Why a transaction: an update committed while the job runs is not inserted
// (the running job makes it a duplicate), so this job must notice it. Were it
// to compare first and let River complete it afterwards, an update committed
// in between would be lost. So the job is marked completed first, in a
// transaction that holds its row, and only then is the payload loaded again:
//
//   - an insert that was skipped as a duplicate locked the job's row (River
//     inserts with ON CONFLICT DO UPDATE on Postgres; SQLite has one writer),
//     so marking the job waits until that transaction committed, and the
//     second load sees its update;
//   - an insert that comes later waits for this transaction and then finds
//     no waiting or running job: it inserts a new one.
//
// When the payload changed, the transaction is rolled back and the job is
// snoozed, so it stays running until River reschedules it: a crash at any
// point leaves a job to rescue. The second load runs on a connection of its
// own while the transaction holds one, so the pool needs at least two (on
// SQLite too), and Worker lets one job at a time do this: jobs holding
// transactions could otherwise take every connection and wait for each
// other. It takes a few milliseconds: the completing transaction, one load,
// the commit.
func completeUnlessChanged(ctx context.Context, job *river.Job[NotifyArgs], changed func(context.Context) (bool, error)) error {
	if c, err := river.ClientFromContextSafely[pgx.Tx](ctx); err == nil {
		return completeInTx(ctx, c, job, changed)
	}
	if c, err := river.ClientFromContextSafely[*sql.Tx](ctx); err == nil {
		return completeInTx(ctx, c, job, changed)
	}
	// No River client in the context (a worker called directly, as
	// rivertest does): compare and let the caller complete the job.
	ch, err := changed(ctx)
	switch {
	case err != nil:
		return err
	case ch:
		return river.JobSnooze(0)
	}
	return nil
}

func completeInTx[TTx any](ctx context.Context, c *river.Client[TTx], job *river.Job[NotifyArgs], changed func(context.Context) (bool, error)) error {
	driver := c.Driver()
	execTx, err := driver.GetExecutor().Begin(ctx)
	if err != nil {
		return fmt.Errorf("lisa: completing job %d: %w", job.ID, err)
	}
	defer execTx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := river.JobCompleteTx[riverdriver.Driver[TTx]](ctx, driver.UnwrapTx(execTx), job); err != nil {
		return fmt.Errorf("lisa: completing job %d: %w", job.ID, err)
	}
	ch, err := changed(ctx)
	switch {
	case err != nil:
		return err
	case ch:
		return river.JobSnooze(0) // after the deferred rollback
	}
	if err := execTx.Commit(ctx); err != nil {
		return fmt.Errorf("lisa: completing job %d: %w", job.ID, err)
	}
	return nil
}
