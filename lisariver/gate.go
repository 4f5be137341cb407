package lisariver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
)

// PluginTable is the statement that creates the table in which the worker
// processes of a fleet share, per plugin, a pause and a rate limit. A Worker
// runs it (it does nothing when the table exists) the first time it works a
// job; a database role that may not create tables needs it run once by one
// that may, next to River's migrations. It is the same on Postgres and
// SQLite. Times are milliseconds since 1970 on the database's clock, so that
// the machines of a fleet need not agree on the time.
const PluginTable = `CREATE TABLE IF NOT EXISTS lisa_plugin (
	plugin       text PRIMARY KEY,
	paused_until bigint NOT NULL DEFAULT 0,
	pause_reason text NOT NULL DEFAULT '',
	next_at      double precision NOT NULL DEFAULT 0
)`

// Why a plugin is paused (lisa_plugin.pause_reason).
const (
	// pausedCredentials: an answer that fails every request of the plugin.
	// The pause does not end by itself: when it is over, one job claims a
	// probe (pausedProbing), and only the probe's success clears it.
	pausedCredentials = "credentials"
	// pausedProbing: a credentials pause whose probe is under way; the
	// other jobs look again a second later, and again once paused_until
	// has passed (the prober died).
	pausedProbing = "probing"
	// pausedRetryAfter: a 429 or 503 with Retry-After; it ends by itself.
	pausedRetryAfter = "retry-after"
)

// gate is the fleet-wide state of the plugins in one database, seen from one
// process: the statements of its dialect and the plugins whose row this
// process has made sure exists.
type gate struct {
	exec   riverdriver.Executor
	sqlite bool
	writes chan struct{} // see writing

	mu    sync.Mutex
	ready bool            // the table exists
	rows  map[string]bool // plugins whose row exists
	// completions waiting for a statement, and whether one runs
	cmu      sync.Mutex
	pending  []completion
	flushing bool
}

// gates holds one gate per database (River driver) this process works for.
type gates struct {
	mu sync.Mutex
	m  map[any]*gate
}

