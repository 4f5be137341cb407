package lisaotel_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestNoSecretInAnySpanOrMetric runs sends that meet 401s, error bodies
// echoing the API key, the secret and the payload, retries, a dropped
// connection and a Queue, and then looks for any credential, signature or
// body in every span and metric recorded.
func TestNoSecretInAnySpanOrMetric(t *testing.T) {
	r := newRig(t, []lisa.Option{lisa.WithMaxRetries(2)}, lisaotel.WithPluginID(pluginID))
	const marker = "PAYLOAD-MARKER-5c1e"
	payload := []byte(`{"productId":"` + marker + `"}`)
	echo := `{"error":"bad credentials: ApiKey ` + apiKey + `, secret ` + secret + `, body ` + string(payload) + `"}`
	r.srv.Script(
		lisatest.Fault{Status: http.StatusUnauthorized, Body: echo},
		lisatest.Fault{Status: http.StatusServiceUnavailable, Body: echo, ContentType: "text/plain"},
		lisatest.Fault{Drop: true},
		lisatest.Fault{},
		lisatest.Fault{Status: http.StatusBadRequest, Body: echo},
		lisatest.Fault{Status: http.StatusUnauthorized, Body: echo},
	)
	ctx := context.Background()
	_, err := r.client.Send(ctx, payload)
	require.ErrorIs(t, err, lisa.ErrUnauthorized)
	_, err = r.client.Send(ctx, payload) // 503, dropped, accepted
	require.NoError(t, err)
	_, err = r.client.Send(ctx, payload)
	require.ErrorIs(t, err, lisa.ErrBadRequest)

	q, err := lisa.NewQueue(r.client, lisa.QueueOptions{})
	require.NoError(t, err)
	ctx, span := r.tp.Tracer("test").Start(ctx, "enqueue")
	require.NoError(t, q.EnqueueKey(ctx, "k", payload))
	span.End()
	require.Error(t, q.Close(context.Background()), "the 401 stopped the queue")

	// A wrong secret: the server answers 401 by itself, its error naming the
	// check that failed.
	wrong, err := lisa.NewClient(pluginID, apiKey, "not-the-"+secret, lisa.WithBaseURL(r.srv.URL),
		lisaotel.ClientOption(r.opts...))
	require.NoError(t, err)
	_, err = wrong.Send(context.Background(), payload)
	require.ErrorIs(t, err, lisa.ErrUnauthorized)

	secrets := []string{apiKey, secret, marker, "ApiKey"}
	for _, req := range r.srv.Requests() {
		require.NotEmpty(t, req.Signature)
		secrets = append(secrets, req.Signature)
	}
	spans := r.spans.GetSpans()
	require.Len(t, r.ended(lisaotel.SendSpanName), 5)
	require.Len(t, r.ended(attemptSpan), 7)
	for _, s := range spans {
		text := everyString(s)
		for _, secret := range secrets {
			assert.NotContains(t, text, secret, "span %s", s.Name)
		}
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	all, err := json.Marshal(rm)
	require.NoError(t, err)
	require.True(t, strings.Contains(string(all), "http.client.request.duration"), "the metrics were collected")
	for _, secret := range secrets {
		assert.NotContains(t, string(all), secret)
	}
}
