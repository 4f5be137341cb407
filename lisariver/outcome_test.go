package lisariver_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisariver"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Each answer or failure ends the job's attempt in River's matching outcome,
// with the reason kept on the job.
func TestOutcomes(t *testing.T) {
	oversize := []byte(`{"pad":"` + strings.Repeat("x", lisa.MaxPayloadBytes) + `"}`)
	errDB := errors.New("database is down")
	var failed atomic.Bool
	cases := []struct {
		name     string
		fault    *lisatest.Fault
		args     river.JobArgs
		load     lisariver.Loader // nil: the product's payload
		nilWork  bool             // a worker made without NewWorker
		state    rivertype.JobState
		attempt  int    // the job's attempt count afterwards; -1: any
		errText  string // in the job's last error ("" for none)
		requests int    // requests the server got
		// the snooze's bounds: from the job's start to its new schedule
		snoozeMin, snoozeMax time.Duration
	}{
		{name: "202 completes", args: lisariver.NotifyArgs{Key: "p1"},
			state: rivertype.JobStateCompleted, attempt: 1, requests: 1},
		{name: "400 cancels", fault: &lisatest.Fault{Status: 400}, args: lisariver.NotifyArgs{Key: "p1"},
			state: rivertype.JobStateCancelled, attempt: 1, errText: "400 Bad Request", requests: 1},
		// An answer that fails every request of the plugin keeps the job:
		// it waits for the next probe of the plugin's credentials.
		{name: "401 snoozes until the next probe", fault: &lisatest.Fault{Status: 401}, args: lisariver.SendArgs{Body: []byte(`{"a":1}`)},
			state: rivertype.JobStateScheduled, attempt: 0, requests: 1,
			snoozeMin: lisariver.DefaultProbeInterval, snoozeMax: lisariver.DefaultProbeInterval * 11 / 10},
		{name: "403 snoozes until the next probe", fault: &lisatest.Fault{Status: 403}, args: lisariver.NotifyArgs{Key: "p1"},
			state: rivertype.JobStateScheduled, attempt: 0, requests: 1,
			snoozeMin: lisariver.DefaultProbeInterval, snoozeMax: lisariver.DefaultProbeInterval * 11 / 10},
		{name: "404 snoozes until the next probe", fault: &lisatest.Fault{Status: 404}, args: lisariver.NotifyArgs{Key: "p1"},
			state: rivertype.JobStateScheduled, attempt: 0, requests: 1,
			snoozeMin: lisariver.DefaultProbeInterval, snoozeMax: lisariver.DefaultProbeInterval * 11 / 10},
		{name: "422 cancels", fault: &lisatest.Fault{Status: 422}, args: lisariver.NotifyArgs{Key: "p1"},
			state: rivertype.JobStateCancelled, attempt: 1, errText: "422", requests: 1},
		{name: "413 answer cancels", fault: &lisatest.Fault{Status: 413}, args: lisariver.SendArgs{Body: []byte(`{"a":1}`)},
			state: rivertype.JobStateCancelled, attempt: 1, errText: "413", requests: 1},
		{name: "oversize body cancels unsent", args: lisariver.SendArgs{Body: oversize},
			state: rivertype.JobStateCancelled, attempt: 1, errText: "over the limit", requests: 0},
		{name: "invalid JSON body cancels unsent", args: lisariver.SendArgs{Body: []byte(`{"a":`)},
			state: rivertype.JobStateCancelled, attempt: 1, errText: "invalid payload", requests: 0},
		{name: "empty body cancels unsent", args: lisariver.SendArgs{},
			state: rivertype.JobStateCancelled, attempt: 1, errText: "invalid payload", requests: 0},
		{name: "invalid loaded payload cancels unsent", args: lisariver.NotifyArgs{Key: "p1"},
			load:  func(context.Context, string) (any, error) { return nil, nil },
			state: rivertype.JobStateCancelled, attempt: 1, errText: "payload is nil", requests: 0},
		{name: "empty key cancels", args: lisariver.NotifyArgs{},
			state: rivertype.JobStateCancelled, attempt: 1, errText: "Key is empty", requests: 0},
		// A Retry-After snoozes the job for that long, never longer than
		// MaxSnooze: 99999999999 s would be the year 5138, and 1500 (which
		// one LiSA page calls milliseconds) is read as seconds, as RFC 9110
		// and the core read it, and bounded too.
		{name: "429 with Retry-After 99999999999 snoozes at most MaxSnooze", fault: &lisatest.Fault{Status: 429, RetryAfter: "99999999999"},
			args:  lisariver.NotifyArgs{Key: "p1"},
			state: rivertype.JobStateScheduled, attempt: 0, requests: 1, snoozeMin: lisariver.MaxSnooze, snoozeMax: lisariver.MaxSnooze},
		{name: "429 with Retry-After 1500 snoozes at most MaxSnooze", fault: &lisatest.Fault{Status: 429, RetryAfter: "1500"},
			args:  lisariver.SendArgs{Body: []byte(`{"a":1}`)},
			state: rivertype.JobStateScheduled, attempt: 0, requests: 1, snoozeMin: lisariver.MaxSnooze, snoozeMax: lisariver.MaxSnooze},
		{name: "503 with a Retry-After over the client's wait snoozes for it", fault: &lisatest.Fault{Status: 503, RetryAfter: "100"},
			args:  lisariver.SendArgs{Body: []byte(`{"a":1}`)},
			state: rivertype.JobStateScheduled, attempt: 0, requests: 1, snoozeMin: 100 * time.Second, snoozeMax: 110 * time.Second},
		// River retries a second later; the scripted fault is gone by then.
		{name: "500 is retried by River", fault: &lisatest.Fault{Status: 500}, args: lisariver.NotifyArgs{Key: "p1"},
			state: rivertype.JobStateCompleted, attempt: 2, errText: "500 Internal Server Error", requests: 2},
		{name: "dropped connection is retried by River", fault: &lisatest.Fault{Drop: true}, args: lisariver.SendArgs{Body: []byte(`{"a":1}`)},
			state: rivertype.JobStateCompleted, attempt: 2, errText: "send failed", requests: 2},
		{name: "Loader error is retried", args: lisariver.NotifyArgs{Key: "p1"},
			load: func(ctx context.Context, key string) (any, error) {
				if failed.CompareAndSwap(false, true) {
					return nil, errDB
				}
				return json.RawMessage(payload(key, 1)), nil
			},
			state: rivertype.JobStateCompleted, attempt: 2, errText: `loading "p1": database is down`, requests: 1},
		{name: "Loader's JobCancel cancels", args: lisariver.NotifyArgs{Key: "p1"},
			load:  func(context.Context, string) (any, error) { return nil, river.JobCancel(errors.New("product deleted")) },
			state: rivertype.JobStateCancelled, attempt: 1, errText: "product deleted", requests: 0},
		{name: "zero Worker is retried, not a panic", args: lisariver.NotifyArgs{Key: "p1"}, nilWork: true,
			state: rivertype.JobStateRetryable, attempt: -1, errText: "use NewWorker", requests: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := newSQLite(t)
			srv, c := newLisa(t, lisa.WithMaxRetries(0))
			if tc.fault != nil {
				srv.Script(*tc.fault)
			}
			load := b.load
			if tc.load != nil {
				load = tc.load
			}
			w := newWorker(t, c, load)
			if tc.nilWork {
				w = &lisariver.Worker{}
			}
			rc := riverClient(t, b, notifyWorkers(t, c, w))
			if _, err := b.update(ctx, "p1", payload("p1", 1), nil, true); err != nil {
				t.Fatal(err)
			}
			res, err := rc.Insert(ctx, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			start(t, rc)

			job := waitJob(t, rc, res.Job.ID, tc.state)
			if tc.attempt >= 0 && job.Attempt != tc.attempt {
				t.Errorf("attempt = %d, want %d", job.Attempt, tc.attempt)
			}
			switch {
			case tc.errText == "" && len(job.Errors) > 0:
				t.Errorf("job errors %+v, want none", job.Errors)
			case tc.errText != "" && len(job.Errors) == 0:
				t.Errorf("no error kept on the job, want one containing %q", tc.errText)
			case tc.errText != "" && !strings.Contains(job.Errors[0].Error, tc.errText):
				t.Errorf("job error %q, want it to contain %q", job.Errors[0].Error, tc.errText)
			}
			if tc.snoozeMax > 0 {
				from := before
				if job.AttemptedAt != nil {
					from = *job.AttemptedAt
				}
				// The job ran for a few milliseconds before it snoozed.
				if d := job.ScheduledAt.Sub(from); d < tc.snoozeMin || d > tc.snoozeMax+2*time.Second {
					t.Errorf("snoozed for %s, want %s to %s", d.Round(time.Millisecond), tc.snoozeMin, tc.snoozeMax)
				}
			}
			if n, _ := srv.Counts(); n != tc.requests {
				t.Errorf("server got %d requests, want %d", n, tc.requests)
			}
			for _, e := range job.Errors {
				if strings.Contains(e.Error, apiKey) || strings.Contains(e.Error, secret) {
					t.Errorf("job error shows a credential: %q", e.Error)
				}
			}
		})
	}
}