// from returns the gate of the River client that runs the job, or nil when
// there is none (a worker called directly, as rivertest does).
func (gs *gates) from(ctx context.Context) *gate {
	var (
		key    any
		exec   riverdriver.Executor
		sqlite bool
	)
	if c, err := river.ClientFromContextSafely[pgx.Tx](ctx); err == nil {
		key, exec, sqlite = c, c.Driver().GetExecutor(), c.Driver().DatabaseName() == riverdriver.DatabaseNameSQLite
	} else if c, err := river.ClientFromContextSafely[*sql.Tx](ctx); err == nil {
		key, exec, sqlite = c, c.Driver().GetExecutor(), c.Driver().DatabaseName() == riverdriver.DatabaseNameSQLite
	} else {
		return nil
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g := gs.m[key]; g != nil {
		return g
	}
	if gs.m == nil {
		gs.m = map[any]*gate{}
	}
	g := &gate{exec: exec, sqlite: sqlite, rows: map[string]bool{}, writes: make(chan struct{}, 1)}
	gs.m[key] = g
	return g
}

// q adapts a statement written for Postgres ($1 parameters, NOW for the
// database's time in milliseconds, GREATEST) to the gate's dialect.
func (g *gate) q(stmt string) string {
	if g.sqlite {
		return strings.NewReplacer("$", "?", "NOW", "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
			"GREATEST(", "max(").Replace(stmt)
	}
	return strings.ReplaceAll(stmt, "NOW", "(extract(epoch FROM now()) * 1000)::bigint")
}

// writing lets one statement or transaction of this process at a time
// write to a SQLite database, which has one writer anyway. Without it, jobs
// waiting for SQLite's write lock could hold every connection of the pool
// while the one holding the lock (a completing job) needs one more for its
// second load, and all would wait for SQLite's busy timeout. On Postgres it
// does nothing.
func (g *gate) writing(ctx context.Context) (release func(), err error) {
	if !g.sqlite {
		return func() {}, nil
	}
	select {
	case g.writes <- struct{}{}:
		return func() { <-g.writes }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// write runs one writing statement under writing.
func (g *gate) write(ctx context.Context, stmt string, args ...any) error {
	release, err := g.writing(ctx)
	if err != nil {
		return err
	}
	defer release()
	return g.exec.Exec(ctx, stmt, args...)
}

// writeRow is write for a statement that returns a row, scanned into dest.
func (g *gate) writeRow(ctx context.Context, dest []any, stmt string, args ...any) error {
	release, err := g.writing(ctx)
	if err != nil {
		return err
	}
	defer release()
	return g.exec.QueryRow(ctx, stmt, args...).Scan(dest...)
}

// ensure creates the table and the plugin's row when this process has not
// yet seen them.
func (g *gate) ensure(ctx context.Context, plugin string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ready {
		// Two processes creating the table at once can make one fail on
		// Postgres (a duplicate type name); the table exists after that.
		if err := g.write(ctx, PluginTable); err != nil && g.write(ctx, PluginTable) != nil {
			return fmt.Errorf("lisa: creating table lisa_plugin: %w", err)
		}
		g.ready = true
	}
	if !g.rows[plugin] {
		if err := g.write(ctx, g.q(`INSERT INTO lisa_plugin (plugin) VALUES ($1) ON CONFLICT (plugin) DO NOTHING`), plugin); err != nil {
			return fmt.Errorf("lisa: adding plugin %q to lisa_plugin: %w", plugin, err)
		}
		g.rows[plugin] = true
	}
	return nil
}

// admission is what the gate allows one job to do now.
type admission struct {
	version string        // on Postgres, the job row's version (see jobVersion), read in passing
	wait    time.Duration // send after this wait (a rate-limit slot reserved)
	snooze  time.Duration // do not send: the plugin is paused or its rate used up
	probe   bool          // send as the probe of a credentials pause
}

// rateLimit is a fleet-wide limit of requests per second per plugin.
type rateLimit struct {
	perSecond float64
	burst     int
}

// maxSlotWait is how long a job may wait in its worker for a reserved
// rate-limit slot; a job whose slot would be later snoozes instead.
const maxSlotWait = time.Second

// admit decides whether a job of plugin may send now. Without a rate limit
// it reads the plugin's row; with one it reserves the next free slot in one
// statement: next_at is when the slot after the last reserved one starts,
// and a slot is 1/perSecond long, so the fleet never sends more than
// perSecond·t + burst requests in any t seconds.
//
// When jobID is not 0, the same statement reads the job row's version on
// Postgres (see jobVersion), saving a round trip per job.
func (g *gate) admit(ctx context.Context, plugin string, jobID int64, limit rateLimit, probeEvery time.Duration) (admission, error) {
	if err := g.ensure(ctx, plugin); err != nil {
		return admission{}, err
	}
	if limit.perSecond > 0 {
		slot := 1000 / limit.perSecond // milliseconds
		var (
			wait    float64
			version string
		)
		err := g.writeRow(ctx, []any{&wait, &version}, g.q(`UPDATE lisa_plugin
			SET next_at = GREATEST(next_at, NOW - CAST($2 AS double precision)) + CAST($3 AS double precision)
			WHERE plugin = $1 AND pause_reason NOT IN ('credentials', 'probing') AND paused_until <= NOW
				AND GREATEST(next_at, NOW - CAST($2 AS double precision)) <= NOW + CAST($4 AS double precision)
			RETURNING next_at - CAST($3 AS double precision) - NOW, `+g.version(5)),
			plugin, slot*float64(limit.burst-1), slot, float64(maxSlotWait.Milliseconds()), jobID)
		switch {
		case err == nil:
			return admission{wait: time.Duration(max(wait, 0) * float64(time.Millisecond)), version: version}, nil
		case !isNoRows(err):
			return admission{}, fmt.Errorf("lisa: reserving a request of plugin %q: %w", plugin, err)
		}
	}
	var (
		pausedFor int64
		reason    string
		slotIn    float64
		version   string
	)
	if err := g.exec.QueryRow(ctx, g.q(`SELECT paused_until - NOW, pause_reason, next_at - NOW, `+g.version(2)+`
		FROM lisa_plugin WHERE plugin = $1`), plugin, jobID).Scan(&pausedFor, &reason, &slotIn, &version); err != nil {
		return admission{}, fmt.Errorf("lisa: reading the state of plugin %q: %w", plugin, err)
	}
	switch {
	case pausedFor > 0: // a probe's success wakes the plugin's jobs before then
		return admission{snooze: time.Duration(pausedFor) * time.Millisecond}, nil
	case reason == pausedCredentials || reason == pausedProbing:
		return g.claimProbe(ctx, plugin, probeEvery)
	case limit.perSecond > 0: // the free slots are taken for the next second
		return admission{snooze: time.Duration(max(slotIn, 1) * float64(time.Millisecond))}, nil
	}
	return admission{version: version}, nil
}

// version is the expression that reads the version of the job whose id is
// parameter n: on Postgres its xmin ("" for no job), on SQLite nothing.
func (g *gate) version(n int) string {
	if g.sqlite {
		return fmt.Sprintf("CAST($%d AS text)", n)
	}
	return fmt.Sprintf("coalesce((SELECT xmin::text FROM river_job WHERE id = $%d), '')", n)
}

// claimProbe lets one job of the fleet send while a credentials pause is
// over, and pauses every other job for probeEvery more.
func (g *gate) claimProbe(ctx context.Context, plugin string, probeEvery time.Duration) (admission, error) {
	var one int
	err := g.writeRow(ctx, []any{&one}, g.q(`UPDATE lisa_plugin SET paused_until = NOW + CAST($2 AS bigint), pause_reason = 'probing'
		WHERE plugin = $1 AND pause_reason IN ('credentials', 'probing') AND paused_until <= NOW
		RETURNING 1`), plugin, probeEvery.Milliseconds())
	switch {
	case err == nil:
		return admission{probe: true}, nil
	case isNoRows(err): // another job claimed it: wait for its answer, or for the next probe
		return admission{snooze: probeEvery}, nil
	}
	return admission{}, fmt.Errorf("lisa: claiming a probe of plugin %q: %w", plugin, err)
}

// pause holds every job of plugin in the fleet for d: for a credentials
// pause until a probe succeeds, for a Retry-After pause until d has passed
// (a longer pause already set is kept).
func (g *gate) pause(ctx context.Context, plugin, reason string, d time.Duration) error {
	if err := g.ensure(ctx, plugin); err != nil {
		return err
	}
	stmt := `UPDATE lisa_plugin SET paused_until = NOW + CAST($2 AS bigint), pause_reason = $3 WHERE plugin = $1`
	if reason == pausedRetryAfter {
		stmt = `UPDATE lisa_plugin SET paused_until = GREATEST(paused_until, NOW + CAST($2 AS bigint)),
			pause_reason = CASE WHEN pause_reason IN ('credentials', 'probing') THEN 'credentials' ELSE $3 END
			WHERE plugin = $1`
	}
	if err := g.write(ctx, g.q(stmt), plugin, d.Milliseconds(), reason); err != nil {
		return fmt.Errorf("lisa: pausing plugin %q: %w", plugin, err)
	}
	return nil
}

// resume ends a credentials pause of plugin (a probe went through) and
// wakes the plugin's snoozed jobs: they were snoozed for a probe interval
// and need not wait it out. River's scheduler makes the scheduled ones
// available; a short snooze is already available, from scheduled_at on.
func (g *gate) resume(ctx context.Context, plugin string) error {
	if err := g.write(ctx, g.q(`UPDATE lisa_plugin SET paused_until = 0, pause_reason = ''
		WHERE plugin = $1 AND pause_reason IN ('credentials', 'probing')`), plugin); err != nil {
		return fmt.Errorf("lisa: resuming plugin %q: %w", plugin, err)
	}
	wake := `UPDATE river_job SET scheduled_at = now()
		WHERE state IN ('scheduled', 'available') AND scheduled_at > now()
			AND kind IN ('lisa_notify', 'lisa_send') AND coalesce(args ->> 'plugin', '') = $1`
	if g.sqlite {
		wake = `UPDATE river_job SET scheduled_at = datetime('now', 'subsec')
		WHERE state IN ('scheduled', 'available') AND scheduled_at > datetime('now', 'subsec')
			AND kind IN ('lisa_notify', 'lisa_send') AND coalesce(json_extract(args, '$.plugin'), '') = ?1`
	}
	if err := g.write(ctx, wake, plugin); err != nil {
		return fmt.Errorf("lisa: waking the jobs of plugin %q: %w", plugin, err)
	}
	return nil
}

func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// jobVersion returns the Postgres row version (xmin) of a running job. A
// unique insert skipped as a duplicate of the job updates its row (River
// inserts with ON CONFLICT DO UPDATE), so a new version means that an update
// of the product came while the job ran.
func (g *gate) jobVersion(ctx context.Context, id int64) (string, error) {
	var v string
	if err := g.exec.QueryRow(ctx, `SELECT xmin::text FROM river_job WHERE id = $1`, id).Scan(&v); err != nil {
		return "", fmt.Errorf("lisa: reading job %d: %w", id, err)
	}
	return v, nil
}

// completeIfUnchanged marks a running job completed, as River would, unless
// its row has a newer version than v: then it reports false and leaves the
// job running. An insert skipped as a duplicate that has not committed yet
// holds the row, so this waits for it and then sees the new version.
//
// The jobs of one process that complete at the same time share one
// statement (group commit: the jobs that arrive while a statement runs go in
// the next), as River's own completer batches its updates: a statement per
// job would cost the database several times River's work per job.
func (g *gate) completeIfUnchanged(ctx context.Context, id int64, v string) (bool, error) {
	c := completion{id: id, version: v, done: make(chan error, 1)}
	g.cmu.Lock()
	g.pending = append(g.pending, c)
	if !g.flushing {
		g.flushing = true
		go g.flush(context.WithoutCancel(ctx))
	}
	g.cmu.Unlock()
	select {
	case err := <-c.done:
		if errors.Is(err, errChanged) {
			return false, nil
		}
		return err == nil, err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// completion is one job waiting for completeIfUnchanged's statement.
type completion struct {
	id      int64
	version string
	done    chan error // nil, errChanged or the statement's error
}

var errChanged = errors.New("lisa: the job's row changed")

// flush runs the pending completions, a statement at a time, until none is
// left.
func (g *gate) flush(ctx context.Context) {
	for {
		g.cmu.Lock()
		batch := g.pending
		g.pending = nil
		if len(batch) == 0 {
			g.flushing = false
			g.cmu.Unlock()
			return
		}
		g.cmu.Unlock()
		ids := make([]string, len(batch))
		versions := make([]string, len(batch))
		for i, c := range batch {
			ids[i], versions[i] = strconv.FormatInt(c.id, 10), c.version
		}
		// Lists as text, so that any Postgres driver can pass them.
		var completed string
		err := g.exec.QueryRow(ctx, `WITH done AS (
			UPDATE river_job SET state = 'completed', finalized_at = now()
			FROM unnest(string_to_array($1, ',')::bigint[], string_to_array($2, ',')) AS c(id, version)
			WHERE river_job.id = c.id AND river_job.state = 'running' AND river_job.xmin::text = c.version
			RETURNING river_job.id)
			SELECT coalesce(string_agg(id::text, ','), '') FROM done`,
			strings.Join(ids, ","), strings.Join(versions, ",")).Scan(&completed)
		if err != nil {
			err = fmt.Errorf("lisa: completing %d jobs: %w", len(batch), err)
		}
		done := map[string]bool{}
		for _, id := range strings.Split(completed, ",") {
			done[id] = true
		}
		for i, c := range batch {
			switch {
			case err != nil:
				c.done <- err
			case done[ids[i]]:
				c.done <- nil
			default:
				c.done <- errChanged
			}
		}
	}
}
