package lisatest_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrintingNeverShowsTheKey prints the server, its handler and its
// records, as values and pointers, alone and inside slices and structs,
// under every verb: the API key and the secret never show, while the
// records' Header field keeps the raw Authorization for assertions.
func TestPrintingNeverShowsTheKey(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.Send(context.Background(), map[string]any{"productId": "1"})
	require.NoError(t, err)
	received, requests := srv.Received(), srv.Requests()
	require.Len(t, received, 1)
	require.Len(t, requests, 1)
	assert.Equal(t, "ApiKey "+apiKey, received[0].Header.Get("Authorization"), "the field keeps the raw value")
	assert.Equal(t, "ApiKey "+apiKey, requests[0].Header.Get("Authorization"))

	type holder struct {
		R lisatest.Request
		N *lisatest.Notification
	}
	values := map[string]any{
		"server":               srv,
		"handler":              srv.Handler,
		"handler value":        *srv.Handler,
		"notification":         received[0],
		"notification pointer": &received[0],
		"notifications":        received,
		"request":              requests[0],
		"requests":             requests,
		"struct":               holder{requests[0], &received[0]},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, cred := range []string{apiKey, secret} {
				for _, spelled := range []string{cred, fmt.Sprintf("%x", cred), fmt.Sprintf("%X", cred), fmt.Sprintf("%q", cred), fmt.Sprint([]byte(cred))} {
					assert.NotContains(t, out, spelled, "%s printed with %s", name, verb)
				}
			}
		}
	}
	assert.Contains(t, fmt.Sprintf("%v", received[0]), "ApiKey ****", "masked, not dropped")
}

// TestPrintingARequestShowsItsOwnFields prints a request under every verb:
// the Authorization value is masked, and the fields beside the embedded
// Notification (method, path, status, reason, fault) still show.
func TestPrintingARequestShowsItsOwnFields(t *testing.T) {
	r := lisatest.Request{
		Notification: lisatest.Notification{Header: http.Header{"Authorization": {"ApiKey " + apiKey}}},
		Method:       "PUT", Path: "/plugin-notifications/p/updates", Status: 405,
		Reason: "method must be POST", Fault: "status 503",
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, r)
		for _, want := range []string{"PUT", r.Path, "405", r.Reason, r.Fault, "ApiKey ****"} {
			assert.Contains(t, out, want, "%s of a Request", verb)
		}
		assert.NotContains(t, out, apiKey, "%s of a Request", verb)
	}
	// A field added to Request must be added to its Format too.
	typ := reflect.TypeOf(r)
	for i := 0; i < typ.NumField(); i++ {
		assert.Contains(t, fmt.Sprintf("%+v", r), typ.Field(i).Name+":", "Request.Format misses a field")
	}
	assert.True(t, strings.HasPrefix(fmt.Sprintf("%#v", r), "lisatest.Request{Notification:lisatest.Notification{"), fmt.Sprintf("%#v", r))
	assert.True(t, strings.HasPrefix(fmt.Sprintf("%#v", r.Notification), "lisatest.Notification{"), fmt.Sprintf("%#v", r.Notification))
}
