package inspect_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
)

// nested returns a JSON body of at most lisa.MaxPayloadBytes: depth levels of
// open … close around an array of as many 0s as fit. Indented, each 0 would
// sit behind depth levels of indentation.
func nested(open, close string, depth int) []byte {
	var b bytes.Buffer
	b.WriteString(strings.Repeat(open, depth) + "[0")
	for b.Len()+2+1+depth*len(close) <= lisa.MaxPayloadBytes {
		b.WriteString(",0")
	}
	b.WriteString("]" + strings.Repeat(close, depth))
	return b.Bytes()
}

// watchdogLimit is the resident set at which watch kills the process.
const watchdogLimit = 512 << 20

// watch kills the process once its resident set passes watchdogLimit, so
// that a test of unbounded code fails without taking the machine down. stop
// ends the watch (at its first call) and reports whether it killed the
// process.
func watch(s *served) (stop func() (killed bool)) {
	done := make(chan struct{})
	var killed atomic.Bool
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if rss, err := procStatus(s.cmd.Process.Pid, "VmRSS"); err == nil && rss > watchdogLimit {
				killed.Store(true)
				_ = s.cmd.Process.Signal(syscall.SIGKILL)
				return
			}
		}
	}()
	var once sync.Once
	return func() bool { once.Do(func() { close(done) }); return killed.Load() }
}

// TestServeUIMemoryPerRequestIsBounded sends `lisa serve -ui` the hostile
// bodies of issue 21, each to a fresh process, and reads the process's peak
// resident set from the kernel: it stays under 64 MiB.
func TestServeUIMemoryPerRequestIsBounded(t *testing.T) {
	bin := buildLisa(t)
	wrong := func(body []byte) map[string]string {
		return map[string]string{"Content-Type": "application/json", lisa.SignatureHeader: sign("not-the-secret", body)}
	}
	deepArrays := nested("[", "]", 9000)
	deepObjects := nested(`{"a":`, "}", 9000)
	flat := nested("[", "]", 0)
	for _, tc := range []struct {
		name   string
		body   []byte
		hdr    map[string]string
		pretty bool // whether the indented view fits
	}{
		{"deep arrays, no credentials, text/plain", deepArrays, map[string]string{"Content-Type": "text/plain"}, false},
		{"deep arrays, a well-formed wrong signature", deepArrays, wrong(deepArrays), false},
		{"deep objects, a well-formed wrong signature", deepObjects, wrong(deepObjects), false},
		{"flat array, a well-formed wrong signature: every re-serialization is tried", flat, wrong(flat), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, len(tc.body), lisa.MaxPayloadBytes)
			s := startServeUI(t, bin, pluginID, apiKey, secret)
			stop := watch(s)
			start := time.Now()
			status, err := s.post(pluginID, tc.body, tc.hdr)
			took := time.Since(start)
			if stop() {
				t.Fatalf("the process passed %d MiB of resident memory %v after the request was sent: killed", watchdogLimit>>20, took.Round(time.Millisecond))
			}
			require.NoError(t, err)
			require.Contains(t, []int{http.StatusBadRequest, http.StatusUnauthorized}, status)
			detail, b := s.get(t, "/api/requests/1")
			require.Equal(t, http.StatusOK, detail, string(b))
			var d Detail
			require.NoError(t, json.Unmarshal(b, &d))
			assert.Equal(t, string(tc.body), d.Body, "the body is kept and shown as received")
			assert.Equal(t, tc.pretty, d.BodyPretty != "", "indented view")
			if !tc.pretty {
				assert.Contains(t, d.BodyNote, "1 MiB", "the page says why there is no indented view")
			}
			page, _ := s.get(t, "/")
			require.Equal(t, http.StatusOK, page)
			peak := s.memory(t, "VmHWM")
			t.Logf("%d-byte body: answered in %v, detail %d bytes, peak RSS %.1f MiB", len(tc.body), took.Round(time.Millisecond), len(b), float64(peak)/(1<<20))
			assert.Less(t, peak, int64(64<<20), "peak RSS of lisa serve -ui after one request")
		})
	}
}
