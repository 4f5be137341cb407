package inspect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
)

func TestNewValidatesConfig(t *testing.T) {
	f := setup(t, inspect.Config{}) // a valid handler to reuse
	ok := inspect.Config{PluginID: pluginID, APIKey: apiKey, Secret: secret, Handler: f.h}
	for _, tc := range []struct {
		name  string
		edit  func(*inspect.Config)
		field string
	}{
		{"no plugin id", func(c *inspect.Config) { c.PluginID = "" }, "PluginID"},
		{"no api key", func(c *inspect.Config) { c.APIKey = "" }, "APIKey"},
		{"no secret", func(c *inspect.Config) { c.Secret = "" }, "Secret"},
		{"no handler", func(c *inspect.Config) { c.Handler = nil }, "Handler"},
		{"negative keep", func(c *inspect.Config) { c.Keep = -1 }, "Keep"},
		{"huge keep", func(c *inspect.Config) { c.Keep = inspect.MaxKeep + 1 }, "Keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			in, err := inspect.New(cfg)
			require.Error(t, err)
			assert.Nil(t, in)
			assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
			assert.Contains(t, err.Error(), tc.field)
			assert.NotContains(t, err.Error(), apiKey)
			assert.NotContains(t, err.Error(), secret)
		})
	}
	_, err := inspect.New(ok)
	require.NoError(t, err)
}

func TestListIsNewestFirstWithRowFields(t *testing.T) {
	f := setup(t, inspect.Config{})
	good := []byte(`{"productId":"123","price":19.99}`)
	require.Equal(t, http.StatusAccepted, f.post(good, signed(good, map[string]string{lisa.RequestIDHeader: "req-1"})))
	numeric := []byte(`{"productId":77}`)
	require.Equal(t, http.StatusUnauthorized, f.post(numeric, signed(numeric, map[string]string{
		lisa.RequestIDHeader: "req-2", lisa.SignatureHeader: lisa.NewSigner([]byte("other")).Sign(numeric)})))
	big := bytes.Repeat([]byte("x"), lisa.MaxPayloadBytes+1)
	require.Equal(t, http.StatusRequestEntityTooLarge, f.post(big, signed(big, nil)))

	rows := f.rows()
	require.Len(t, rows, 3)
	assert.Equal(t, []int64{3, 2, 1}, []int64{rows[0].ID, rows[1].ID, rows[2].ID})

	assert.Equal(t, http.StatusAccepted, rows[2].Status)
	assert.Equal(t, "accepted", rows[2].Verdict)
	assert.Equal(t, "req-1", rows[2].RequestID)
	assert.Equal(t, len(good), rows[2].Size)
	assert.Equal(t, lisa.MaxPayloadBytes, rows[2].Limit)
	assert.Equal(t, "123", rows[2].ProductID)
	assert.Empty(t, rows[2].Diagnosis)
	assert.NotEmpty(t, rows[2].Time)

	assert.Equal(t, http.StatusUnauthorized, rows[1].Status)
	assert.Contains(t, rows[1].Verdict, "signature")
	assert.Equal(t, "77", rows[1].ProductID, "a number productId shows as its JSON text")
	assert.Equal(t, "signed with another secret", rows[1].Diagnosis)

	assert.Equal(t, http.StatusRequestEntityTooLarge, rows[0].Status)
	assert.Equal(t, lisa.MaxPayloadBytes+1, rows[0].Size, "from Content-Length: the body is not kept")
	d := f.detail(rows[0].ID)
	assert.Empty(t, d.Body)
	assert.Contains(t, d.BodyNote, "192 KiB")
	assert.False(t, d.Replayable)
}

func TestRingKeepsTheNewest(t *testing.T) {
	f := setup(t, inspect.Config{Keep: 3})
	for i := 0; i < 5; i++ {
		body := []byte(`{"productId":"` + itoa(int64(i)) + `"}`)
		require.Equal(t, http.StatusAccepted, f.post(body, signed(body, nil)))
	}
	rows := f.rows()
	require.Len(t, rows, 3)
	assert.Equal(t, []string{"4", "3", "2"}, []string{rows[0].ProductID, rows[1].ProductID, rows[2].ProductID})
	for _, id := range []int64{1, 2, 6} {
		status, body := f.get("/api/requests/" + itoa(id))
		assert.Equal(t, http.StatusNotFound, status, "request %d: %s", id, body)
	}
	assert.Equal(t, "2", f.detail(3).ProductID)
	status, _ := f.get("/api/requests/x")
	assert.Equal(t, http.StatusNotFound, status)
}

