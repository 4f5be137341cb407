package lisa_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUserAgentOption(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL, lisa.WithUserAgent("shop-sync/2.1"))
	_, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	ua := rec.requests()[0].Header.Get("User-Agent")
	assert.Regexp(t, `^lisa-go/\d+\.\d+\.\d+ go\S+ shop-sync/2\.1$`, ua)
}
