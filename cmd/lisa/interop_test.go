package main

// Interop tests: implementations nobody here wrote (Node's crypto, Python's
// hmac, OpenSSL) against the lisa binary and the SDK. Each skips with a
// message when its tool is not installed.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the lisa command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lisa-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lisa")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI must run every interop check", tool)
		}
		t.Skipf("%s is not installed: skipping this interop check", tool)
	}
	return p
}

func credEnv() []string {
	return append(os.Environ(), "LISA_PLUGIN_ID="+tPlugin, "LISA_API_KEY="+tKey, "LISA_SECRET="+tSecret)
}

// startServe runs `lisa serve` on a free loopback port and returns its
// endpoint and the lines it prints.
func startServe(t *testing.T) (endpoint string, lines func() []string) {
	t.Helper()
	cmd := exec.Command(binary(t), "serve", "-addr", "127.0.0.1:0")
	cmd.Env = credEnv()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	var mu sync.Mutex
	var got []string
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			got = append(got, sc.Text())
			if len(got) == 1 {
				first <- sc.Text()
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		assert.NotContains(t, stderr.String(), tKey)
		assert.NotContains(t, stderr.String(), tSecret)
	})
	select {
	case l := <-first:
		_, base, ok := strings.Cut(l, "listening on ")
		require.True(t, ok, l)
		return base + "/plugin-notifications/" + tPlugin + "/updates", func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
	case <-time.After(30 * time.Second):
		t.Fatalf("lisa serve did not start: %s", stderr.String())
	}
	return "", nil
}

// Node: crypto.createHmac + http.request, written here in a few lines.
const nodeClient = `
const crypto = require('crypto'), http = require('http');
const [url, key, secret, tamper] = process.argv.slice(1);
const body = require('fs').readFileSync(0, 'utf8');
const sig = crypto.createHmac('sha256', secret).update(body).digest('hex');
const sent = tamper === '1' ? body.replace('19.99', '1.99') : body;
const req = http.request(url, {method: 'POST', headers: {
  'Authorization': 'ApiKey ' + key, 'Content-Type': 'application/json',
  'X-Hmac-Signature': sig, 'Content-Length': Buffer.byteLength(sent)}}, res => {
  res.resume(); res.on('end', () => console.log(res.statusCode)); });
req.on('error', e => { console.error(e.message); process.exit(3); });
req.end(sent);
`

// Python: hmac + urllib, written here in a few lines.
const pythonClient = `
import hmac, hashlib, sys, urllib.request, urllib.error
url, key, secret, tamper = sys.argv[1:5]
data = sys.stdin.buffer.read()
sig = hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
if tamper == "1": data = data.replace(b"19.99", b"1.99")
req = urllib.request.Request(url, data=data, method="POST", headers={
    "Authorization": "ApiKey " + key, "Content-Type": "application/json", "X-Hmac-Signature": sig})
try:
    print(urllib.request.urlopen(req).status)
except urllib.error.HTTPError as e:
    print(e.code)
`

func TestInteropClientsAgainstServe(t *testing.T) {
	body := `{"productId":"123","price":19.99}`
	big := `{"d":"` + strings.Repeat("x", lisa.MaxPayloadBytes) + `"}`
	clients := map[string]func(endpoint, tamper string) *exec.Cmd{
		"node": func(endpoint, tamper string) *exec.Cmd {
			return exec.Command(need(t, "node"), "-e", nodeClient, endpoint, tKey, tSecret, tamper)
		},
		"python3": func(endpoint, tamper string) *exec.Cmd {
			return exec.Command(need(t, "python3"), "-c", pythonClient, endpoint, tKey, tSecret, tamper)
		},
	}
	for name, client := range clients {
		t.Run(name, func(t *testing.T) {
			need(t, name)
			endpoint, lines := startServe(t)
			for _, tc := range []struct {
				body, tamper, want string
			}{{body, "0", "202"}, {body, "1", "401"}, {big, "0", "413"}} {
				cmd := client(endpoint, tc.tamper)
				cmd.Stdin = strings.NewReader(tc.body) // a 192 KiB argument is over the kernel's limit
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, string(out))
				assert.Equal(t, tc.want, strings.TrimSpace(string(out)))
			}
			require.Eventually(t, func() bool { return len(lines()) == 5 }, 10*time.Second, 10*time.Millisecond)
			assert.Contains(t, lines()[1], "export LISA_BASE_URL=http://127.0.0.1:")
			assert.Contains(t, lines()[2], " 202 accepted")
			assert.Contains(t, lines()[3], " 401 signature does not match the body")
			assert.Contains(t, lines()[4], " 413 ")
		})
	}
}

