package inspect_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
)

// TestServeUIRingMemoryIsBounded fills the ring of one `lisa serve -ui`
// with the largest entries a request can make (a 192 KiB body, its indented
// view, and the re-serialization its signature matched, shown to compare) and
// reads the process's peak resident set.
func TestServeUIRingMemoryIsBounded(t *testing.T) {
	flat := nested("[", "]", 0)
	indented4 := bytes.ReplaceAll(bytes.ReplaceAll(bytes.ReplaceAll(flat, []byte("["), []byte("[\n    ")), []byte(","), []byte(",\n    ")), []byte("]"), []byte("\n]"))
	hdr := map[string]string{"Content-Type": "application/json", lisa.SignatureHeader: sign(secret, indented4)}
	s := startServeUI(t, buildLisa(t), pluginID, apiKey, secret)
	stop := watch(s)
	const sent = 60
	start := time.Now()
	for i := 0; i < sent; i++ {
		status, err := s.post(pluginID, flat, hdr)
		if err != nil && stop() {
			t.Fatalf("the process passed %d MiB of resident memory after %d requests: killed", watchdogLimit>>20, i+1)
		}
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, status)
	}
	took := time.Since(start)
	stop()
	var d Detail
	_, b := s.get(t, "/api/requests/"+itoa(sent))
	require.NoError(t, json.Unmarshal(b, &d))
	require.Equal(t, "body-changed", d.finding(t, lisa.SignatureHeader).Kind, "the entry is as large as one gets")
	require.NotEmpty(t, d.BodyPretty)
	var rows []Row
	_, b = s.get(t, "/api/requests")
	require.NoError(t, json.Unmarshal(b, &rows))
	peak := s.memory(t, "VmHWM")
	t.Logf("%d requests in %v, %d kept, peak RSS %.1f MiB", sent, took.Round(time.Millisecond), len(rows), float64(peak)/(1<<20))
	assert.Less(t, len(rows), sent, "the ring dropped the oldest past its byte bound")
	assert.Less(t, peak, int64(128<<20), "peak RSS of lisa serve -ui with a full ring")
}
