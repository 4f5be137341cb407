package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRiverExample runs the example: the job's send is in the work span's
// trace, which links to the insert in the transaction's trace, and the
// request carried the work span's trace.
func TestRiverExample(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	want := regexp.MustCompile(`(?s)` +
		`trace (\w{32})\n` +
		`  PUT /products/123 \(internal\)\n` +
		`    river.insert_many \(producer\)\n` +
		`\ntrace (\w{32})\n` +
		`  river.work \(consumer\)  → links to river.insert_many in trace (\w{32})\n` +
		`    lisa.send \(internal\)\n` +
		`      POST /plugin-notifications/\{id\}/updates \(client\)\n` +
		`\ntraceparent the server received: 00-(\w{32})-\w{16}-01\n$`)
	m := want.FindStringSubmatch(out.String())
	require.NotNil(t, m, "output:\n%s", out.String())
	require.Equal(t, m[1], m[3], "the link points into the transaction's trace")
	require.Equal(t, m[2], m[4], "the request carried the job's trace")
	require.NotEqual(t, m[1], m[2])
}
