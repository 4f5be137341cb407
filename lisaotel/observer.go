package lisaotel

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hello-lisa/lisa-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// The names of what lisaotel records beyond the HTTP semantic conventions.
const (
	// SendSpanName is the INTERNAL span of one Send, the parent of its
	// attempts' CLIENT spans.
	SendSpanName = "lisa.send"
	// WaitEventName is the event a send span gets before each wait.
	WaitEventName = "lisa.wait"

	// urlTemplate is the endpoint's path with the plugin id as a template.
	urlTemplate = "/plugin-notifications/{id}/updates"
	// attemptSpanName is the CLIENT span of an attempt: method and template.
	attemptSpanName = "POST " + urlTemplate
)

// Attributes of the send span, its events and links, and of lisaotel's own
// metrics.
const (
	RequestIDKey   = attribute.Key("lisa.request.id")    // X-Request-Id, the same on every attempt
	PayloadSizeKey = attribute.Key("lisa.payload.size")  // body bytes
	AttemptsKey    = attribute.Key("lisa.send.attempts") // requests made
	// OutcomeKey is how a Send ended: accepted; rejected (an answer not
	// retried, such as 400 or 401); retries_exhausted (a retryable failure
	// left after the retries, the retry budget, or a Retry-After or deadline
	// the client would not wait for); throttled (held back by the client's
	// rate limit or cooldown); canceled (the context ended); failed
	// (anything else, such as a TLS error).
	OutcomeKey      = attribute.Key("lisa.send.outcome")
	WaitReasonKey   = attribute.Key("lisa.wait.reason")   // backoff, retry-after, rate-limit, cooldown
	WaitDurationKey = attribute.Key("lisa.wait.duration") // seconds, a float
	SupersededKey   = attribute.Key("lisa.superseded")    // on a link: that payload was replaced
)

// Buckets of http.client.request.duration, as the semantic conventions
// recommend, and of lisa.client.wait.duration, whose waits run from
// milliseconds to lisa.MaxRetryAfter.
var (
	durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	waitBuckets     = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
)

// observer turns a client's Observer calls into spans and metrics.
type observer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	attrs  []attribute.KeyValue // WithAttributes'

	duration  metric.Float64Histogram // http.client.request.duration
	retries   metric.Int64Counter     // lisa.client.retries
	waits     metric.Float64Histogram // lisa.client.wait.duration
	remaining metric.Int64Gauge       // lisa.client.rate_limit.remaining

	last atomic.Pointer[endpoint] // of the last attempt
}

func newObserver(cfg config) *lisa.Observer {
	o := &observer{
		tracer: cfg.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(lisa.Version), trace.WithSchemaURL(semconv.SchemaURL)),
		prop:   cfg.prop,
		attrs:  cfg.attrs,
	}
	m := cfg.meter()
	var err error
	// An instrument that cannot be made is reported to the global error
	// handler and left a no-op, as OpenTelemetry's own instrumentations do.
	o.duration, err = m.Float64Histogram("http.client.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	o.retries, err = m.Int64Counter("lisa.client.retries",
		metric.WithUnit("{retry}"), metric.WithDescription("Attempts that retried a failure, by the failure's error.type."))
	handle(err)
	o.waits, err = m.Float64Histogram("lisa.client.wait.duration",
		metric.WithUnit("s"), metric.WithDescription("Waits before an attempt, by lisa.wait.reason: backoff, retry-after, rate-limit, cooldown."),
		metric.WithExplicitBucketBoundaries(waitBuckets...))
	handle(err)
	o.remaining, err = m.Int64Gauge("lisa.client.rate_limit.remaining",
		metric.WithUnit("{request}"), metric.WithDescription("X-RateLimit-Remaining of the last answer that had it."))
	handle(err)
	return &lisa.Observer{
		SendStart:    o.sendStart,
		SendDone:     o.sendDone,
		AttemptStart: o.attemptStart,
		AttemptDone:  o.attemptDone,
		Wait:         o.wait,
		Enqueued:     enqueued,
	}
}

func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// sendRun is what one Send's calls share. It is the context SendStart
// returns, the send span's context embedded, so that it costs one
// allocation rather than a context.WithValue and a struct.
type sendRun struct {
	context.Context
	attemptStart time.Time // when duration is recorded
	lastError    string    // the error.type of the last attempt; "" when it succeeded
}

type sendRunKey struct{}

// Value returns the run itself for sendRunKey.
func (r *sendRun) Value(key any) any {
	if key == (sendRunKey{}) {
		return r
	}
	return r.Context.Value(key)
}

// enqueued keeps the span current at Enqueue, for the send to link to.
func enqueued(ctx context.Context) any {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc
	}
	return nil
}

// sendOpts start a send span; a Queue's send adds its links to a copy.
var sendOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}

func (o *observer) sendStart(ctx context.Context, s *lisa.SendInfo) context.Context {
	opts := sendOpts[:1:1]
	// A Queue's send links to the span of each Enqueue it carries: the
	// payloads it replaced (marked superseded), then its own.
	for i, v := range s.Enqueued {
		sc, ok := v.(trace.SpanContext)
		if !ok {
			continue
		}
		link := trace.Link{SpanContext: sc}
		if i < len(s.Enqueued)-1 {
			link.Attributes = []attribute.KeyValue{SupersededKey.Bool(true)}
		}
		opts = append(opts, trace.WithLinks(link))
	}
	ctx, span := o.tracer.Start(ctx, SendSpanName, opts...)
	// Set after the start, as no sampler needs them: a no-op tracer then
	// costs no attribute.
	if span.IsRecording() {
		span.SetAttributes(RequestIDKey.String(s.RequestID), PayloadSizeKey.Int(s.Size))
		span.SetAttributes(o.attrs...)
	}
	if !o.retries.Enabled(ctx) && !o.duration.Enabled(ctx) {
		return ctx // nothing for a sendRun to keep: no-op metrics
	}
	return &sendRun{Context: ctx}
}

