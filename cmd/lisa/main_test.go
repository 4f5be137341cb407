package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	tPlugin = "cli-plugin"
	tKey    = "cli-api-key-0123456789"
	tSecret = "cli-secret-9876543210"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(env{
		args:   args,
		stdin:  strings.NewReader(stdin),
		stdout: &stdout,
		stderr: &stderr,
		getenv: func(k string) string { return vars[k] },
	})
	for _, out := range []string{stdout.String(), stderr.String()} {
		assert.NotContains(t, out, tKey, "the API key is never printed")
		assert.NotContains(t, out, tSecret, "the secret is never printed")
	}
	return code, stdout.String(), stderr.String()
}

func serverVars(t *testing.T) (*lisatest.Server, map[string]string) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	t.Cleanup(srv.Close)
	return srv, map[string]string{"LISA_PLUGIN_ID": tPlugin, "LISA_API_KEY": tKey, "LISA_SECRET": tSecret, "LISA_BASE_URL": srv.URL}
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "input")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestSendDocument(t *testing.T) {
	srv, vars := serverVars(t)
	code, out, errOut := runCLI(t, vars, `{"productId":"1","price":2.5}`+"\n", "send")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "1 accepted, 0 failed\n", out)
	require.Len(t, srv.Received(), 1)
	assert.Equal(t, `{"productId":"1","price":2.5}`+"\n", string(srv.Received()[0].Body), "sent exactly as given")
}

func TestSendNDJSONWritesFailedLinesVerbatim(t *testing.T) {
	srv, vars := serverVars(t)
	oversize := `{"d":"` + strings.Repeat("x", lisa.MaxPayloadBytes) + `"}`
	input := strings.Join([]string{
		`{"productId":"1"}`,
		``,
		`not json`,
		`{"productId":"2", "price": 3}`,
		oversize,
		`   `,
		`{"productId":"3"}` + "\r",
		`[1,`,
	}, "\n") + "\n"
	failedPath := filepath.Join(t.TempDir(), "failed.ndjson")
	code, out, errOut := runCLI(t, vars, "", "send", "-ndjson", "-concurrency", "3", "-failed", failedPath, writeFile(t, input))
	assert.Equal(t, exitFailed, code)
	assert.Equal(t, "3 accepted, 0 failed, 3 rejected\n", out)
	assert.Contains(t, errOut, "input:3: lisa: invalid payload", "FILE:LINE: error")
	assert.Contains(t, errOut, "input:5: lisa: payload is")
	assert.Contains(t, errOut, "input:8: lisa: invalid payload")

	failed, err := os.ReadFile(failedPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(failed), "\n"), "\n")
	assert.ElementsMatch(t, []string{"not json", oversize, "[1,"}, lines, "exactly the failed lines, verbatim")

	var bodies []string
	for _, n := range srv.Received() {
		bodies = append(bodies, string(n.Body))
	}
	assert.ElementsMatch(t, []string{`{"productId":"1"}`, `{"productId":"2", "price": 3}`, `{"productId":"3"}` + "\r"}, bodies)
}

func TestSendRerunOfFailedFile(t *testing.T) {
	srv, vars := serverVars(t)
	srv.Script(lisatest.Fault{Status: 503}) // the first request fails
	failedPath := filepath.Join(t.TempDir(), "failed.ndjson")
	code, out, _ := runCLI(t, vars, "", "send", "-ndjson", "-concurrency", "1", "-retries", "0", "-failed", failedPath,
		writeFile(t, "{\"productId\":\"1\"}\n{\"productId\":\"2\"}\n"))
	assert.Equal(t, exitFailed, code)
	assert.Equal(t, "1 accepted, 1 failed\n", out)
	code, out, _ = runCLI(t, vars, "", "send", "-ndjson", failedPath)
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "1 accepted, 0 failed\n", out)
	assert.Len(t, srv.Received(), 2, "each line accepted once across the two runs")
}

