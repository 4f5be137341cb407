package main

import (
	"fmt"
)

// summary prints the counts on stdout and, on stderr, why the run stopped
// early if it did and where every line not accepted is; it ends the run
// with exit 1 unless everything was accepted.
func (s *sender) summary() error {
	s.report.hiddenCounts()
	acc, failed, rejected, notSent := s.accepted.Load(), s.nFailed.Load(), s.nRejected.Load(), s.notSent.Load()
	line := fmt.Sprintf("%d accepted, %d failed", acc, failed)
	if rejected > 0 {
		line += fmt.Sprintf(", %d rejected", rejected)
	}
	if notSent > 0 {
		line += fmt.Sprintf(", %d not sent", notSent)
	}
	fmt.Fprintln(s.stdout, line)

	k, err := s.why()
	switch k {
	case haltSignal:
		s.report.say("lisa send: stopped by %s", s.stop.signal())
	case haltEvery:
		s.report.say("lisa send: stopped after a %s answer: %s (every other notification would be refused the same way)", kind(err), failsEveryHint(err))
	case haltDown:
		s.report.say("lisa send: stopped: %d notifications in a row got no answer at all (%s): is the endpoint up? (LISA_BASE_URL)", max(8, 2*s.concurrency), kind(err))
	case haltWrite:
		kept, _ := s.failed.state()
		_, lines := s.failed.state()
		s.report.say("lisa send: stopped: %v", err)
		if s.failed != nil {
			s.report.say("lisa send: %s keeps the %d whole lines written before (%d bytes)", s.failedPath, lines, kept)
		}
		if s.rejected != s.failed {
			_, rl := s.rejected.state()
			s.report.say("lisa send: %s keeps the %d whole lines written before", s.rejectedPath, rl)
		}
		s.report.say("lisa send: every line of %s before line %d is accepted or kept; from line %d on, not every line is: send it again from line %d", s.in.name, s.settledTo+1, s.settledTo+1, s.settledTo+1)
	}
	if k != haltNone && k != haltWrite && s.restFrom > 0 {
		switch {
		case s.cp != nil:
			s.report.say("lisa send: to resume after line %d, run the same command again (checkpoint %s)", s.cp.Line, s.checkpointPath)
		case s.failed == nil:
			s.report.say("lisa send: %s from line %d on was not sent (give -failed FILE to keep it)", s.in.name, s.restFrom)
		case s.restErr != nil:
			// The lines before the rest that were not settled failed to be
			// written too, once the disk was full.
			from := s.restFrom + s.restCopied
			if s.settledTo+1 < s.restFrom {
				from = s.settledTo + 1
			}
			s.report.say("lisa send: copying the rest of %s into %s failed: %v", s.in.name, s.failedPath, s.restErr)
			s.report.say("lisa send: every line of %s before line %d is accepted or kept in %s; send it again from line %d", s.in.name, from, s.failedPath, from)
		case s.restAll:
			s.report.say("lisa send: the %d lines of %s from line %d on, not sent, are in %s", s.restCopied, s.in.name, s.restFrom, s.failedPath)
		default:
			s.report.say("lisa send: the %d lines of standard input read and not sent (from line %d) are in %s; the rest of standard input was not read", s.restCopied, s.restFrom, s.failedPath)
		}
	}
	if failed+rejected+notSent == 0 && k == haltNone {
		return nil
	}
	if s.failedPath != "" && k != haltWrite && failed+notSent > 0 {
		s.report.say("lisa send: what may succeed later is in %s: send it again with lisa send -ndjson %s", s.failedPath, s.failedPath)
	}
	if s.rejectedPath != "" && rejected > 0 {
		s.report.say("lisa send: what can never be accepted as it is is in %s", s.rejectedPath)
	}
	return errNotAllAccepted
}