func (o *observer) sendDone(ctx context.Context, s *lisa.SendInfo) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(AttemptsKey.Int(s.Attempts), OutcomeKey.String(outcome(s.Err)))
		if s.Err != nil {
			span.SetAttributes(semconv.ErrorTypeKey.String(sendErrorType(s.Err)))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

func (o *observer) attemptStart(ctx context.Context, a *lisa.AttemptInfo) context.Context {
	run, _ := ctx.Value(sendRunKey{}).(*sendRun)
	if run != nil {
		if a.Attempt > 1 && o.retries.Enabled(ctx) {
			o.retries.Add(ctx, 1, metric.WithAttributes(o.with(semconv.ErrorTypeKey.String(run.lastError))...))
		}
		if o.duration.Enabled(ctx) {
			run.attemptStart = time.Now()
		}
	}
	e := o.endpointOf(a)
	opts := e.start
	if a.Attempt > 1 {
		opts = append(opts[:len(opts):len(opts)], trace.WithAttributes(semconv.HTTPRequestResendCount(a.Attempt-1)))
	}
	ctx, _ = o.tracer.Start(ctx, e.spanName, opts...)
	o.prop.Inject(ctx, propagation.HeaderCarrier(a.Header))
	return ctx
}

func (o *observer) attemptDone(ctx context.Context, a *lisa.AttemptInfo) {
	errType := attemptErrorType(a)
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		if a.StatusCode > 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(a.StatusCode))
		}
		if errType != "" {
			span.SetAttributes(semconv.ErrorTypeKey.String(errType))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
	if run, _ := ctx.Value(sendRunKey{}).(*sendRun); run != nil {
		run.lastError = errType
		if o.duration.Enabled(ctx) && !run.attemptStart.IsZero() {
			o.duration.Record(ctx, time.Since(run.attemptStart).Seconds(), o.endpointOf(a).outcome(a.StatusCode, errType))
		}
	}
	if a.RateLimitRemaining >= 0 && o.remaining.Enabled(ctx) {
		o.remaining.Record(ctx, int64(a.RateLimitRemaining), metric.WithAttributes(o.attrs...))
	}
}

func (o *observer) wait(ctx context.Context, w lisa.WaitInfo) {
	reason := WaitReasonKey.String(w.Reason)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(WaitEventName, trace.WithAttributes(reason, WaitDurationKey.Float64(w.Duration.Seconds())))
	}
	if o.waits.Enabled(ctx) {
		o.waits.Record(ctx, w.Duration.Seconds(), metric.WithAttributes(o.with(reason)...))
	}
}

// endpoint is what every attempt to one endpoint shares: the span's name,
// the request's attributes and the span's start options.
type endpoint struct {
	method, host, path string // what it was made for
	spanName           string
	attrs              []attribute.KeyValue
	start              []trace.SpanStartOption
	outcomes           sync.Map // outcomeKey → metric.RecordOption: the duration's attributes
}

type outcomeKey struct {
	status  int
	errType string
}

// outcome returns the attributes of the duration of an attempt that ended
// with status and errType, made once for each pair: building an attribute
// set costs more than recording the measurement.
func (e *endpoint) outcome(status int, errType string) metric.RecordOption {
	k := outcomeKey{status, errType}
	if opt, ok := e.outcomes.Load(k); ok {
		return opt.(metric.RecordOption)
	}
	attrs := append(make([]attribute.KeyValue, 0, len(e.attrs)+2), e.attrs...)
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	opt, _ := e.outcomes.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	return opt.(metric.RecordOption)
}

// endpointOf returns the endpoint of a, made once: a client sends every
// attempt to the same URL.
func (o *observer) endpointOf(a *lisa.AttemptInfo) *endpoint {
	if e := o.last.Load(); e != nil && e.method == a.Method && e.host == a.URL.Host && e.path == a.URL.Path {
		return e
	}
	e := &endpoint{method: a.Method, host: a.URL.Host, path: a.URL.Path, spanName: spanName(a.Method)}
	e.attrs = append([]attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(a.Method),
		semconv.ServerAddress(a.URL.Hostname()),
		semconv.ServerPort(port(a.URL.Port(), a.URL.Scheme)),
		semconv.URLTemplate(urlTemplate),
	}, o.attrs...)
	e.start = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(e.attrs...)}
	o.last.Store(e)
	return e
}

// with is WithAttributes' attributes and kv.
func (o *observer) with(kv attribute.KeyValue) []attribute.KeyValue {
	return append(append(make([]attribute.KeyValue, 0, len(o.attrs)+1), o.attrs...), kv)
}

// spanName is "{method} {url.template}", as the conventions name an HTTP
// client span. The template is the endpoint's, without any path prefix of
// the base URL (lisa.WithBaseURL): a prefix may hold a per-tenant token,
// and would multiply the span names and the metric's series.
func spanName(method string) string {
	if method != "POST" {
		return method + " " + urlTemplate
	}
	return attemptSpanName
}

// port is the URL's port, or the scheme's.
func port(p, scheme string) int {
	if n, err := strconv.Atoi(p); err == nil {
		return n
	}
	if scheme == "http" {
		return 80
	}
	return 443
}
