package inspect_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
)

// TestServeUIShortCredentialsDoNotGarbleThePage runs `lisa serve -ui` with
// the one-letter credentials a quick try uses: the page masks them in the
// Authorization header only, not every p, k and s it shows, and the command
// warns once that they are too short to be real.
func TestServeUIShortCredentialsDoNotGarbleThePage(t *testing.T) {
	s := startServeUI(t, buildLisa(t), "p", "k", "s")
	body := []byte(`{"productId":"sku-1","title":"Socks, pink"}`)
	status, err := s.post("p", body, map[string]string{
		"Authorization": "ApiKey k", "Content-Type": "application/json", lisa.SignatureHeader: sign("s", body),
		"X-Trace": "sparks",
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)

	_, b := s.get(t, "/api/requests/1")
	var d Detail
	require.NoError(t, json.Unmarshal(b, &d))
	assert.Equal(t, "/plugin-notifications/p/updates", d.Path)
	assert.Equal(t, "sku-1", d.ProductID)
	assert.Equal(t, string(body), d.Body)
	assert.Contains(t, d.BodyPretty, `"title": "Socks, pink"`)
	headers := map[string]string{}
	for _, h := range d.Headers {
		headers[h.Name] = h.Value
	}
	assert.Equal(t, "ApiKey ****", headers["Authorization"], "the key is masked where it is one")
	assert.Equal(t, "application/json", headers["Content-Type"])
	assert.Equal(t, "sparks", headers["X-Trace"])

	_, b = s.get(t, "/api/info")
	assert.Contains(t, string(b), `"endpoint": "/plugin-notifications/p/updates"`)
	_, page := s.get(t, "/")
	assert.Contains(t, string(page), "/plugin-notifications/p/updates")
	assert.NotContains(t, string(page), "****")

	var warnings int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if warnings = strings.Count(s.stderrText(), "too short"); warnings > 0 {
			break
		}
	}
	assert.Equal(t, 1, warnings, "one warning at start: %s", s.stderrText())
}
