package lisa_test

// Tests for issue 19: each promise of the package's documentation that a
// hostile review broke, tested through the public API against loopback
// servers. Each test failed on the code the issue was filed against, but
// two guards of what already held (redaction of every JSON spelling, whose
// cost the benchmarks measure, and a 504 being retried); the figures are in
// the note of the change that fixed them.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// promiseLines returns n distinct JSON lines of varied lengths, so that a
// payload aliasing a reused buffer is overwritten by another line's bytes.
func promiseLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		note := strings.Repeat(string(rune('a'+i%26)), 1+(i*37)%90)
		lines[i] = fmt.Sprintf(`{"productId":"p%04d","note":%q}`, i, note)
	}
	return lines
}

// promiseMismatch compares the bodies a server accepted with the lines
// given, as multisets: wrong counts bodies that were no line (or a line once
// too often), missing counts lines that never arrived.
func promiseMismatch(got [][]byte, want []string) (wrong, missing int) {
	left := make(map[string]int, len(want))
	for _, w := range want {
		left[w]++
	}
	for _, g := range got {
		if left[string(g)] > 0 {
			left[string(g)]--
		} else {
			wrong++
		}
	}
	for _, n := range left {
		missing += n
	}
	return wrong, missing
}

func promiseBodies(ns []lisatest.Notification) [][]byte {
	out := make([][]byte, len(ns))
	for i, n := range ns {
		out[i] = n.Body
	}
	return out
}

// Item 1: a []byte given to Enqueue or EnqueueKey is copied, so the natural
// loop over bufio.Scanner.Bytes() delivers every line as it was.
func TestPromiseEnqueueCopiesScannerBytes(t *testing.T) {
	lines := promiseLines(200)
	input := strings.Join(lines, "\n") + "\n"
	for _, keyed := range []bool{false, true} {
		name := "Enqueue"
		if keyed {
			name = "EnqueueKey"
		}
		t.Run(name, func(t *testing.T) {
			// The server holds every request until the loop is done, so the
			// payloads wait in the queue while the scanner reuses its buffer.
			g := newGatedServer(t, testSecret, holdAll)
			log := newResultLog()
			q := newQueue(t, newTestClient(t, g.URL), lisa.QueueOptions{OnResult: log.add})
			ctx := context.Background()
			sc := bufio.NewScanner(strings.NewReader(input))
			for n := 0; sc.Scan(); n++ {
				var err error
				if keyed {
					err = q.EnqueueKey(ctx, "k"+strconv.Itoa(n), sc.Bytes())
				} else {
					err = q.Enqueue(ctx, sc.Bytes())
				}
				require.NoError(t, err, "line %d", n)
			}
			require.NoError(t, sc.Err())
			g.release()
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			require.NoError(t, q.Flush(fctx))

			results, dups, _ := log.snapshot()
			require.Empty(t, dups)
			require.Len(t, results, len(lines))
			failed, unauthorized := 0, 0
			for _, r := range results {
				if r.Err != nil {
					failed++
					if errors.Is(r.Err, lisa.ErrUnauthorized) {
						unauthorized++
					}
				}
			}
			wrong, missing := promiseMismatch(promiseBodies(g.handler.Received()), lines)
			assert.Zero(t, failed+wrong+missing,
				"of %d lines: %d failed (%d as 401), %d accepted bodies were not an enqueued line, %d lines never arrived",
				len(lines), failed, unauthorized, wrong, missing)
		})
	}
}

