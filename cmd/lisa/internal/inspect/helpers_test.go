package inspect_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
	"github.com/hello-lisa/lisa-go/lisatest"
)

// Credentials distinctive enough that finding them in any output is a leak.
const (
	pluginID = "plugin-42"
	apiKey   = "key-9f8e7d-APIKEY"
	secret   = "sec-1a2b3c-SECRET"
)

// fixture is an inspector and its lisatest handler behind one loopback server.
type fixture struct {
	t   *testing.T
	in  *inspect.Inspector
	h   *lisatest.Handler
	url string // the server's base URL
}

// setup starts an inspector over a lisatest handler on 127.0.0.1, as
// lisa serve -ui wires them; cfg's credentials and Handler are filled in.
func setup(t *testing.T, cfg inspect.Config) *fixture {
	t.Helper()
	var in *inspect.Inspector
	h := lisatest.NewHandler(pluginID, apiKey, secret, lisatest.WithoutRecords(),
		lisatest.WithObserver(func(r lisatest.Request) { in.Observe(r) }))
	cfg.PluginID, cfg.APIKey, cfg.Secret, cfg.Handler = pluginID, apiKey, secret, h
	in, err := inspect.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(in.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(in.Close) // runs first: ends event streams so that Close does not wait on them
	return &fixture{t: t, in: in, h: h, url: srv.URL}
}

func (f *fixture) endpoint() string { return f.url + "/plugin-notifications/" + pluginID + "/updates" }

// post sends body to the endpoint with the given headers as they are (no
// defaults) and returns the status.
func (f *fixture) post(body []byte, hdr map[string]string) int {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.endpoint(), bytes.NewReader(body))
	require.NoError(f.t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(f.t, err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// signed returns the headers of a correct request for body, with overrides.
func signed(body []byte, override map[string]string) map[string]string {
	hdr := map[string]string{
		"Authorization":      "ApiKey " + apiKey,
		"Content-Type":       "application/json",
		lisa.SignatureHeader: lisa.NewSigner([]byte(secret)).Sign(body),
	}
	for k, v := range override {
		hdr[k] = v
	}
	return hdr
}

// get fetches path and returns the status and the body.
func (f *fixture) get(path string) (int, []byte) {
	f.t.Helper()
	return f.do(http.MethodGet, path, "")
}

func (f *fixture) do(method, path, body string) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	require.NoError(f.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(f.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(f.t, err)
	return res.StatusCode, b
}

// Row and Detail mirror the API's JSON.
type Row struct {
	ID        int64  `json:"id"`
	Time      string `json:"time"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	Verdict   string `json:"verdict"`
	Fault     string `json:"fault"`
	RequestID string `json:"requestId"`
	Size      int    `json:"size"`
	Limit     int    `json:"limit"`
	ProductID string `json:"productId"`
	Diagnosis string `json:"diagnosis"`
}

type Finding struct {
	Header, Kind, Title, Detail, Signed string
	OK                                  bool
}

type Detail struct {
	Row
	Headers    []struct{ Name, Value string }
	Body       string
	BodyPretty string
	BodyNote   string
	Findings   []Finding
	Replayable bool
}

func (f *fixture) rows() []Row {
	f.t.Helper()
	status, b := f.get("/api/requests")
	require.Equal(f.t, http.StatusOK, status, string(b))
	var rows []Row
	require.NoError(f.t, json.Unmarshal(b, &rows))
	return rows
}

// last returns the detail of the newest request.
func (f *fixture) last() Detail {
	f.t.Helper()
	rows := f.rows()
	require.NotEmpty(f.t, rows)
	return f.detail(rows[0].ID)
}

func (f *fixture) detail(id int64) Detail {
	f.t.Helper()
	status, b := f.get("/api/requests/" + itoa(id))
	require.Equal(f.t, http.StatusOK, status, string(b))
	var d Detail
	require.NoError(f.t, json.Unmarshal(b, &d))
	return d
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// finding returns the finding about header, failing when there is none.
func (d Detail) finding(t *testing.T, header string) Finding {
	t.Helper()
	for _, f := range d.Findings {
		if f.Header == header {
			return f
		}
	}
	t.Fatalf("no finding about %s in %+v", header, d.Findings)
	return Finding{}
}

// events subscribes to /api/events and returns a channel of "name data"
// strings, one per event.
func (f *fixture) events() <-chan string {
	f.t.Helper()
	res, err := http.Get(f.url + "/api/events")
	require.NoError(f.t, err)
	require.Equal(f.t, "text/event-stream", res.Header.Get("Content-Type"))
	f.t.Cleanup(func() { res.Body.Close() })
	out := make(chan string, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				out <- name + " " + strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// next returns the next event of the given name, failing after a while.
func next(t *testing.T, events <-chan string, name string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream ended before a %q event", name)
			}
			if n, data, _ := strings.Cut(ev, " "); n == name {
				return data
			}
		case <-timeout:
			t.Fatalf("no %q event within 10s", name)
		}
	}
}
