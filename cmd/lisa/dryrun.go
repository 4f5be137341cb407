package main

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hello-lisa/lisa-go"
)

// dryRunAll prints the request each payload would make, with its line
// number and the start of its body, and sends nothing.
func (s *sender) dryRunAll() error {
	show := func(where string, body []byte) {
		p, err := s.client.Preview(body)
		if err != nil {
			s.report.failure(where, err, perKind)
			return
		}
		fmt.Fprintf(s.stdout, "%s: %s %s\n", where, p.Method, p.URL)
		keys := make([]string, 0, len(p.Header))
		for k := range p.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, v := range p.Header[k] {
				fmt.Fprintf(s.stdout, "%s: %s\n", k, v)
			}
		}
		const head = 200
		shown := p.Body
		if len(shown) > head {
			shown = shown[:head]
		}
		fmt.Fprintf(s.stdout, "\n%s", shown)
		if len(p.Body) > head {
			fmt.Fprint(s.stdout, "…")
		}
		fmt.Fprintf(s.stdout, "\n(body: %d bytes, not sent)\n\n", len(p.Body))
	}
	if !s.ndjson {
		body, over, err := readAtMost(s.in.r, lisa.MaxPayloadBytes)
		switch {
		case err != nil:
			return readError("send", s.in, s.stop, err)
		case over:
			return fmt.Errorf("lisa send: %s is over the limit of %d bytes", s.in.name, lisa.MaxPayloadBytes)
		}
		show(s.in.name, trimBOM(body))
		return nil
	}
	lr := newLineReader(s.in.r, lisa.MaxPayloadBytes)
	for {
		data, over, n, err := lr.next(io.Discard)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return readError("send", s.in, s.stop, err)
		}
		where := fmt.Sprintf("%s:%d", s.in.name, lr.line)
		switch {
		case over:
			s.report.failure(where, tooLarge(n), perKind)
		case !blank(data):
			if lr.line == 1 {
				data = trimBOM(data)
			}
			show(where, data)
		}
	}
}

// tooLarge is the error for a line over the limit, which is not sent.
func tooLarge(size int) error {
	return fmt.Errorf("lisa: payload is %d bytes, over the limit of %d bytes; nothing was sent (%w)", size, lisa.MaxPayloadBytes, lisa.ErrPayloadTooLarge)
}
