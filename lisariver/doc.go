// Package lisariver delivers LiSA product-update notifications durably and
// transactionally with River (github.com/riverqueue/river), the Go job queue
// on Postgres, or on SQLite for one machine.
//
// # Transactional enqueue
//
// Insert the job with River's own API in the transaction that changes the
// product (River's tables must exist: run rivermigrate first). It exists only if that transaction commits, and River keeps it
// until LiSA accepted it, across crashes, restarts and outages:
//
//	tx, _ := pool.Begin(ctx)
//	// … UPDATE products SET price = … WHERE id = $1 …
//	_, err := riverClient.InsertTx(ctx, tx, lisariver.NotifyArgs{Key: id}, nil)
//	// … tx.Commit(ctx)
//
// Two kinds of job:
//
//   - NotifyArgs{Key} (kind "lisa_notify", handled by NewWorker): the worker
//     asks a Loader for the product's payload as it is when the job runs.
//     Jobs are unique by Key while waiting or running, so ten updates of a
//     product made while its job waits are one notification of the latest
//     state.
//   - SendArgs{Body} (kind "lisa_send", handled by NewSendWorker): the job
//     carries the JSON body, kept as bytes and sent exactly as given. Every
//     job is sent; nothing coalesces.
//
// # Updates made while a job runs
//
// River does not insert a unique job while one with the same key runs, so an
// update committed during a send would be lost by a naive worker. Worker
// notices it and runs the job again at once (river.JobSnooze(0)) to send the
// latest state. The guarantee is exact because an insert skipped as a
// duplicate writes the job's row and holds it until its transaction commits
// (River inserts with ON CONFLICT DO UPDATE on Postgres; SQLite has one
// writer). Insert with Insert, InsertTx, InsertMany or InsertManyTx; the
// InsertManyFast variants cannot coalesce.
//
// On Postgres the Worker reads the version (xmin) of its job's row before it
// loads the payload, and after LiSA accepted the notification completes the
// job only if the row is still that version (the jobs of a process that
// finish together share one statement). A newer
// version means an update was skipped as a duplicate: the job runs again. An
// update committed before the version was read is in the payload loaded after
// it; one still open when the job completes holds the row, so the completion
// waits for it and then sees the new version. No transaction is held and the
// payload is loaded once.
//
// On SQLite the Worker marks its job completed in a transaction, loads the
// payload again on a second connection and, when it changed, rolls back and
// runs the job again. The pool needs at least two connections: with one
// (riversqlite suggests SetMaxOpenConns(1)) the second load would wait for
// the transaction forever, so a Worker checks, before its first send, that a
// second connection comes within 3 s while a transaction holds one; if not,
// the job fails with an error saying the pool needs two connections, and
// River keeps it and retries. One job at a time per Worker holds that
// transaction, for a few milliseconds.
//
// # Outcomes
//
// Each run of a job is one lisa.Client.Send, and its result decides what
// River does:
//
//	202                                          job completed
//	400, 413, 422, invalid or oversize payload   river.JobCancel: about this payload only,
//	                                             never retried; the error is kept on the job
//	401, 403, 404 (the answer fails every        the plugin is paused for the whole fleet
//	request of the plugin)                       and the job snoozed: see Broken credentials
//	429 or 503 with a Retry-After the client     the plugin is paused for the whole fleet for
//	did not wait out                             that long, at most MaxSnooze, and the job
//	                                             snoozed as long (no attempt used up)
//	5xx, 429, transport errors, timeouts,        the error: River retries with backoff
//	other answers, the Loader's error
//
// No snooze is longer than MaxSnooze (lisa.MaxRetryAfter, 2 minutes): a
// Retry-After of 99999999999 or of 1500 (seconds, as RFC 9110 and the core
// read it) snoozes the job for 2 minutes, and it looks again then.
//
// # Broken credentials
//
// A 401, 403 or 404 fails every request of the plugin the same way (wrong
// key or secret, missing scope, wrong plugin id), so the fleet stops sending
// for that plugin instead of spending one request per job: the job that got
// it records a pause in the plugin's row of the table lisa_plugin (see
// PluginTable), and every job of the plugin, in every process, snoozes while
// it lasts. No job is cancelled, so River's cleaner deletes none. Every
// probe interval (WithProbeInterval, 30 s by default) one job of the fleet
// tries again: a secret fixed on LiSA's side is noticed by that probe, and a
// process restarted with the right secret is the prober once the interval
// has passed. The probe's success ends the pause and wakes the plugin's
// snoozed jobs. While the pause lasts the fleet sends the requests already
// under way when the first answer came (at most one per River worker), then
// one per probe interval.
//
// # How the two layers of retries combine
//
// A Send makes up to 1 + the client's retries requests (lisa's default: 3
// retries, so 4 requests, 500 ms to 30 s apart), all within the job's
// timeout (River's JobTimeout, 1 minute by default): the client does not
// start a retry that cannot end before the deadline. When they all fail,
// River retries the job after attempt⁴ seconds (1 s, 16 s, 81 s, …) up to
// its MaxAttempts (25 by default) and then discards it. With the defaults a
// notification that never gets through costs at most 25 × 4 = 100 requests
// spread over about three weeks. Snoozes on Retry-After do not use up
// attempts: the server asked for them. Lower either layer with
// lisa.WithMaxRetries or River's MaxAttempts (river.Config or InsertOpts).
//
// # Seeing what was cancelled
//
// Cancelled and discarded jobs stay in river_job, with one entry per failed
// attempt in its errors column, until River's job cleaner removes them
// (CancelledJobRetentionPeriod, 24 hours by default):
//
//	SELECT id, kind, args, finalized_at, errors[cardinality(errors)] ->> 'error' AS last_error
//	FROM river_job
//	WHERE state IN ('cancelled', 'discarded') AND kind LIKE 'lisa_%'
//	ORDER BY id DESC;
//
// (On SQLite: json_extract(errors, '$[#-1].error').) riverClient.JobRetry(ctx,
// id) sends a job again once the cause is fixed.
//
// # A fleet: rate limit, Retry-After, many plugins
//
// The worker processes of a fleet share, per plugin, a pause and a rate
// limit through one row of the table lisa_plugin (PluginTable), on the
// database's clock.
//
// A 429 or 503 with a Retry-After that reaches the worker (the client did not
// wait it out: lisa.WithMaxRetries(0), a wait over lisa.MaxRetryAfter, or one
// past the job's deadline) pauses the plugin for every process until it has
// passed, at most MaxSnooze; the jobs snooze meanwhile. A client that waits
// out a Retry-After itself holds its own process only.
//
// WithRateLimit(perSecond, burst) limits each plugin's sends, across every
// process, to perSecond·t + burst in any t seconds: each job reserves the
// next free slot with one statement; a slot less than a second away is
// waited for in the worker, a later one snoozes the job. Slots are taken per
// job, not per client retry.
//
// A platform that serves many shops runs one fleet: a job names its plugin
// (NotifyArgs.Plugin, SendArgs.Plugin) and WithClients returns that plugin's
// client. Pauses, probes and rate limits are per plugin, so one shop's broken
// secret or 429 holds only its own jobs. A job that names no plugin uses the
// worker's own client.
//
// # Crashes
//
// A worker that dies mid-send leaves its job running; River's rescuer makes
// it available again once it has run longer than RescueStuckJobsAfter (an
// hour by default: set it a little above JobTimeout). Only River's leader
// rescues, every 30 s, and a dead leader is replaced within about 15 s, so
// redelivery takes RescueStuckJobsAfter plus up to about 50 s. The
// notification is then sent again: delivery is at least once, and every
// attempt of one Send carries the same X-Request-Id. Any number of worker
// processes can share one Postgres database; River hands each job to one of
// them. README.md in this directory shows a worker process to paste and the
// River settings that matter.
package lisariver
