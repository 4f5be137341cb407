package inspect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
	"github.com/hello-lisa/lisa-go/lisatest"
)

// This is how lisa serve -ui wires the inspector: the lisatest handler
// reports each request to Observe, and one server serves the page, its API
// and the ingest endpoint.
func ExampleNew() {
	var in *inspect.Inspector // Observe ignores requests until New returns
	h := lisatest.NewHandler("plugin-1", "my-key", "my-secret", lisatest.WithoutRecords(),
		lisatest.WithObserver(func(r lisatest.Request) { in.Observe(r) }))
	in, err := inspect.New(inspect.Config{PluginID: "plugin-1", APIKey: "my-key", Secret: "my-secret", Handler: h})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(in.Handler()) // lisa serve: an http.Server on 127.0.0.1
	defer srv.Close()
	defer in.Close() // ends the page's event streams before the server shuts down

	for _, secret := range []string{"my-secret", "an-old-secret"} {
		client, _ := lisa.NewClient("plugin-1", "my-key", secret, lisa.WithBaseURL(srv.URL))
		client.Send(context.Background(), map[string]any{"productId": "123", "price": 19.99})
	}

	res, err := http.Get(srv.URL + "/api/requests")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	var rows []struct {
		Status    int
		Diagnosis string
		ProductID string
	}
	json.NewDecoder(res.Body).Decode(&rows)
	for _, r := range rows {
		fmt.Printf("%d %s %q\n", r.Status, r.ProductID, r.Diagnosis)
	}
	// Output:
	// 401 123 "signed with another secret"
	// 202 123 ""
}