// Item 2: SendSeq copies a yielded []byte before asking for the next one.
func TestPromiseSendSeqCopiesScannerBytes(t *testing.T) {
	lines := promiseLines(500)
	input := strings.Join(lines, "\n") + "\n"
	h := lisatest.NewHandler(testPluginID, testAPIKey, testSecret)
	// A millisecond per request keeps the feeder's read-ahead full, as a
	// real network does.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	var seq iter.Seq[any] = func(yield func(any) bool) {
		sc := bufio.NewScanner(strings.NewReader(input))
		for sc.Scan() {
			if !yield(sc.Bytes()) {
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results, failed, unauthorized := 0, 0, 0
	for r := range c.SendSeq(ctx, seq) {
		results++
		if r.Err != nil {
			failed++
			if errors.Is(r.Err, lisa.ErrUnauthorized) {
				unauthorized++
			}
		}
	}
	require.Equal(t, len(lines), results)
	wrong, missing := promiseMismatch(promiseBodies(h.Received()), lines)
	assert.Zero(t, unauthorized, "answers 401")
	assert.Zero(t, failed+wrong+missing,
		"of %d payloads: %d failed (%d as 401), %d accepted bodies were not a yielded line, %d lines never arrived",
		len(lines), failed, unauthorized, wrong, missing)
}

// Item 3: a Retry-After above MaxRetryAfter ends that Send at once, and the
// client-wide cooldown it leaves never exceeds MaxRetryAfter either.
func TestPromiseRetryAfterCooldownIsBounded(t *testing.T) {
	for _, ra := range []string{"1500", "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(ra, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", ra)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			c := newTestClient(t, rec.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Send(ctx, product{"1", 2})
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.ErrorIs(t, err, lisa.ErrRetryAfterTooLong)
			assert.Greater(t, apiErr.RetryAfter, lisa.MaxRetryAfter)
			assert.Equal(t, 1, apiErr.Attempts)
			assert.Equal(t, 1, len(rec.requests()))
			cooldown := c.Stats().Cooldown
			assert.LessOrEqual(t, cooldown, lisa.MaxRetryAfter, "client-wide cooldown %s after Retry-After: %s", cooldown, ra)
		})
	}
}

// Item 3: with WithRetryAfterUnit(time.Millisecond), Retry-After: 300 is a
// wait of 300 ms, then the retry goes through.
func TestPromiseRetryAfterInMilliseconds(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	defer srv.Close()
	srv.Script(lisatest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "300"})
	c := newTestClient(t, srv.URL, lisa.WithRetryAfterUnit(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	receipt, err := c.Send(ctx, product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, 2, receipt.Attempts)
	reqs := srv.Requests()
	require.Equal(t, 2, len(reqs))
	assert.Equal(t, 1, len(srv.Received()))
	// A lower bound only: the retry waited for the Retry-After, not just
	// the millisecond backoff.
	assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), 250*time.Millisecond)
}

// Item 3: the unit is seconds or milliseconds, nothing else.
func TestPromiseRetryAfterUnitIsValidated(t *testing.T) {
	for _, unit := range []time.Duration{time.Second, time.Millisecond} {
		_, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithRetryAfterUnit(unit))
		assert.NoError(t, err, "unit %s", unit)
	}
	for _, unit := range []time.Duration{0, -time.Second, time.Microsecond, time.Minute, 10 * time.Millisecond} {
		_, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithRetryAfterUnit(unit))
		if assert.Error(t, err, "unit %s", unit) {
			assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
		}
	}
}

// promiseHugeHeaders answers 202 with a 40 KiB header, over the client's
// 32 KiB bound on an answer's headers.
func promiseHugeHeaders(w http.ResponseWriter, _ *http.Request, _ int) {
	w.Header().Set("X-Padding", strings.Repeat("p", 40<<10))
	w.WriteHeader(http.StatusAccepted)
}

// Item 4a: an answer the client refused to read may have been a 202: it is
// not sent again, not by Send and not by a Queue's Spill.
func TestPromiseUnreadAnswerIsNotResent(t *testing.T) {
	t.Run("Send", func(t *testing.T) {
		rec := newRecorder(t, promiseHugeHeaders)
		c := newTestClient(t, rec.URL)
		_, err := c.Send(context.Background(), product{"1", 2})
		require.Error(t, err)
		assert.Equal(t, 1, len(rec.requests()), "requests the server received (and accepted)")
		assert.False(t, lisa.IsRetryable(err), "IsRetryable: %v", err)
		assert.Contains(t, strings.ToLower(err.Error()), "accepted", "the error says the notification may have been accepted: %v", err)
	})
	t.Run("Queue", func(t *testing.T) {
		rec := newRecorder(t, promiseHugeHeaders)
		spill := &spillRecorder{}
		log := newResultLog()
		q := newQueue(t, newTestClient(t, rec.URL), lisa.QueueOptions{Spill: spill, OnResult: log.add})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, q.Enqueue(ctx, product{"1", 2}))
		require.NoError(t, q.Flush(ctx))
		results, _, _ := log.snapshot()
		require.Len(t, results, 1)
		assert.Error(t, results[0].Err)
		assert.False(t, results[0].Spilled)
		assert.Empty(t, spill.lines(t), "lines spilled for a redelivery")
		assert.Equal(t, 1, len(rec.requests()), "requests the server received (and accepted)")
	})
}

