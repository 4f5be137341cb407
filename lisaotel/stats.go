package lisaotel

import (
	"context"
	"errors"
	"fmt"

	"github.com/hello-lisa/lisa-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ResultKey is the attribute that splits lisa.client.sends and
// lisa.queue.results by result, with the values named at ObserveClient and
// ObserveQueue.
const ResultKey = attribute.Key("lisa.result")

// ObserveClient registers metrics read from c.Stats() at each collection:
//
//	lisa.client.sends                  {send}     counter, by lisa.result: accepted,
//	                                              unauthorized, rejected, rate_limited,
//	                                              server_error, transport_error,
//	                                              throttled, canceled
//	lisa.client.attempts               {attempt}  counter, first attempts and retries
//	lisa.client.retry_budget.remaining {token}    gauge (absent when the budget is off)
//	lisa.client.cooldown.remaining     s          gauge, the Retry-After cooldown left
//
// Retries and waits are counted by ClientOption, by reason, and not here
// again. Call the returned Registration's Unregister when the client is no
// longer used.
func ObserveClient(c *lisa.Client, opts ...Option) (metric.Registration, error) {
	if c == nil {
		return nil, errors.New("lisa: lisaotel.ObserveClient: client is nil")
	}
	cfg := newConfig(opts)
	m := cfg.meter()
	sends, err1 := m.Int64ObservableCounter("lisa.client.sends",
		metric.WithUnit("{send}"), metric.WithDescription("Notifications sent or held back, by lisa.result."))
	attempts, err2 := m.Int64ObservableCounter("lisa.client.attempts",
		metric.WithUnit("{attempt}"), metric.WithDescription("Requests made, first attempts and retries."))
	budget, err3 := m.Int64ObservableGauge("lisa.client.retry_budget.remaining",
		metric.WithUnit("{token}"), metric.WithDescription("Tokens left in the client's retry budget."))
	cooldown, err4 := m.Float64ObservableGauge("lisa.client.cooldown.remaining",
		metric.WithUnit("s"), metric.WithDescription("How long attempts must still wait after a Retry-After."))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("lisa: lisaotel.ObserveClient: %w", err)
	}
	base := metric.WithAttributeSet(attribute.NewSet(cfg.attrs...))
	by := results(cfg.attrs, "accepted", "unauthorized", "rejected", "rate_limited", "server_error", "transport_error", "throttled", "canceled")
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := c.Stats()
		f := s.Failed
		for i, n := range []int64{s.Accepted, f.Unauthorized, f.Rejected, f.RateLimited, f.Server, f.Transport, f.Throttled, f.Canceled} {
			o.ObserveInt64(sends, n, by[i])
		}
		o.ObserveInt64(attempts, s.Attempts, base)
		if s.RetryBudget >= 0 {
			o.ObserveInt64(budget, int64(s.RetryBudget), base)
		}
		o.ObserveFloat64(cooldown, s.Cooldown.Seconds(), base)
		return nil
	}, sends, attempts, budget, cooldown)
	if err != nil {
		return nil, fmt.Errorf("lisa: lisaotel.ObserveClient: %w", err)
	}
	return reg, nil
}

// ObserveQueue registers metrics read from q.Stats() at each collection:
//
//	lisa.queue.enqueued       {payload}  counter, payloads taken
//	lisa.queue.refused        {payload}  counter, by lisa.result: full, invalid
//	lisa.queue.waiting        {payload}  up-down counter, waiting to be sent
//	lisa.queue.waiting.size   By         up-down counter, their bytes
//	lisa.queue.in_flight      {payload}  up-down counter, being sent
//	lisa.queue.results        {payload}  counter, by lisa.result: accepted, failed,
//	                                     superseded
//	lisa.queue.spilled        {payload}  counter, written to QueueOptions.Spill
//	lisa.queue.spill.errors   {error}    counter, failed Spill writes
//	lisa.queue.stopped                   gauge, 1 once a 401 stopped the queue, else 0
//
// Give two queues of one meter provider different attributes
// (WithAttributes). Call the returned Registration's Unregister when the
// queue is closed.
func ObserveQueue(q *lisa.Queue, opts ...Option) (metric.Registration, error) {
	if q == nil {
		return nil, errors.New("lisa: lisaotel.ObserveQueue: queue is nil")
	}
	cfg := newConfig(opts)
	m := cfg.meter()
	counter := func(name, unit, desc string) (metric.Int64ObservableCounter, error) {
		return m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	}
	upDown := func(name, unit, desc string) (metric.Int64ObservableUpDownCounter, error) {
		return m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	}
	enqueued, err1 := counter("lisa.queue.enqueued", "{payload}", "Payloads Enqueue and EnqueueKey took.")
	refused, err2 := counter("lisa.queue.refused", "{payload}", "Payloads Enqueue refused, by lisa.result: full, invalid.")
	waiting, err3 := upDown("lisa.queue.waiting", "{payload}", "Payloads waiting to be sent.")
	waitingBytes, err4 := upDown("lisa.queue.waiting.size", "By", "Bytes of the payloads waiting to be sent.")
	inFlight, err5 := upDown("lisa.queue.in_flight", "{payload}", "Payloads being sent.")
	resultsC, err6 := counter("lisa.queue.results", "{payload}", "Payloads reported, by lisa.result: accepted, failed, superseded.")
	spilled, err7 := counter("lisa.queue.spilled", "{payload}", "Payloads written to Spill.")
	spillErrors, err8 := counter("lisa.queue.spill.errors", "{error}", "Writes to Spill that failed.")
	stopped, err9 := m.Int64ObservableGauge("lisa.queue.stopped",
		metric.WithDescription("1 once the queue stopped sending after a 401 answer, else 0."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8, err9); err != nil {
		return nil, fmt.Errorf("lisa: lisaotel.ObserveQueue: %w", err)
	}
	base := metric.WithAttributeSet(attribute.NewSet(cfg.attrs...))
	refusals := results(cfg.attrs, "full", "invalid")
	outcomes := results(cfg.attrs, "accepted", "failed", "superseded")
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := q.Stats()
		o.ObserveInt64(enqueued, s.Enqueued, base)
		o.ObserveInt64(refused, s.Full, refusals[0])
		o.ObserveInt64(refused, s.Invalid, refusals[1])
		o.ObserveInt64(waiting, int64(s.Waiting), base)
		o.ObserveInt64(waitingBytes, s.WaitingBytes, base)
		o.ObserveInt64(inFlight, int64(s.InFlight), base)
		o.ObserveInt64(resultsC, s.Accepted, outcomes[0])
		o.ObserveInt64(resultsC, s.Failed, outcomes[1])
		o.ObserveInt64(resultsC, s.Superseded, outcomes[2])
		o.ObserveInt64(spilled, s.Spilled, base)
		o.ObserveInt64(spillErrors, s.SpillErrors, base)
		var stop int64
		if s.Stopped {
			stop = 1
		}
		o.ObserveInt64(stopped, stop, base)
		return nil
	}, enqueued, refused, waiting, waitingBytes, inFlight, resultsC, spilled, spillErrors, stopped)
	if err != nil {
		return nil, fmt.Errorf("lisa: lisaotel.ObserveQueue: %w", err)
	}
	return reg, nil
}

// results makes, once, the attribute set of each value of ResultKey.
func results(base []attribute.KeyValue, values ...string) []metric.ObserveOption {
	out := make([]metric.ObserveOption, len(values))
	for i, v := range values {
		kv := append(append([]attribute.KeyValue(nil), base...), ResultKey.String(v))
		out[i] = metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	return out
}
