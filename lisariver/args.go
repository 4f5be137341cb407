package lisariver

import (
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// NotifyArgs is the job: notify LiSA that the product with this key changed.
// The worker loads the payload when it runs (see Loader), so a job carries no
// state and any number of updates to one product coalesce into one job:
// NotifyArgs is unique by Key while a job for that key waits (available,
// scheduled, retryable, pending) or runs. A completed, cancelled or discarded
// job does not block a new one.
type NotifyArgs struct {
	// Key identifies the product; it is passed to the Loader.
	Key string `json:"key" river:"unique"`
	// Plugin names the plugin to notify, for fleets that deliver for many
	// (see WithClients); empty means the worker's own client. Jobs of one
	// Key for different plugins are different jobs.
	Plugin string `json:"plugin,omitempty" river:"unique"`
}

// Kind returns "lisa_notify", the job kind in River's tables.
func (NotifyArgs) Kind() string { return "lisa_notify" }

// InsertOpts makes NotifyArgs unique by Key while waiting or running.
func (NotifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{
			rivertype.JobStateAvailable,
			rivertype.JobStatePending,
			rivertype.JobStateRetryable,
			rivertype.JobStateRunning,
			rivertype.JobStateScheduled,
		},
	}}
}

// SendArgs carries the payload itself: every job is delivered, no coalescing.
//
// Body is kept as bytes (base64 in the job's JSON args) because River stores
// args as JSON, jsonb on Postgres, which would reformat or reorder a raw JSON
// body: what was given is what is signed and sent, byte for byte.
type SendArgs struct {
	// Body is the notification's JSON body, sent as is.
	Body []byte `json:"body"`
	// Plugin names the plugin to notify, as NotifyArgs.Plugin.
	Plugin string `json:"plugin,omitempty"`
}

// Kind returns "lisa_send", the job kind in River's tables.
func (SendArgs) Kind() string { return "lisa_send" }