func TestRingDefaultIs500(t *testing.T) {
	f := setup(t, inspect.Config{})
	body := []byte(`{}`)
	hdr := signed(body, nil)
	for i := 0; i < inspect.DefaultKeep+3; i++ {
		f.post(body, hdr)
	}
	rows := f.rows()
	require.Len(t, rows, inspect.DefaultKeep)
	assert.Equal(t, int64(inspect.DefaultKeep+3), rows[0].ID)
}

func TestDetailShowsHeadersMaskedAndBodyPrettyAndRaw(t *testing.T) {
	f := setup(t, inspect.Config{})
	body := []byte(`{"productId":"123","price":19.99}`)
	require.Equal(t, http.StatusAccepted, f.post(body, signed(body, map[string]string{"X-Trace": "abc"})))
	d := f.last()
	headers := map[string]string{}
	for _, h := range d.Headers {
		headers[h.Name] = h.Value
	}
	assert.Equal(t, "ApiKey ****", headers["Authorization"])
	assert.Equal(t, "abc", headers["X-Trace"])
	assert.Equal(t, lisa.NewSigner([]byte(secret)).Sign(body), headers[lisa.SignatureHeader])
	assert.Equal(t, string(body), d.Body)
	assert.Equal(t, "{\n  \"productId\": \"123\",\n  \"price\": 19.99\n}", d.BodyPretty)
	assert.True(t, d.Replayable)
	sig := d.finding(t, lisa.SignatureHeader)
	assert.True(t, sig.OK)
	assert.Equal(t, "ok", d.finding(t, "Authorization").Kind)
}

func TestAuthorizationIsMaskedWhateverItHolds(t *testing.T) {
	f := setup(t, inspect.Config{})
	body := []byte(`{}`)
	for value, want := range map[string]string{
		"ApiKey " + apiKey:           "ApiKey ****",
		"ApiKey some-other-real-key": "ApiKey ****",
		"Bearer tok3n":               "Bearer ****",
		"justakey":                   "****",
	} {
		f.post(body, signed(body, map[string]string{"Authorization": value}))
		for _, h := range f.last().Headers {
			if h.Name == "Authorization" {
				assert.Equal(t, want, h.Value, value)
			}
		}
	}
}

func TestReplayRunsTheChecksAgainWithoutRecording(t *testing.T) {
	f := setup(t, inspect.Config{})
	good := []byte(`{"productId":"1"}`)
	f.post(good, signed(good, nil))
	f.post(good, signed(good, map[string]string{lisa.SignatureHeader: lisa.NewSigner([]byte("nope")).Sign(good)}))
	f.h.Script() // nothing queued: a replay must not take a fault meant for the next request
	_, b := f.do(http.MethodPost, "/api/faults", `{"kind":"500"}`)
	require.Contains(t, string(b), `"500"`)

	for id, want := range map[int64]int{1: http.StatusAccepted, 2: http.StatusUnauthorized} {
		status, b := f.do(http.MethodPost, "/api/requests/"+itoa(id)+"/replay", "")
		require.Equal(t, http.StatusOK, status, string(b))
		var res struct {
			Status  int
			Verdict string
		}
		require.NoError(t, json.Unmarshal(b, &res))
		assert.Equal(t, want, res.Status, "replay of %d", id)
		if want == http.StatusAccepted {
			assert.Equal(t, "accepted", res.Verdict)
		} else {
			assert.Contains(t, res.Verdict, "signature")
		}
	}
	assert.Len(t, f.rows(), 2, "replays are not added to the list")
	total, _ := f.h.Counts()
	assert.Equal(t, 2, total, "replays do not reach the observed handler")
	// The queued fault is still there for the next real request.
	assert.Equal(t, http.StatusInternalServerError, f.post(good, signed(good, nil)))

	big := bytes.Repeat([]byte("y"), lisa.MaxPayloadBytes+1)
	f.post(big, signed(big, nil))
	status, b := f.do(http.MethodPost, "/api/requests/4/replay", "")
	assert.Equal(t, http.StatusConflict, status, string(b))
	status, _ = f.do(http.MethodPost, "/api/requests/99/replay", "")
	assert.Equal(t, http.StatusNotFound, status)
}

