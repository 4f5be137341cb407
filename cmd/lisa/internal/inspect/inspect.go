// Package inspect is the local inspector page of `lisa serve -ui`: a live
// list of the requests the fake ingest endpoint received, each with its
// verdict, headers (Authorization masked), body and, for a signature that did
// not match, a diagnosis of why; with replay and fault toggles, and a JSON
// API behind the page for scripts.
//
// The inspector observes a lisatest.Handler and serves, on one mux, both the
// page and its API and, for every other path, the ingest endpoint itself:
//
//	GET    /                               the page
//	GET    /api/info                       plugin id, endpoint path, ring size, record file state
//	GET    /api/events                     server-sent events: "request", "faults" and "info"
//	GET    /api/requests                   JSON array of rows, newest first
//	GET    /api/requests/{id}              one request in detail, with its diagnosis
//	POST   /api/requests/{id}/replay       run the recorded request through the checks again
//	GET    /api/faults                     the faults queued for the next requests
//	POST   /api/faults                     queue {"kind":"503","count":2} (500, 503, 429, 413, drop, delay)
//	DELETE /api/faults                     clear the queue
//	*      /plugin-notifications/…, else  the lisatest handler
//
// The API key and the secret are never shown: not on the page, not in the
// API, not in an error. (One shorter than MinCredentialLen, too short to be
// real, is masked in the Authorization header only.) The page and its API answer only to a Host that is
// an IP address or localhost, and refuse cross-origin writes, so that a web
// page elsewhere cannot drive them; the ingest path refuses any request
// from a web page (one with an Origin header).
package inspect

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/hello-lisa/lisa-go/lisatest"
)

// DefaultKeep is how many requests an Inspector keeps when Config.Keep is 0.
const DefaultKeep = 500

// MaxKeep bounds Config.Keep. However many it says, the requests kept take
// at most 32 MiB as a whole (their bodies, headers and views, estimated): past
// that, the oldest are dropped first.
const MaxKeep = 10000

// Config is what lisa serve knows. PluginID, APIKey, Secret and Handler are
// required.
type Config struct {
	// PluginID, APIKey and Secret are the credentials the Handler checks
	// requests against. The inspector uses the key and the secret for its
	// diagnoses and replays and never shows them.
	PluginID string
	APIKey   string
	Secret   string
	// Handler is the fake ingest endpoint to observe and inject faults into.
	// Create it with lisatest.WithObserver calling the Inspector's Observe.
	Handler *lisatest.Handler
	// Keep is how many requests to keep, the oldest dropped first (sooner
	// when they pass 32 MiB, see MaxKeep); 0 means DefaultKeep.
	Keep int
	// Record, when set, receives every accepted body as one NDJSON line, in
	// the format `lisa send -ndjson` reads (-record FILE).
	Record io.Writer
}

// Format prints the Config with its APIKey and Secret redacted, under every
// verb.
func (c Config) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "inspect.Config{PluginID: %q, APIKey: redacted, Secret: redacted, Keep: %d, Record: %t}",
		c.PluginID, c.Keep, c.Record != nil)
}

// Inspector keeps the requests a lisatest.Handler received and serves the
// page and the API about them. It is safe for concurrent use. A nil
// *Inspector ignores the requests given to Observe.
type Inspector struct {
	cfg     Config
	creds   *redactor
	checker *lisatest.Handler // the same checks without faults, for replays
	hub     *hub
	faults  *faultQueue
	rec     *recorder
	mux     *http.ServeMux

	mu   sync.Mutex
	ring *ring
	seq  int64
}

// New returns an Inspector for the requests cfg.Handler receives. Errors name
// the field that is wrong, never a credential's value.
func New(cfg Config) (*Inspector, error) {
	switch {
	case cfg.PluginID == "":
		return nil, errors.New("lisa: inspect: PluginID is empty")
	case cfg.APIKey == "":
		return nil, errors.New("lisa: inspect: APIKey is empty")
	case cfg.Secret == "":
		return nil, errors.New("lisa: inspect: Secret is empty")
	case cfg.Handler == nil:
		return nil, errors.New("lisa: inspect: Handler is nil")
	case cfg.Keep < 0 || cfg.Keep > MaxKeep:
		return nil, fmt.Errorf("lisa: inspect: Keep is %d, want 0 (default %d) to %d", cfg.Keep, DefaultKeep, MaxKeep)
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultKeep
	}
	in := &Inspector{
		cfg:     cfg,
		creds:   newRedactor(cfg.APIKey, cfg.Secret),
		checker: lisatest.NewHandler(cfg.PluginID, cfg.APIKey, cfg.Secret, lisatest.WithoutRecords()),
		hub:     newHub(),
		faults:  &faultQueue{},
		ring:    newRing(cfg.Keep),
	}
	if cfg.Record != nil {
		in.rec = &recorder{w: cfg.Record}
	}
	in.mux = in.routes()
	return in, nil
}

// Observe records one request; pass it to lisatest.WithObserver:
//
//	var in *inspect.Inspector // nil until New returns: Observe ignores requests until then
//	h := lisatest.NewHandler(id, key, secret, lisatest.WithoutRecords(),
//		lisatest.WithObserver(func(r lisatest.Request) { in.Observe(r) }))
//	in, err := inspect.New(inspect.Config{PluginID: id, APIKey: key, Secret: secret, Handler: h})
func (in *Inspector) Observe(r lisatest.Request) {
	if in == nil {
		return
	}
	if in.rec != nil && r.Status == http.StatusAccepted {
		if in.rec.write(r.Body) {
			in.hub.publish("info", in.info())
		}
	}
	e := newEntry(r, in.diagnose(r), in.creds)
	in.mu.Lock()
	in.seq++
	e.row.ID = in.seq
	in.ring.add(e)
	in.mu.Unlock()
	in.hub.publish("request", e.row)
}

// Handler returns the http.Handler serving the page, its API and, for every
// other path, the ingest endpoint (cfg.Handler, with any queued fault), so
// one server on one loopback address serves both.
func (in *Inspector) Handler() http.Handler { return in.mux }

// Close ends the open event streams, so that http.Server.Shutdown does not
// wait for them; register it with http.Server.RegisterOnShutdown. Later
// event streams end at once.
func (in *Inspector) Close() { in.hub.close() }

// String describes the inspector without its credentials.
func (in *Inspector) String() string {
	return fmt.Sprintf("inspect.Inspector{PluginID: %q, Keep: %d}", in.cfg.PluginID, in.cfg.Keep)
}

// Format prints String under every verb, so that no verb shows a credential.
func (in *Inspector) Format(f fmt.State, _ rune) { io.WriteString(f, in.String()) }