func TestSendDryRunSendsNothing(t *testing.T) {
	srv, vars := serverVars(t)
	code, out, errOut := runCLI(t, vars, `{"productId":"123","price":19.99}`, "send", "-dry-run")
	assert.Equal(t, exitOK, code, errOut)
	assert.Empty(t, srv.Requests())
	sig := lisa.NewSigner([]byte(tSecret)).Sign([]byte(`{"productId":"123","price":19.99}`))
	assert.Contains(t, out, "POST "+srv.URL+"/plugin-notifications/"+tPlugin+"/updates\n")
	assert.Contains(t, out, "Authorization: ApiKey ****\n")
	assert.Contains(t, out, "X-Hmac-Signature: "+sig+"\n")
	assert.Contains(t, out, "Content-Type: application/json\n")
	assert.Contains(t, out, "(body: 33 bytes, not sent)")

	code, out, _ = runCLI(t, vars, "{\"a\":1}\n\n{\"b\":2}\n", "send", "-ndjson", "-dry-run")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, 2, strings.Count(out, "not sent"))
	assert.Empty(t, srv.Requests())
}

func TestSignAndVerify(t *testing.T) {
	vars := map[string]string{"LISA_SECRET": tSecret}
	signer := lisa.NewSigner([]byte(tSecret))
	for _, body := range []string{`{"productId":"123","price":19.99}`, "{}\n", ""} {
		code, out, _ := runCLI(t, vars, body, "sign")
		assert.Equal(t, exitOK, code)
		assert.Equal(t, signer.Sign([]byte(body))+"\n", out, "the bytes exactly as given: %q", body)

		code, out, _ = runCLI(t, vars, body, "verify", "-signature", signer.Sign([]byte(body)))
		assert.Equal(t, exitOK, code)
		assert.Equal(t, "valid\n", out)

		code, out, _ = runCLI(t, vars, body+" ", "verify", "-signature", signer.Sign([]byte(body)))
		assert.Equal(t, exitFailed, code)
		assert.Equal(t, "invalid\n", out)
	}
	secretFile := writeFile(t, tSecret+"\n")
	code, out, _ := runCLI(t, nil, "x", "sign", "-secret-file", secretFile)
	assert.Equal(t, exitOK, code)
	assert.Equal(t, signer.Sign([]byte("x"))+"\n", out, "a trailing newline in the secret file is not part of the secret")
}

func TestUsageErrors(t *testing.T) {
	_, vars := serverVars(t)
	cases := [][]string{
		{},
		{"nope"},
		{"send", "-bogus"},
		{"send", "a", "b"},
		{"send", "/does/not/exist"},
		{"send", "-concurrency", "0"},
		{"verify"},
		{"send", "-url", "http://example.com"},
	}
	for _, args := range cases {
		code, _, errOut := runCLI(t, vars, "{}", args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
	code, _, errOut := runCLI(t, nil, "{}", "send")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "LISA_PLUGIN_ID")
	code, _, errOut = runCLI(t, nil, "{}", "sign")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "LISA_SECRET")
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"send", "sign", "verify", "serve"} {
		for _, args := range [][]string{{cmd, "-h"}, {"help", cmd}} {
			code, out, errOut := runCLI(t, nil, "", args...)
			assert.Equal(t, exitOK, code, args)
			assert.Empty(t, errOut, "help goes to stdout")
			assert.Contains(t, out, "Example:", args)
			assert.Contains(t, out, "lisa "+cmd, args)
		}
	}
	_, out, _ := runCLI(t, nil, "", "serve", "-h")
	assert.NotContains(t, out, "-url", "serve's help shows no flag it does not use")
	code, out, _ := runCLI(t, nil, "", "version")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, fmt.Sprintf("lisa %s", lisa.Version), strings.Fields(out)[0]+" "+strings.Fields(out)[1])
}

func TestSecretOnCommandLineWarns(t *testing.T) {
	srv, vars := serverVars(t)
	delete(vars, "LISA_SECRET")
	code, _, errOut := runCLI(t, vars, "{}", "send", "-secret", tSecret)
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, "warning: -secret on the command line")
	assert.Len(t, srv.Received(), 1)
}
