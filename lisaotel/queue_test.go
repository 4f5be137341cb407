package lisaotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// TestQueueSendLinksToEnqueue: a Queue's send is a trace of its own, linked
// to the span current at each Enqueue it carries, superseded ones included.
func TestQueueSendLinksToEnqueue(t *testing.T) {
	r := newRig(t, []lisa.Option{lisa.WithConcurrency(1)})
	// The first payload is slow, so that the next ones wait and coalesce.
	r.srv.Script(lisatest.Fault{Delay: 300 * time.Millisecond, Process: true})
	q, err := lisa.NewQueue(r.client, lisa.QueueOptions{Workers: 1})
	require.NoError(t, err)
	tracer := r.tp.Tracer("test")
	enqueue := func(name, key string) trace.SpanContext {
		ctx, span := tracer.Start(context.Background(), name)
		defer span.End()
		body := []byte(`{"v":"` + name + `"}`)
		if key == "" {
			require.NoError(t, q.Enqueue(ctx, body))
		} else {
			require.NoError(t, q.EnqueueKey(ctx, key, body))
		}
		return span.SpanContext()
	}
	slow := enqueue("slow", "")
	require.Eventually(t, func() bool { return q.Stats().InFlight == 1 }, 5*time.Second, time.Millisecond)
	a := enqueue("a", "k")
	b := enqueue("b", "k")
	other := enqueue("other", "")
	c := enqueue("c", "k")
	require.NoError(t, q.Enqueue(context.Background(), []byte(`{"v":"no span"}`)))
	require.NoError(t, q.Close(context.Background()))

	type link struct {
		sc         trace.SpanContext
		superseded bool
	}
	sends := r.ended(lisaotel.SendSpanName)
	require.Len(t, sends, 4)
	var got [][]link
	for _, s := range sends {
		assert.False(t, s.Parent.IsValid(), "a background send starts a trace of its own")
		var ls []link
		for _, l := range s.Links {
			sup, _ := attrs(l.Attributes)[attribute.Key("lisa.superseded")].(bool)
			ls = append(ls, link{l.SpanContext.WithTraceFlags(0), sup})
		}
		got = append(got, ls)
	}
	// Sent in the order of the line: the key kept its place before "other".
	assert.Equal(t, [][]link{
		{{slow.WithTraceFlags(0), false}},
		{{a.WithTraceFlags(0), true}, {b.WithTraceFlags(0), true}, {c.WithTraceFlags(0), false}},
		{{other.WithTraceFlags(0), false}},
		nil,
	}, got)
}
