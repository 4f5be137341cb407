package inspect_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
)

// TestCredentialsNeverShow sends requests that carry the API key and the
// secret everywhere a careless client could put them, then reads everything
// the inspector serves: neither credential shows, in any spelling.
func TestCredentialsNeverShow(t *testing.T) {
	f := setup(t, inspect.Config{})
	var stream bytes.Buffer
	res, err := http.Get(f.url + "/api/events")
	require.NoError(t, err)
	streamDone := make(chan struct{})
	go func() { io.Copy(&stream, res.Body); close(streamDone) }()

	escaped := `sec-\u0031a2b3c-SECRET` // the secret with one character as a JSON escape
	bodies := [][]byte{
		[]byte(`{"productId":"` + apiKey + `","note":"` + secret + `"}`),
		[]byte(`{"productId":"1","note":"` + escaped + `"}`),
		[]byte("{\n  \"productId\": \"" + secret + "\"\n}"),
		[]byte(`not json ` + apiKey),
	}
	auths := []string{
		"ApiKey " + apiKey, "ApiKey b'" + apiKey + "'", "Bearer " + apiKey, apiKey,
		"ApiKey " + secret, "ApiKey " + apiKey + "x",
	}
	for _, body := range bodies {
		for _, auth := range auths {
			f.post(body, signed(body, map[string]string{
				"Authorization": auth, "X-Debug-" + apiKey: secret, "X-Echo": apiKey,
				lisa.RequestIDHeader: "id-" + secret,
			}))
		}
		// signed with the API key, and with the secret with something after it
		f.post(body, signed(body, map[string]string{lisa.SignatureHeader: sign(apiKey, body)}))
		f.post(body, signed(body, map[string]string{lisa.SignatureHeader: secret}))
	}
	f.do(http.MethodPost, "/api/faults", `{"kind":"`+apiKey+`"}`)
	f.do(http.MethodPost, "/api/faults", `{"kind":"delay","delay":"`+secret+`"}`)

	var seen bytes.Buffer
	read := func(method, path string) {
		status, b := f.do(method, path, "")
		require.Less(t, status, 500, path)
		fmt.Fprintf(&seen, "%s %s\n%s\n", method, path, b)
	}
	for _, path := range []string{"/", "/static/app.js", "/static/style.css", "/api/requests", "/api/faults", "/api/info", "/api/nope"} {
		read(http.MethodGet, path)
	}
	rows := f.rows()
	require.Len(t, rows, len(bodies)*(len(auths)+2))
	for _, r := range rows {
		read(http.MethodGet, "/api/requests/"+itoa(r.ID))
		read(http.MethodPost, "/api/requests/"+itoa(r.ID)+"/replay")
	}
	fmt.Fprintf(&seen, "%v %+v %#v %s %q %x\n", f.in, f.in, f.in, f.in, f.in, f.in)
	cfg := inspect.Config{PluginID: pluginID, APIKey: apiKey, Secret: secret}
	fmt.Fprintf(&seen, "%v %+v %#v %s %q %x\n", cfg, cfg, cfg, cfg, cfg, cfg)

	f.in.Close()
	select {
	case <-streamDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not end")
	}
	res.Body.Close()
	seen.Write(stream.Bytes())
	require.Contains(t, stream.String(), "event: request", "the stream was read")

	all := seen.String()
	for _, needle := range []string{apiKey, secret, escaped, "9f8e7d", "1a2b3c"} {
		if i := strings.Index(all, needle); i >= 0 {
			t.Errorf("%q shows: …%s…", needle, all[max(0, i-300):min(len(all), i+100)])
		}
	}
	assert.Contains(t, all, "ApiKey ****", "masking happened where the credentials were")
	assert.Contains(t, all, "python-bytes")
}
