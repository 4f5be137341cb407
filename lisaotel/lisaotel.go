// Package lisaotel makes the notifications a lisa.Client sends visible in
// OpenTelemetry traces and metrics.
//
// One option instruments a client, with the global providers unless told
// otherwise (as otelhttp does):
//
//	client, err := lisa.NewClient(pluginID, apiKey, secret, lisaotel.ClientOption())
//
// Each Send is then an INTERNAL span "lisa.send", the parent of one CLIENT
// span per attempt named "POST /plugin-notifications/{id}/updates", with the
// stable HTTP client attributes, and each attempt carries the W3C trace
// context in its headers. A Queue's sends link to the span that was current
// at Enqueue. The option also records http.client.request.duration, retries
// by reason, waits and the last X-RateLimit-Remaining.
//
// ObserveClient and ObserveQueue add metrics read from Client.Stats and
// Queue.Stats when they are collected: sends by result, attempts, the retry
// budget, payloads waiting and in flight, superseded and spilled.
//
// With lisariver, give River the otelriver middleware
// (github.com/riverqueue/rivercontrib/otelriver) with EnableTracePropagation:
// the trace context then travels in the job, the job's work span links to
// the insert in the transaction's trace, and the job's lisa.send is a child
// of the work span (see examples/river).
//
// Nothing recorded ever holds a credential, a signature or a body. The
// plugin id is an attribute only with WithPluginID.
package lisaotel

import (
	"github.com/hello-lisa/lisa-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/hello-lisa/lisa-go/lisaotel"

// Option configures ClientOption, ObserveClient and ObserveQueue.
type Option func(*config)

type config struct {
	tp    trace.TracerProvider
	mp    metric.MeterProvider
	prop  propagation.TextMapPropagator
	attrs []attribute.KeyValue
}

func newConfig(opts []Option) config {
	c := config{
		tp:   otel.GetTracerProvider(),
		mp:   otel.GetMeterProvider(),
		prop: otel.GetTextMapPropagator(),
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

func (c config) meter() metric.Meter {
	return c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(lisa.Version))
}

// WithTracerProvider sets where spans go; the default is the global
// provider (otel.GetTracerProvider). nil keeps the default.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithMeterProvider sets where metrics go; the default is the global
// provider (otel.GetMeterProvider). nil keeps the default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// WithPropagator sets how the trace context is written into each request's
// headers; the default is the global propagator (otel.GetTextMapPropagator),
// which writes nothing until the program sets one, such as
// propagation.TraceContext{}. nil keeps the default.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) {
		if p != nil {
			c.prop = p
		}
	}
}

// WithPluginID adds the plugin id as the attribute lisa.plugin.id to every
// span and metric. It is off by default: a service sending for many plugins
// would multiply its metric series by their number.
func WithPluginID(id string) Option {
	return WithAttributes(attribute.String("lisa.plugin.id", id))
}

// WithAttributes adds attributes to every span and metric, such as a name
// telling two clients or queues apart. Keep their values few.
func WithAttributes(kv ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, kv...) }
}

// ClientOption instruments a lisa.Client: give it to lisa.NewClient.
func ClientOption(opts ...Option) lisa.Option {
	return lisa.WithObserver(newObserver(newConfig(opts)))
}
