package lisatest_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/require"
)

const (
	pluginID = "plugin-7"
	apiKey   = "api-key-123"
	secret   = "shh-secret"
)

// post sends a hand-built request, so that each check can be hit on its own.
func post(t *testing.T, srv *lisatest.Server, method, path string, header http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