func TestInteropOpenSSL(t *testing.T) {
	openssl := need(t, "openssl")
	body := []byte(`{"productId":"123","price":19.99,"title":"Café — ünïcode"}`)
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(bodyFile, body, 0o600))
	out, err := exec.Command(openssl, "dgst", "-sha256", "-hmac", tSecret, bodyFile).Output()
	require.NoError(t, err)
	fields := strings.Fields(string(out))
	opensslSig := fields[len(fields)-1]

	// lisa sign agrees with openssl dgst -hmac.
	cmd := exec.Command(binary(t), "sign", bodyFile)
	cmd.Env = credEnv()
	signOut, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, opensslSig, strings.TrimSpace(string(signOut)))

	// A request signed by openssl is accepted by lisa serve.
	endpoint, _ := startServe(t)
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "ApiKey "+tKey)
	req.Header.Set(lisa.SignatureHeader, opensslSig)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
}

// pythonReceiver is an independent receiver: it recomputes the HMAC with
// Python's hmac and compares with compare_digest.
const pythonReceiver = `
import hmac, hashlib, sys, http.server
key, secret = sys.argv[1], sys.argv[2].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        want = hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-Hmac-Signature", "")) and \
             self.headers.get("Authorization") == "ApiKey " + key
        self.send_response(202 if ok else 401); self.end_headers()
        print("verified" if ok else "rejected", len(body), flush=True)
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
`

func TestInteropSDKVerifiedByPython(t *testing.T) {
	python := need(t, "python3")
	cmd := exec.Command(python, "-c", pythonReceiver, tKey, tSecret)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan())
	port := strings.TrimSpace(sc.Text())

	for _, tc := range []struct {
		secret string
		want   string
	}{{tSecret, "verified"}, {"not-the-secret", "rejected"}} {
		c, err := lisa.NewClient(tPlugin, tKey, tc.secret, lisa.WithBaseURL("http://127.0.0.1:"+port), lisa.WithMaxRetries(0))
		require.NoError(t, err)
		_, err = c.Send(context.Background(), map[string]any{"productId": "123", "title": "Café <b>&</b>"})
		if tc.want == "verified" {
			assert.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, lisa.ErrUnauthorized)
		}
		require.True(t, sc.Scan())
		assert.True(t, strings.HasPrefix(sc.Text(), tc.want), sc.Text())
	}
}

// TestSendNDJSONMemoryIsBounded streams 100,000 lines through the built
// binary and reads its peak resident memory from the kernel (rusage).
func TestSendNDJSONMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 100,000-line run")
	}
	srv := lisatest.NewServer(tPlugin, tKey, tSecret, lisatest.WithoutRecords())
	defer srv.Close()
	input := filepath.Join(t.TempDir(), "catalog.ndjson")
	f, err := os.Create(input)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	const lines = 100_000
	pad := strings.Repeat("p", 400)
	for i := 0; i < lines; i++ {
		fmt.Fprintf(w, `{"productId":"%d","price":%d.99,"title":"%s"}`+"\n", i, i%100, pad)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	cmd := exec.Command(binary(t), "send", "-ndjson", "-concurrency", "8", input)
	cmd.Env = append(credEnv(), "LISA_BASE_URL="+srv.URL)
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%d accepted, 0 failed\n", lines), string(out))
	_, accepted := srv.Counts()
	assert.Equal(t, lines, accepted)

	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage on this platform")
	}
	maxRSS := ru.Maxrss * 1024 // kilobytes on Linux
	t.Logf("lisa send -ndjson of %d lines (%d MiB): peak RSS %.1f MiB", lines, fileSize(t, input)>>20, float64(maxRSS)/(1<<20))
	assert.Less(t, maxRSS, int64(64<<20), "peak RSS stays under 64 MiB")
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Size()
}

// TestServeUI runs `lisa serve -ui` and reads what the SDK sent from the
// inspector's API on the same address.
func TestServeUI(t *testing.T) {
	cmd := exec.Command(binary(t), "serve", "-ui", "-addr", "127.0.0.1:0")
	cmd.Env = credEnv()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan())
	_, base, ok := strings.Cut(sc.Text(), "listening on ")
	require.True(t, ok, sc.Text())
	go func() {
		for sc.Scan() {
		}
	}()

	c, err := lisa.NewClient(tPlugin, tKey, tSecret, lisa.WithBaseURL(base))
	require.NoError(t, err)
	rcpt, err := c.Send(context.Background(), []byte(`{"productId":"ui-1"}`))
	require.NoError(t, err)
	resp, err := http.Get(base + "/api/requests")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), rcpt.RequestID)
	assert.Contains(t, string(body), "ui-1")
	assert.NotContains(t, string(body), tKey)
	assert.NotContains(t, string(body), tSecret)
	page, err := http.Get(base + "/")
	require.NoError(t, err)
	page.Body.Close()
	assert.Equal(t, http.StatusOK, page.StatusCode)
}
