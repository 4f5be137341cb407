package main

import (
	"bytes"
	"context"
	"time"

	"github.com/hello-lisa/lisa-go"
)

// document sends the whole input as one payload. Its size is checked as it
// is read: a document over the limit is refused as soon as it passes it. A
// signal while it is read ends the run with nothing sent; a signal while it
// is sent gives the send -grace to finish, as in NDJSON mode.
func (s *sender) document() error {
	body, over, err := readAtMost(s.in.r, lisa.MaxPayloadBytes)
	switch {
	case err != nil:
		return readError("send", s.in, s.stop, err)
	case over:
		s.nRejected.Add(1)
		s.report.say("%s: lisa: the document is over the limit of %d bytes; nothing was sent (and the rest was not read)", s.in.name, lisa.MaxPayloadBytes)
		return nil
	}
	body = trimBOM(body)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go s.onSignal(done, cancel)
	_, err = s.client.Send(ctx, body)
	if err == nil {
		s.accepted.Add(1)
		return nil
	}
	if failsEveryRequest(err) {
		s.halt(haltEvery, err)
	}
	s.report.failure(s.in.name, err, perKind)
	// -failed is NDJSON: one newline ends the document, whether it had one
	// or not (a "\r" before it stays, so the bytes are the document's).
	if werr := s.keep(bytes.TrimSuffix(body, []byte("\n")), err); werr != nil {
		s.halt(haltWrite, werr)
	}
	return nil
}

// onSignal stops the run on a signal: no new sends, and those in flight
// have -grace to finish before they are cancelled. (A second signal exits
// at once: see stopper.)
func (s *sender) onSignal(done <-chan struct{}, cancel context.CancelFunc) {
	select {
	case <-done:
		return
	case <-s.stop.done:
	}
	s.halt(haltSignal, nil)
	s.report.say("lisa send: %s: stopping: no new sends; waiting up to %s for those in flight (signal again to exit now)", s.stop.signal(), s.grace)
	select {
	case <-done:
	case <-time.After(s.grace):
		cancel()
	}
}
