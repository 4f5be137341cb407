package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// The output files of one run of lisa send: -failed, -rejected and the
// checkpoint.

// checkTarget refuses an output path where something other than a regular
// file exists: the file is written beside it and renamed over it, which
// would replace a device node, a FIFO or a symbolic link with a regular
// file. A symbolic link is refused rather than followed: renaming over it
// would replace the link, and following it would let a link planted in a
// shared directory point the writes (as root) at any file.
func checkTarget(flag, path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return usageError(fmt.Errorf("lisa send: %s: %w", flag, err))
	case fi.Mode()&os.ModeSymlink != 0:
		return usageError(fmt.Errorf("lisa send: %s %s is a symbolic link: give the path of the file itself", flag, path))
	case !fi.Mode().IsRegular():
		return usageError(fmt.Errorf("lisa send: %s %s exists and is not a regular file (%s): it would be replaced; give another path", flag, path, describeMode(fi.Mode())))
	}
	return nil
}

func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// openOutputs creates -failed and -rejected, or, resuming from a
// checkpoint, continues them.
func (s *sender) openOutputs() error {
	var fromFailed, fromRejected int64
	resume := false
	if s.checkpointPath != "" {
		if !s.in.regular || s.in.path == "" {
			return usageError(errors.New("lisa send: -checkpoint needs a regular FILE, not standard input"))
		}
		cp, err := loadCheckpoint(s.checkpointPath)
		if err != nil {
			return usageError(fmt.Errorf("lisa send: %w", err))
		}
		if cp != nil && !cp.Complete {
			if !cp.matches(s.in, s.failedPath, s.rejectedPath) {
				return usageError(fmt.Errorf("lisa send: checkpoint %s is for another input or other -failed/-rejected files, or the input changed since; remove it to start over", s.checkpointPath))
			}
			if _, err := s.in.r.(*os.File).Seek(cp.Offset, io.SeekStart); err != nil {
				return fmt.Errorf("lisa send: %w", err)
			}
			resume, fromFailed, fromRejected = true, cp.FailedSize, cp.RejectedSize
			fmt.Fprintf(s.stderr, "lisa send: resuming %s after line %d (checkpoint %s)\n", s.in.name, cp.Line, s.checkpointPath)
		} else {
			cp = &checkpoint{Input: s.in.path, InputSize: s.in.info.Size(), InputModTime: s.in.info.ModTime().UnixNano(),
				Failed: s.failedPath, Rejected: s.rejectedPath, path: s.checkpointPath}
		}
		s.cp = cp
	}
	open := func(path string, from int64) (*outFile, error) {
		switch {
		case path == "":
			return nil, nil
		case s.cp != nil && resume:
			return appendOut(path, from)
		case s.cp != nil:
			return appendOut(path, 0)
		}
		return createOut(path)
	}
	var err error
	if s.failed, err = open(s.failedPath, fromFailed); err != nil {
		return usageError(fmt.Errorf("lisa send: -failed: %w", err))
	}
	s.rejected = s.failed
	if s.rejectedPath != "" {
		if s.rejected, err = open(s.rejectedPath, fromRejected); err != nil {
			return usageError(fmt.Errorf("lisa send: -rejected: %w", err))
		}
	}
	if s.cp != nil && !resume {
		s.cp.Complete = false
		return s.cp.save()
	}
	return nil
}

// saveCheckpoint records that the input is settled up to offset: what was
// written to the output files is flushed first, so that the checkpoint
// never claims more than they hold.
func (s *sender) saveCheckpoint(offset int64, line int) error {
	if err := s.failed.sync(); err != nil {
		return err
	}
	if err := s.rejected.sync(); err != nil {
		return err
	}
	s.cp.Offset, s.cp.Line = offset, line
	s.cp.FailedSize, _ = s.failed.state()
	if s.rejected != s.failed {
		s.cp.RejectedSize, _ = s.rejected.state()
	}
	return s.cp.save()
}

// finishOutputs puts the output files in place and, when the whole input
// was settled, marks the checkpoint complete.
func (s *sender) finishOutputs() error {
	err := s.failed.finish()
	if s.rejected != s.failed {
		if rerr := s.rejected.finish(); err == nil {
			err = rerr
		}
	}
	if k, _ := s.why(); s.cp != nil && err == nil && k == haltNone {
		s.cp.Complete = true
		err = s.cp.save()
	}
	if err != nil {
		return fmt.Errorf("lisa send: write the output files: %w", err)
	}
	return nil
}
