package inspect_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeUIRefusesPostsFromWebPages: a page on any site can POST
// text/plain to a loopback port without a preflight; the browser marks it
// with an Origin header, and the inspector refuses it before reading it.
func TestServeUIRefusesPostsFromWebPages(t *testing.T) {
	s := startServeUI(t, buildLisa(t), pluginID, apiKey, secret)
	body := []byte("a form's text, or a fetch's")
	for _, origin := range []string{"https://evil.example", "null", s.url} {
		status, err := s.post(pluginID, body, map[string]string{"Content-Type": "text/plain", "Origin": origin})
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, status, origin)
	}
	_, b := s.get(t, "/api/requests")
	assert.JSONEq(t, `[]`, string(b), "nothing kept")
	status, err := s.post(pluginID, body, map[string]string{"Content-Type": "text/plain"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, status, "without an Origin, the checks answer")
}