func TestFaultsQueueShowAndClear(t *testing.T) {
	f := setup(t, inspect.Config{})
	body := []byte(`{"productId":"1"}`)
	hdr := signed(body, nil)

	status, b := f.get("/api/faults")
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"pending":[],"kinds":["503","500","429","413","drop","delay"],"version":0}`, string(b))

	status, b = f.do(http.MethodPost, "/api/faults", `{"kind":"503","count":2,"retryAfter":7}`)
	require.Equal(t, http.StatusOK, status, string(b))
	_, b = f.do(http.MethodPost, "/api/faults", `{"kind":"429"}`)
	assert.Contains(t, string(b), `"pending": [`)
	_, b = f.get("/api/faults")
	var st struct {
		Pending []struct {
			Kind  string
			Count int
		}
	}
	require.NoError(t, json.Unmarshal(b, &st))
	require.Len(t, st.Pending, 2)
	assert.Equal(t, "503", st.Pending[0].Kind)
	assert.Equal(t, 2, st.Pending[0].Count)
	assert.Equal(t, "429", st.Pending[1].Kind)

	req, _ := http.NewRequest(http.MethodPost, f.endpoint(), bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "7", res.Header.Get("Retry-After"))

	rows := f.rows()
	assert.Equal(t, "503", rows[0].Fault)
	assert.Equal(t, http.StatusServiceUnavailable, rows[0].Status)
	assert.Equal(t, len(body), rows[0].Size, "size from Content-Length when the fault answered before the checks")
	assert.Contains(t, f.detail(rows[0].ID).BodyNote, "fault")

	_, b = f.get("/api/faults")
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Equal(t, 1, st.Pending[0].Count, "one 503 left")

	status, b = f.do(http.MethodDelete, "/api/faults", "")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(b), `"pending": []`)
	assert.Equal(t, http.StatusAccepted, f.post(body, hdr), "cleared faults do not apply")
}

func TestEachFaultKind(t *testing.T) {
	f := setup(t, inspect.Config{})
	body := []byte(`{"productId":"1"}`)
	hdr := signed(body, nil)
	for _, tc := range []struct {
		req    string
		status int
	}{
		{`{"kind":"500"}`, 500},
		{`{"kind":"503"}`, 503},
		{`{"kind":"429","retryAfter":0}`, 429},
		{`{"kind":"413"}`, 413},
		{`{"kind":"delay","delay":"20ms"}`, 202},
	} {
		status, b := f.do(http.MethodPost, "/api/faults", tc.req)
		require.Equal(t, http.StatusOK, status, string(b))
		assert.Equal(t, tc.status, f.post(body, hdr), tc.req)
	}
	assert.Equal(t, "delay 20ms", f.rows()[0].Fault)

	status, _ := f.do(http.MethodPost, "/api/faults", `{"kind":"drop"}`)
	require.Equal(t, http.StatusOK, status)
	req, _ := http.NewRequest(http.MethodPost, f.endpoint(), bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err, "the connection is dropped")
	row := f.rows()[0]
	assert.Equal(t, 0, row.Status)
	assert.Equal(t, "drop", row.Fault)
}

func TestFaultsRefuseBadInput(t *testing.T) {
	f := setup(t, inspect.Config{})
	for _, body := range []string{
		`{"kind":"418"}`, `{"kind":"503","count":-1}`, `{"kind":"503","count":1001}`,
		`{"kind":"429","retryAfter":-1}`, `{"kind":"delay","delay":"forever"}`, `{"kind":"delay","delay":"1h"}`,
		`{"kind":"503","extra":1}`, `not json`, ``,
	} {
		status, b := f.do(http.MethodPost, "/api/faults", body)
		assert.Equal(t, http.StatusBadRequest, status, body)
		assert.Contains(t, string(b), `"error": "lisa: `, body)
	}
	_, b := f.get("/api/faults")
	assert.Contains(t, string(b), `"pending": []`, "nothing queued by bad input")
}

