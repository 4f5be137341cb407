//go:build unix

package inspect_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
)

// chromium finds the browser (LISA_CHROMIUM overrides). Without one the test
// skips, unless CI is set: there it must run.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LISA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but no chromium is installed: apt-get install chromium (or set LISA_CHROMIUM)")
	}
	t.Skip("skipping the browser test: no chromium in PATH (apt-get install chromium, or set LISA_CHROMIUM); with CI set it runs")
	return ""
}

// commas writes n with thousands separators, as the page does.
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// rowView is what the page shows for one row.
type rowView struct {
	Status, Tone, Verdict, Pill, RequestID, Size string
}

const rowsJS = `[...document.querySelectorAll("#rows tr")].map((tr) => ({
	status: tr.children[1].textContent, tone: tr.dataset.tone,
	verdict: tr.querySelector(".reason").textContent, pill: (tr.querySelector(".pill") || {}).textContent || "",
	requestId: tr.dataset.requestId, size: tr.children[4].textContent}))`

// TestBrowserShowsRequestsLive drives the page in headless Chromium: three
// notifications sent with the SDK appear live with their verdicts, the
// wrong-secret one opens on its diagnosis, and a 503 queued from the page is
// answered to the next send, which the SDK retries.
//
// LISA_SCREENSHOT=docs/inspector.png (relative to the module root) saves a
// screenshot of the page at the end.
func TestBrowserShowsRequestsLive(t *testing.T) {
	path := chromium(t)
	f := setup(t, inspect.Config{})
	b := launchBrowser(t, path)
	b.page("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": false}, nil)
	b.page("Page.navigate", map[string]any{"url": f.url + "/"}, nil)
	b.waitFor("the event stream to open", `document.getElementById("live") && document.getElementById("live").dataset.state === "live"`,
		`document.body ? document.body.innerText.slice(0, 300) : "no body"`, 20*time.Second)
	b.eval(`window.notReloaded = true`, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := []lisa.Option{lisa.WithBaseURL(f.url), lisa.WithMaxRetries(2), lisa.WithBackoff(10*time.Millisecond, 2*time.Second)}
	good, err := lisa.NewClient(pluginID, apiKey, secret, opts...)
	require.NoError(t, err)
	wrong, err := lisa.NewClient(pluginID, apiKey, "an-old-secret", opts...)
	require.NoError(t, err)

	receipt, err := good.Send(ctx, map[string]any{"productId": "123", "price": 19.99})
	require.NoError(t, err)
	_, err = wrong.Send(ctx, map[string]any{"productId": "456", "price": 5})
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	require.ErrorIs(t, err, lisa.ErrUnauthorized)
	wrongID := apiErr.RequestID

	// The SDK refuses an oversize payload before sending it, so the third
	// notification is signed with the SDK's Signer and posted by hand, as a
	// client without that check would.
	big := []byte(`{"productId":"789","blob":"` + strings.Repeat("x", lisa.MaxPayloadBytes) + `"}`)
	_, err = good.Send(ctx, big)
	require.ErrorIs(t, err, lisa.ErrPayloadTooLarge)
	require.Equal(t, http.StatusRequestEntityTooLarge, f.post(big, signed(big, map[string]string{lisa.RequestIDHeader: "oversize-1"})))

	b.waitFor("three rows", `document.querySelectorAll("#rows tr").length === 3`, rowsJS, 10*time.Second)
	var rows []rowView
	b.eval(rowsJS, &rows)
	require.Len(t, rows, 3)
	// newest first
	assert.Equal(t, rowView{Status: "413", Tone: "bad", Verdict: rows[0].Verdict, RequestID: "oversize-1",
		Size: "over: " + commas(len(big)) + " B"}, rows[0], "size from Content-Length")
	assert.Contains(t, rows[0].Verdict, "192 KiB")
	assert.Equal(t, "401", rows[1].Status)
	assert.Equal(t, "bad", rows[1].Tone)
	assert.Equal(t, wrongID, rows[1].RequestID)
	assert.Equal(t, "signed with another secret", rows[1].Pill)
	assert.Contains(t, rows[1].Verdict, "signature")
	assert.Equal(t, "202", rows[2].Status)
	assert.Equal(t, "ok", rows[2].Tone)
	assert.Equal(t, "accepted", rows[2].Verdict)
	assert.Equal(t, receipt.RequestID, rows[2].RequestID)

	// Open the wrong-secret request: its diagnosis shows.
	b.click(`#rows tr[data-request-id="` + wrongID + `"]`)
	b.waitFor("the diagnosis", `document.querySelector('#detail .finding[data-kind="other-secret"]')`,
		`document.getElementById("detail").innerText`, 10*time.Second)
	var detail string
	b.eval(`document.getElementById("detail").innerText`, &detail)
	assert.Contains(t, detail, "signed with another secret")
	assert.Contains(t, detail, "ApiKey ****")
	assert.Contains(t, detail, `"productId": "456"`, "the body, pretty-printed")

	// Queue one 503 from the page; the next send is answered 503, then retried.
	b.eval(`document.getElementById("fault-kind").value = "503"`, nil)
	b.click("#fault-queue")
	b.waitFor("the queued fault", `document.querySelector('#fault-pending .chip[data-kind="503"]')`,
		`document.querySelector(".faults").innerText`, 10*time.Second)
	retried, err := good.Send(ctx, map[string]any{"productId": "123", "price": 17.99})
	require.NoError(t, err)
	assert.Equal(t, 2, retried.Attempts, "the SDK retried after the 503")
	b.waitFor("both attempts", `document.querySelectorAll('#rows tr[data-request-id="`+retried.RequestID+`"]').length === 2`, rowsJS, 10*time.Second)
	b.eval(rowsJS, &rows)
	require.Len(t, rows, 5)
	assert.Equal(t, []string{"202", "503"}, []string{rows[0].Status, rows[1].Status})
	assert.Equal(t, "fault", rows[1].Tone)
	assert.Equal(t, retried.RequestID, rows[1].RequestID)
	b.waitFor("the fault queue to empty", `document.querySelectorAll("#fault-pending .chip").length === 0`,
		`document.querySelector(".faults").innerText`, 10*time.Second)

	var notReloaded bool
	b.eval(`window.notReloaded === true`, &notReloaded)
	assert.True(t, notReloaded, "rows arrived live, without a reload")
	assert.Empty(t, b.uncaught(), "uncaught exceptions in the page")

	if out := os.Getenv("LISA_SCREENSHOT"); out != "" {
		b.eval(`document.querySelectorAll("#rows tr.new").forEach((tr) => tr.classList.remove("new"))`, nil)
		var shot struct{ Data string }
		b.page("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
		png, err := base64.StdEncoding.DecodeString(shot.Data)
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")))
		if !strings.HasPrefix(out, "/") {
			out = "../../../../" + out // from this package to the module root
		}
		require.NoError(t, os.WriteFile(out, png, 0o644))
		t.Logf("screenshot: %s (%d bytes)", out, len(png))
	}
}