// Item 4b: once a 2xx status is in, Send returns the receipt without
// waiting for a body that trickles.
func TestPromiseTricklingAcceptedBodyDoesNotHoldSend(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"sta`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer open() // before the recorder's Close, which waits for the handler
	c := newTestClient(t, rec.URL)
	type outcome struct {
		receipt *lisa.Receipt
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		receipt, err := c.Send(context.Background(), product{"1", 2})
		done <- outcome{receipt, err}
	}()
	select {
	case o := <-done:
		require.NoError(t, o.err)
		assert.Equal(t, http.StatusAccepted, o.receipt.StatusCode)
		assert.Equal(t, 1, o.receipt.Attempts)
	case <-time.After(10 * time.Second):
		open()
		o := <-done
		t.Fatalf("Send still waiting for the body 10 s after the 202 arrived (then returned %v, %v)", o.receipt, o.err)
	}
	assert.Equal(t, 1, len(rec.requests()))
}

// Item 5: an error body echoing the credentials in every JSON spelling,
// and mixes of them, shows none of them in the error, however printed.
func TestPromiseRedactsEveryJSONSpelling(t *testing.T) {
	const apiKey = "k/ey-🔑-Ünï-5f2c0d1e"
	const secret = `s3cr"et/\-😀-9d8c7b6a`
	units := func(s string) []uint16 { return utf16.Encode([]rune(s)) }
	all := func(format string) func(string) string { // every UTF-16 unit as \uXXXX
		return func(s string) string {
			var b strings.Builder
			for _, u := range units(s) {
				fmt.Fprintf(&b, format, u)
			}
			return b.String()
		}
	}
	encoded := func(s string) string {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		return strings.Trim(string(b), `"`)
	}
	// mixed alternates literal runes with escaped ones, and the hex case
	// inside each escape, surrogate pairs split across cases.
	mixed := func(s string) string {
		var b strings.Builder
		for i, r := range []rune(s) {
			switch {
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04X`, r1, r2)
			case i%2 == 0 && r != '"' && r != '\\':
				b.WriteRune(r)
			case i%4 == 1:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
		return b.String()
	}
	spellings := map[string]func(string) string{
		"literal":         func(s string) string { return s },
		"encoding/json":   encoded,
		"escaped slashes": func(s string) string { return strings.ReplaceAll(encoded(s), "/", `\/`) },
		"all lower hex":   all(`\u%04x`),
		"all upper hex":   all(`\u%04X`),
		"mixed":           mixed,
	}
	var body strings.Builder
	body.WriteString(`{"error":"marker-7x"`)
	for name, spell := range spellings {
		fmt.Fprintf(&body, `,"%s key":"%s","%s secret":"%s"`, name, spell(apiKey), name, spell(secret))
	}
	body.WriteString(`}`)
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(code)
				io.WriteString(w, body.String())
			})
			c, err := lisa.NewClient(testPluginID, apiKey, secret, lisa.WithBaseURL(rec.URL), lisa.WithMaxRetries(0))
			require.NoError(t, err)
			defer c.CloseIdleConnections()
			_, err = c.Send(context.Background(), product{"1", 2})
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Contains(t, apiErr.Body, "marker-7x", "the rest of the body is kept")
			assert.Equal(t, 2*len(spellings), strings.Count(apiErr.Body, "[REDACTED]"), apiErr.Body)
			texts := map[string]string{
				"Body": apiErr.Body, "Error()": err.Error(),
				"%v": fmt.Sprintf("%v", err), "%+v": fmt.Sprintf("%+v", err), "%#v": fmt.Sprintf("%#v", err),
			}
			for where, text := range texts {
				for name, spell := range spellings {
					for _, cred := range []string{apiKey, secret} {
						assert.NotContains(t, text, spell(cred), "%s shows a credential spelled %s", where, name)
					}
				}
			}
		})
	}
}

// Credentials as long as NewClient takes (256 bytes), which the cost of
// redaction grows with.
var (
	promiseLongKey    = "key-" + strings.Repeat("5f2c0d1e", 32)[:252]
	promiseLongSecret = "sec-" + strings.Repeat("9d8c7b6a", 32)[:252]
)

// benchmarkRedact sends notifications that a loopback server answers 400
// with body, so that each Send redacts it.
func benchmarkRedact(b *testing.B, body string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c, err := lisa.NewClient(testPluginID, promiseLongKey, promiseLongSecret, lisa.WithBaseURL(srv.URL), lisa.WithMaxRetries(0))
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	payload := []byte(`{"productId":"1","price":2}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := c.Send(ctx, payload)
		var apiErr *lisa.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
			b.Fatalf("want a 400 APIError, got %v", err)
		}
	}
}

// promiseBody repeats unit up to 64 KiB, the most of an error body read.
func promiseBody(unit string) string {
	return strings.Repeat(unit, (64<<10)/len(unit)+1)[:64<<10]
}

// Item 5: redacting a hostile 64 KiB error body, to compare with
// BenchmarkRedactPlainBody in the same run (the ratio is the cost).
func BenchmarkRedactHostileBody(b *testing.B) {
	var escapedPrefix strings.Builder // the secret's first bytes, \u-escaped
	for _, r := range promiseLongSecret[:16] {
		fmt.Fprintf(&escapedPrefix, `\u%04x`, r)
	}
	for name, unit := range map[string]string{
		"backslashes":    `\`,
		"u-escapes":      `\u`,
		"escaped-prefix": escapedPrefix.String(),
	} {
		b.Run(name, func(b *testing.B) { benchmarkRedact(b, promiseBody(unit)) })
	}
}

// Item 5: the baseline for BenchmarkRedactHostileBody.
func BenchmarkRedactPlainBody(b *testing.B) {
	benchmarkRedact(b, promiseBody(`{"error":"invalid signature"} `))
}

// promiseHeavy is a payload whose encoding is small but whose value is
// large: MaxBytes counts the encoding, so only the encoding may be kept.
type promiseHeavy struct {
	ProductID string `json:"productId"`
	Blob      []byte `json:"-"`
}

// Item 6: the queue keeps what it sends, not the values, so MaxBytes bounds
// its memory.
func TestPromiseQueueMaxBytesBoundsMemory(t *testing.T) {
	const n, blob = 300, 1 << 20
	g := newGatedServer(t, testSecret, holdAll)
	log := newResultLog()
	q := newQueue(t, newTestClient(t, g.URL), lisa.QueueOptions{
		MaxItems: 1000, MaxBytes: lisa.MaxPayloadBytes, OnResult: log.add,
	})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx := context.Background()
	taken := 0
	for i := range n {
		err := q.Enqueue(ctx, promiseHeavy{ProductID: fmt.Sprintf("p%03d", i), Blob: make([]byte, blob)})
		if err == nil {
			taken++
		} else {
			require.ErrorIs(t, err, lisa.ErrQueueFull)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, grown, int64(64<<20), "heap grew by %d MiB holding %d payloads taken under MaxBytes %d", grown>>20, taken, lisa.MaxPayloadBytes)

	g.release()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, q.Flush(fctx))
	results, _, _ := log.snapshot()
	require.Len(t, results, taken)
	for _, r := range results {
		require.NoError(t, r.Err)
		assert.Regexp(t, `^\{"productId":"p\d{3}"\}$`, string(r.Body), "Result.Body is the bytes sent")
	}
}

// Item 7: OnResult can put a retryable failure back with EnqueueKey, even
// with one worker and a full queue that blocks, and every product is
// delivered once the server recovers.
func TestPromiseReenqueueFromOnResult(t *testing.T) {
	const keys, outage = 12, 10
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	defer srv.Close()
	for range outage {
		srv.Script(lisatest.Fault{Status: http.StatusServiceUnavailable})
	}
	c := newTestClient(t, srv.URL, lisa.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		q             *lisa.Queue
		putBack, lost atomic.Int64
		firstLost     atomic.Value
		producerErrs  atomic.Int64
	)
	q = newQueue(t, c, lisa.QueueOptions{
		MaxItems: 2, Block: true, Workers: 1,
		OnResult: func(r lisa.Result) {
			if r.Err == nil || !lisa.IsRetryable(r.Err) {
				return
			}
			putBack.Add(1)
			if err := q.EnqueueKey(ctx, r.Key, r.Body); err != nil {
				lost.Add(1)
				firstLost.CompareAndSwap(nil, err.Error())
			}
		},
	})
	want := map[string]string{}
	for i := range keys {
		key := fmt.Sprintf("p%02d", i)
		want[key] = fmt.Sprintf(`{"productId":%q,"price":%d}`, key, i)
	}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range keys {
			key := fmt.Sprintf("p%02d", i)
			if q.EnqueueKey(ctx, key, []byte(want[key])) != nil {
				producerErrs.Add(1)
			}
		}
	}()

	delivered := func() int {
		last := map[string]string{}
		for _, n := range srv.Received() {
			var p struct {
				ProductID string `json:"productId"`
			}
			if json.Unmarshal(n.Body, &p) == nil {
				last[p.ProductID] = string(n.Body)
			}
		}
		ok := 0
		for key, body := range want {
			if last[key] == body {
				ok++
			}
		}
		return ok
	}
	for delivered() < keys && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	<-produced // ends by ctx at the latest
	got := delivered()
	reqs, _ := srv.Counts()
	require.Equal(t, keys, got,
		"delivered %d of %d products within 10 s (%d requests; %d failures put back, %d of them lost: %v; producer's EnqueueKey errors %d)",
		got, keys, reqs, putBack.Load(), lost.Load(), firstLost.Load(), producerErrs.Load())
	assert.Zero(t, producerErrs.Load())
	assert.Zero(t, lost.Load())
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelClose()
	assert.NoError(t, q.Close(closeCtx))
}

// promiseStopped checks the results of a batch of n, answered status by a
// server that got one request: one result is that answer, the rest were not
// sent and match sentinel. It tallies before asserting, to say how many
// results were wrong in one line.
func promiseStopped(t *testing.T, results []lisa.Result, n, status int, sentinel error) {
	t.Helper()
	require.Len(t, results, n)
	answered, notSent, other := 0, 0, 0
	var firstAnswer, firstOther error
	for _, r := range results {
		var apiErr *lisa.APIError
		var sendErr *lisa.SendError
		switch {
		case errors.As(r.Err, &apiErr) && apiErr.StatusCode == status:
			answered++
			if firstAnswer == nil {
				firstAnswer = r.Err
			}
		case errors.As(r.Err, &sendErr) && sendErr.Attempts == 0 && errors.Is(r.Err, sentinel) && !lisa.IsRetryable(r.Err):
			notSent++
		default:
			other++
			if firstOther == nil {
				firstOther = r.Err
			}
		}
	}
	assert.Equal(t, 1, answered, "payloads answered %d", status)
	if firstAnswer != nil {
		assert.ErrorIs(t, firstAnswer, sentinel)
		assert.True(t, lisa.FailsEveryRequest(firstAnswer), "FailsEveryRequest(%v)", firstAnswer)
		assert.False(t, lisa.IsRetryable(firstAnswer))
	}
	assert.Equal(t, n-1, notSent, "payloads not sent: a *SendError with Attempts 0 matching %v, not retryable; %d others, the first: %v", sentinel, other, firstOther)
}

// Item 8: a 403 or a 404, like a 401, would be the answer to every request
// of the client: SendAll, SendSeq and a Queue stop after the first.
func TestPromiseForbiddenAndNotFoundStopEveryBatch(t *testing.T) {
	const n = 200
	payloads := make([]any, n)
	for i := range payloads {
		payloads[i] = product{fmt.Sprint(i), 1}
	}
	for _, tc := range []struct {
		status   int
		sentinel error
	}{{http.StatusForbidden, lisa.ErrForbidden}, {http.StatusNotFound, lisa.ErrNotFound}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Run("SendAll", func(t *testing.T) {
				rec := newRecorder(t, status(tc.status))
				c := newTestClient(t, rec.URL, lisa.WithConcurrency(1))
				results := c.SendAll(context.Background(), payloads)
				assert.Equal(t, 1, len(rec.requests()), "requests made")
				promiseStopped(t, results, n, tc.status, tc.sentinel)
			})
			t.Run("SendSeq", func(t *testing.T) {
				rec := newRecorder(t, status(tc.status))
				c := newTestClient(t, rec.URL, lisa.WithConcurrency(1))
				results := make([]lisa.Result, n)
				for r := range c.SendSeq(context.Background(), func(yield func(any) bool) {
					for _, p := range payloads {
						if !yield(p) {
							return
						}
					}
				}) {
					results[r.Index] = r
				}
				assert.Equal(t, 1, len(rec.requests()), "requests made")
				promiseStopped(t, results, n, tc.status, tc.sentinel)
			})
			t.Run("Queue", func(t *testing.T) {
				rec := newRecorder(t, status(tc.status))
				log := newResultLog()
				q := newQueue(t, newTestClient(t, rec.URL), lisa.QueueOptions{Workers: 1, OnResult: log.add})
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				taken := 0
				for _, p := range payloads[:20] {
					if err := q.Enqueue(ctx, p); err == nil {
						taken++
					} else {
						require.ErrorIs(t, err, tc.sentinel)
					}
				}
				require.NoError(t, q.Flush(ctx))
				err := q.Enqueue(ctx, product{"late", 1})
				assert.ErrorIs(t, err, tc.sentinel, "Enqueue after the queue stopped")
				if err == nil {
					taken++
					require.NoError(t, q.Flush(ctx))
				}
				assert.Equal(t, 1, len(rec.requests()), "requests made, for %d payloads taken", taken)
				results, _, _ := log.snapshot()
				require.Equal(t, taken, len(results))
				unmatched := 0
				for _, r := range results {
					if !errors.Is(r.Err, tc.sentinel) {
						unmatched++
					}
				}
				assert.Zero(t, unmatched, "of %d results, errors not matching %v", taken, tc.sentinel)
				closeErr := q.Close(ctx)
				assert.ErrorIs(t, closeErr, tc.sentinel, "Close says why the queue stopped")
			})
		})
	}
}

// Item 8: which answers fail every request of a client.
func TestPromiseFailsEveryRequest(t *testing.T) {
	assert.False(t, lisa.FailsEveryRequest(nil))
	for code, want := range map[int]bool{
		http.StatusUnauthorized: true, http.StatusForbidden: true, http.StatusNotFound: true,
		http.StatusBadRequest: false, http.StatusRequestEntityTooLarge: false, http.StatusUnprocessableEntity: false,
		http.StatusTooManyRequests: false, http.StatusInternalServerError: false, http.StatusGatewayTimeout: false,
	} {
		rec := newRecorder(t, status(code))
		c := newTestClient(t, rec.URL, lisa.WithMaxRetries(0))
		_, err := c.Send(context.Background(), product{"1", 2})
		require.Error(t, err)
		assert.Equal(t, want, lisa.FailsEveryRequest(err), "FailsEveryRequest after a %d", code)
	}
}

// Item 8: a 422 is this payload's rejection: not retried, details readable.
// A 504 is retried.
func TestPromiseUnprocessableAndGatewayTimeout(t *testing.T) {
	t.Run("422", func(t *testing.T) {
		srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
		defer srv.Close()
		const details = `{"errors":[{"parameter":"price","message":"must not be negative"}]}`
		srv.Script(lisatest.Fault{Status: http.StatusUnprocessableEntity, Body: details})
		c := newTestClient(t, srv.URL)
		_, err := c.Send(context.Background(), product{"1", -2})
		require.ErrorIs(t, err, lisa.ErrUnprocessable)
		var apiErr *lisa.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusUnprocessableEntity, apiErr.StatusCode)
		assert.JSONEq(t, details, apiErr.Body)
		assert.False(t, lisa.IsRetryable(err))
		assert.False(t, lisa.FailsEveryRequest(err))
		assert.Equal(t, 1, len(srv.Requests()), "requests made")
	})
	t.Run("504", func(t *testing.T) {
		srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
		defer srv.Close()
		srv.Script(lisatest.Fault{Status: http.StatusGatewayTimeout})
		c := newTestClient(t, srv.URL)
		receipt, err := c.Send(context.Background(), product{"1", 2})
		require.NoError(t, err)
		assert.Equal(t, 2, receipt.Attempts)
		assert.Equal(t, 1, len(srv.Received()))
	})
}

// Item 9: X-RateLimit-Remaining reaches the receipt and the error, read
// leniently; -1 when absent or unreadable.
func TestPromiseRateLimitRemaining(t *testing.T) {
	for _, tc := range []struct {
		header string // "" sends none
		want   int
	}{
		{"57", 57}, {" 57 ", 57}, {"57/60", 57}, {"0", 0}, {"", -1}, {"garbage", -1}, {"/60", -1},
	} {
		for _, code := range []int{http.StatusAccepted, http.StatusTooManyRequests, http.StatusBadRequest} {
			t.Run(fmt.Sprintf("%d %q", code, tc.header), func(t *testing.T) {
				rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
					if tc.header != "" {
						w.Header().Set("X-RateLimit-Remaining", tc.header)
					}
					w.WriteHeader(code)
				})
				c := newTestClient(t, rec.URL, lisa.WithMaxRetries(0))
				receipt, err := c.Send(context.Background(), product{"1", 2})
				if code == http.StatusAccepted {
					require.NoError(t, err)
					assert.Equal(t, tc.want, receipt.RateLimitRemaining)
					return
				}
				var apiErr *lisa.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, tc.want, apiErr.RateLimitRemaining)
			})
		}
	}
}

// promiseTLSServer starts an HTTPS server on 127.0.0.1 that counts its TLS
// handshakes, and returns it with a pool trusting its certificate.
func promiseTLSServer(t *testing.T, http2 bool, h http.HandlerFunc) (*httptest.Server, *x509.CertPool, *atomic.Int64) {
	t.Helper()
	handshakes := new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = http2
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		handshakes.Add(1)
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool, handshakes
}

// Item 10: WithTLSConfig trusts a private CA and keeps the SDK's transport,
// its pool of idle connections: 3,000 sends at concurrency 64 need about 64
// handshakes. The same through WithHTTPClient is logged for comparison.
func TestPromiseTLSConfigKeepsTheConnectionPool(t *testing.T) {
	if testing.Short() {
		t.Skip("6,000 sends over TLS")
	}
	const sends, concurrency = 3000, 64
	payloads := make([]any, sends)
	for i := range payloads {
		payloads[i] = product{fmt.Sprint(i), 1}
	}
	srv, pool, handshakes := promiseTLSServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(20 * time.Millisecond) // latency, as a real network has
		w.WriteHeader(http.StatusAccepted)
	})
	run := func(opt lisa.Option) (handshakesPerRun int64) {
		t.Helper()
		handshakes.Store(0)
		c := newTestClient(t, srv.URL, opt, lisa.WithConcurrency(concurrency))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		accepted := 0
		for _, r := range c.SendAll(ctx, payloads) {
			if r.Err == nil {
				accepted++
			}
		}
		assert.Equal(t, sends, accepted)
		c.CloseIdleConnections()
		return handshakes.Load()
	}
	own := run(lisa.WithTLSConfig(&tls.Config{RootCAs: pool}))
	t.Logf("TLS handshakes per %d sends at concurrency %d through WithTLSConfig: %d", sends, concurrency, own)
	assert.LessOrEqual(t, own, int64(70), "TLS handshakes per %d sends at concurrency %d through WithTLSConfig", sends, concurrency)
	if testing.Verbose() { // the comparison, for the record: seconds of handshakes
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		defer tr.CloseIdleConnections()
		users := run(lisa.WithHTTPClient(&http.Client{Transport: tr}))
		t.Logf("the same through WithHTTPClient with a plain transport (TLSClientConfig set): %d", users)
	}
}

// Item 10: WithTLSConfig keeps HTTP/2 when the server offers it.
func TestPromiseTLSConfigKeepsHTTP2(t *testing.T) {
	var proto atomic.Int64
	srv, pool, _ := promiseTLSServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		proto.Store(int64(r.ProtoMajor))
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, srv.URL, lisa.WithTLSConfig(&tls.Config{RootCAs: pool}))
	_, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.EqualValues(t, 2, proto.Load(), "HTTP major version the server saw")
}

// Item 10: WithTLSConfig configures the SDK's transport, which WithHTTPClient
// replaces: the two together are refused.
func TestPromiseTLSConfigWithHTTPClientIsRefused(t *testing.T) {
	_, err := lisa.NewClient(testPluginID, testAPIKey, testSecret,
		lisa.WithTLSConfig(&tls.Config{}), lisa.WithHTTPClient(&http.Client{}))
	if assert.Error(t, err) {
		assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
	}
	_, err = lisa.NewClient(testPluginID, testAPIKey, testSecret,
		lisa.WithHTTPClient(&http.Client{}), lisa.WithTLSConfig(&tls.Config{}))
	assert.Error(t, err, "in either order")
}