func TestRecordAppendsAcceptedBodiesAsNDJSON(t *testing.T) {
	var file bytes.Buffer
	f := setup(t, inspect.Config{Record: &file})
	compact := []byte(`{"productId":"1","price":1.5}`)
	pretty := []byte("{\n  \"productId\": \"2\"\n}\n")
	wrong := []byte(`{"productId":"3"}`)
	f.post(compact, signed(compact, nil))
	f.post(wrong, signed(wrong, map[string]string{lisa.SignatureHeader: strings.Repeat("0", 64)}))
	f.post(pretty, signed(pretty, nil))
	f.do(http.MethodPost, "/api/faults", `{"kind":"503"}`)
	f.post(compact, signed(compact, nil)) // answered by the fault: not accepted

	assert.Equal(t, string(compact)+"\n"+`{"productId":"2"}`+"\n", file.String(),
		"accepted bodies only, one a line: as sent when one line already, else compacted")
	_, info := f.get("/api/info")
	assert.Contains(t, string(info), `"recording": true`)
	assert.NotContains(t, string(info), "recordError")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRecordErrorIsShown(t *testing.T) {
	f := setup(t, inspect.Config{Record: failingWriter{}})
	events := f.events()
	body := []byte(`{}`)
	require.Equal(t, http.StatusAccepted, f.post(body, signed(body, nil)), "a record error does not change the answer")
	assert.Contains(t, next(t, events, "info"), "disk full")
	_, info := f.get("/api/info")
	assert.Contains(t, string(info), `"recordError": "lisa: writing the record file: disk full"`)
}

func TestEventsStreamEachRequestAndFaultChange(t *testing.T) {
	f := setup(t, inspect.Config{})
	events := f.events()
	body := []byte(`{"productId":"ev"}`)
	f.post(body, signed(body, nil))
	var r Row
	require.NoError(t, json.Unmarshal([]byte(next(t, events, "request")), &r))
	assert.Equal(t, "ev", r.ProductID)
	assert.Equal(t, "accepted", r.Verdict)
	assert.Equal(t, int64(1), r.ID)

	f.do(http.MethodPost, "/api/faults", `{"kind":"500"}`)
	assert.Contains(t, next(t, events, "faults"), `"kind":"500"`)
	f.post(body, signed(body, nil))
	assert.Contains(t, next(t, events, "faults"), `"pending":[]`, "taking the fault is announced")
	assert.Contains(t, next(t, events, "request"), `"status":500`)
}

func TestCloseEndsEventStreams(t *testing.T) {
	f := setup(t, inspect.Config{})
	events := f.events()
	f.in.Close()
	for range events { // drains until the stream ends
	}
	_, b := f.get("/api/events") // a later stream ends at once
	assert.NotContains(t, string(b), "event:")
}

func TestOtherPathsGoToTheIngestHandler(t *testing.T) {
	f := setup(t, inspect.Config{})
	req, _ := http.NewRequest(http.MethodPost, f.url+"/updates", strings.NewReader(`{}`))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	rows := f.rows()
	require.Len(t, rows, 1, "a request to a wrong path is shown: it is what the client did")
	assert.Equal(t, "/updates", rows[0].Path)

	status, b := f.get("/api/nope")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, string(b), "no such API")
	status, _ = f.get("/favicon.ico")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Len(t, f.rows(), 1, "the inspector's own paths are not recorded")
}

func TestPageIsServedFromTheBinary(t *testing.T) {
	f := setup(t, inspect.Config{Keep: 42})
	status, page := f.get("/")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(page), `<script src="/static/app.js"`)
	assert.Contains(t, string(page), `/plugin-notifications/plugin-42/updates`)
	assert.Contains(t, string(page), `data-keep="42"`)
	assert.NotContains(t, string(page), "http://", "no CDN: every asset is served from here")
	assert.NotContains(t, string(page), "https://")
	for _, asset := range []string{"/static/app.js", "/static/style.css"} {
		status, b := f.get(asset)
		assert.Equal(t, http.StatusOK, status, asset)
		assert.NotEmpty(t, b)
		assert.NotContains(t, string(b), "https://", asset)
	}
}

func TestGuardRefusesForeignHostsAndOrigins(t *testing.T) {
	f := setup(t, inspect.Config{})
	for _, host := range []string{"evil.example", "evil.example:80", "127.0.0.1.nip.io"} {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/api/requests", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusForbidden, res.StatusCode, host)
	}
	for _, host := range []string{"localhost:8080", "app.localhost", "[::1]:8080", "127.0.0.1"} {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/api/requests", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, host)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+"/api/faults", strings.NewReader(`{"kind":"500"}`))
	req.Header.Set("Origin", "https://evil.example")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	_, b := f.get("/api/faults")
	assert.Contains(t, string(b), `"pending": []`)

	req, _ = http.NewRequest(http.MethodPost, f.url+"/api/faults", strings.NewReader(`{"kind":"500"}`))
	req.Header.Set("Origin", f.url)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "same origin")
}
