package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStdoutExample runs the example, then scrapes its metrics once as
// Prometheus would.
func TestStdoutExample(t *testing.T) {
	var out bytes.Buffer
	d, err := run(&out, "127.0.0.1:0")
	require.NoError(t, err)
	defer d.Close()

	// The spans, one JSON object each.
	names := map[string]int{}
	links := 0
	dec := json.NewDecoder(strings.NewReader(jsonPart(out.String())))
	for dec.More() {
		var span struct {
			Name  string
			Links []struct{ Attributes []struct{ Key string } }
		}
		require.NoError(t, dec.Decode(&span))
		names[span.Name]++
		links += len(span.Links)
	}
	assert.Equal(t, map[string]int{
		"POST /plugin-notifications/{id}/updates": 6, // 202, 503 and 202, 401, Queue: 202 twice
		"lisa.send":          5,
		"update product 123": 1,
		"price change":       2,
	}, names)
	assert.Equal(t, 3, links, "the Queue's sends link to their Enqueue spans: the first has none, the second both")
	for _, s := range []string{apiKey, secret, "productId"} {
		assert.NotContains(t, out.String(), s)
	}

	text, err := scrape(d.MetricsURL)
	require.NoError(t, err)
	for _, want := range []string{
		`http_client_request_duration_seconds_bucket{error_type="503",http_request_method="POST",http_response_status_code="503",`,
		`lisa_client_sends_total{lisa_result="accepted",`,
		`lisa_client_retries_total{error_type="503",`,
		`lisa_queue_results_total{lisa_result="superseded",`,
		`lisa_client_wait_duration_seconds_count{lisa_wait_reason="retry-after",`,
	} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, `(?m)^lisa_client_sends_total\{lisa_result="accepted",[^}]*\} 4$`, text)
	assert.Regexp(t, `(?m)^lisa_queue_enqueued_total\{[^}]*\} 3$`, text)
}

// jsonPart drops the example's own lines, which are not JSON, from its
// output.
func jsonPart(s string) string {
	var b strings.Builder
	depth := 0
	for _, line := range strings.Split(s, "\n") {
		if depth == 0 && !strings.HasPrefix(line, "{") {
			continue
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		b.WriteString(line + "\n")
	}
	return b.String()
}
