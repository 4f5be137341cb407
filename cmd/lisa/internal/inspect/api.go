package inspect

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hello-lisa/lisa-go"
)

func (in *Inspector) routes() *http.ServeMux {
	mux := http.NewServeMux()
	ui := func(h http.HandlerFunc) http.Handler { return guard(h) }
	mux.Handle("GET /{$}", ui(in.servePage))
	mux.Handle("GET /static/", ui(serveStatic))
	mux.Handle("GET /favicon.ico", ui(http.NotFound))
	mux.Handle("GET /api/info", ui(in.serveInfo))
	mux.Handle("GET /api/events", ui(in.serveEvents))
	mux.Handle("GET /api/requests", ui(in.serveList))
	mux.Handle("GET /api/requests/{id}", ui(in.serveDetail))
	mux.Handle("POST /api/requests/{id}/replay", ui(in.serveReplay))
	mux.Handle("GET /api/faults", ui(in.serveFaults))
	mux.Handle("POST /api/faults", ui(in.queueFaults))
	mux.Handle("DELETE /api/faults", ui(in.clearFaults))
	mux.Handle("/api/", ui(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "lisa: no such API: "+r.Method+" "+r.URL.Path)
	}))
	mux.HandleFunc("/", in.serveIngest)
	return mux
}

// guard lets the page and its API answer only to a Host that is an IP
// address or localhost (so that a rebound DNS name cannot read them) and
// refuses writes from another origin (so that a web page elsewhere cannot
// queue faults).
func guard(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !localHost(r.Host) {
			writeError(w, http.StatusForbidden, "lisa: the inspector answers only at an IP address or localhost")
			return
		}
		if o := r.Header.Get("Origin"); r.Method != http.MethodGet && o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			writeError(w, http.StatusForbidden, "lisa: cross-origin request refused")
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		h(w, r)
	})
}

func localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// serveIngest hands the request, with the next queued fault if any, to the
// lisatest handler.
//
// A request with an Origin header is refused unread: only browsers send
// one, and any page a developer opens could otherwise post to this loopback
// port (a text/plain POST needs no preflight), fill the list and have every
// body diagnosed. Notifications come from servers, which send no Origin.
func (in *Inspector) serveIngest(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		writeError(w, http.StatusForbidden, "lisa: refused a request from a web page (it has an Origin header): the inspector takes notifications from servers only")
		return
	}
	if f, ok := in.faults.next(); ok {
		in.cfg.Handler.Script(f)
		in.hub.publish("faults", in.faults.state())
	}
	in.cfg.Handler.ServeHTTP(w, r)
}

func (in *Inspector) serveList(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	entries := in.ring.newestFirst()
	in.mu.Unlock()
	rows := make([]row, len(entries))
	for i, e := range entries {
		rows[i] = e.row
	}
	writeJSON(w, http.StatusOK, rows)
}

// lookup finds the entry named by the {id} in the path, or answers 404.
func (in *Inspector) lookup(w http.ResponseWriter, r *http.Request) *entry {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "lisa: request id must be a number")
		return nil
	}
	in.mu.Lock()
	e := in.ring.get(id)
	in.mu.Unlock()
	if e == nil {
		writeError(w, http.StatusNotFound, "lisa: no request "+strconv.FormatInt(id, 10)+" (never received, or dropped from the ring)")
	}
	return e
}

func (in *Inspector) serveDetail(w http.ResponseWriter, r *http.Request) {
	if e := in.lookup(w, r); e != nil {
		d := e.detail
		d.row = e.row
		writeJSON(w, http.StatusOK, d)
	}
}

// replayResult is what a replay answers.
type replayResult struct {
	Status  int    `json:"status"`
	Verdict string `json:"verdict"`
}

// serveReplay runs the recorded request through the same checks, with the
// same credentials, without faults and without recording it: the answer is
// shown, the list and the -record file stay as they are.
func (in *Inspector) serveReplay(w http.ResponseWriter, r *http.Request) {
	e := in.lookup(w, r)
	if e == nil {
		return
	}
	if !e.detail.Replayable {
		writeError(w, http.StatusConflict, "lisa: this request cannot be replayed: "+e.detail.BodyNote)
		return
	}
	req := httptest.NewRequest(e.req.Method, e.req.Path, bytes.NewReader(e.req.Body))
	req.Header = e.req.Header.Clone()
	rec := httptest.NewRecorder()
	in.checker.ServeHTTP(rec, req)
	res := replayResult{Status: rec.Code, Verdict: "accepted"}
	if rec.Code != http.StatusAccepted {
		var answer struct {
			Error string `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &answer)
		res.Verdict = in.creds.redact(answer.Error)
	}
	writeJSON(w, http.StatusOK, res)
}

func (in *Inspector) serveFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, in.faults.state())
}

func (in *Inspector) queueFaults(w http.ResponseWriter, r *http.Request) {
	var fr faultRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		writeError(w, http.StatusBadRequest, `lisa: want a JSON body such as {"kind":"503","count":1}`)
		return
	}
	f, err := fr.toFault()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	in.faults.add(f, max(fr.Count, 1))
	st := in.faults.state()
	in.hub.publish("faults", st)
	writeJSON(w, http.StatusOK, st)
}

func (in *Inspector) clearFaults(w http.ResponseWriter, r *http.Request) {
	in.faults.clear()
	st := in.faults.state()
	in.hub.publish("faults", st)
	writeJSON(w, http.StatusOK, st)
}

// keepAlive is how often an idle event stream gets a comment, so that
// proxies and the browser keep it open.
const keepAlive = 15 * time.Second

func (in *Inspector) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "lisa: streaming not supported")
		return
	}
	events, leave := in.hub.subscribe()
	defer leave()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 1000\n\n")
	flusher.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case msg, ok := <-events:
			if !ok {
				return
			}
			if _, err := w.Write(msg); err != nil {
				return
			}
		case <-tick.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
		flusher.Flush()
	}
}

// info is what GET /api/info answers: what the page shows in its header.
type info struct {
	PluginID    string `json:"pluginId"`
	Endpoint    string `json:"endpoint"` // the path notifications are POSTed to
	Keep        int    `json:"keep"`
	Limit       int    `json:"limit"`
	Recording   bool   `json:"recording"`
	RecordError string `json:"recordError,omitempty"`
}

func (in *Inspector) info() info {
	inf := info{
		PluginID:  in.creds.redact(in.cfg.PluginID),
		Endpoint:  in.creds.redact("/plugin-notifications/" + url.PathEscape(in.cfg.PluginID) + "/updates"),
		Keep:      in.cfg.Keep,
		Limit:     lisa.MaxPayloadBytes,
		Recording: in.rec != nil,
	}
	if err := in.rec.failed(); err != nil {
		inf.RecordError = in.creds.redact("lisa: writing the record file: " + err.Error())
	}
	return inf
}

func (in *Inspector) serveInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, in.info())
}
