package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type line struct {
	data string
	over bool
}

// readLines runs a lineReader to the end; spilled lines land in spill.
func readLines(t *testing.T, r io.Reader, limit int) ([]line, string) {
	t.Helper()
	lr := newLineReader(r, limit)
	var spill bytes.Buffer
	var out []line
	for {
		data, over, _, err := lr.next(&spill)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		out = append(out, line{string(data), over})
		require.Equal(t, len(out), lr.line)
	}
	return out, spill.String()
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("y", 100_000) // longer than the 64 KiB read buffer
	got, spill := readLines(t, strings.NewReader("a\n\nbb\r\n"+long+"\nccc"), 10)
	assert.Equal(t, []line{{"a", false}, {"", false}, {"bb\r", false}, {"", true}, {"ccc", false}}, got)
	assert.Equal(t, long+"\n", spill)

	got, _ = readLines(t, strings.NewReader(long+"\n"), 200_000)
	assert.Equal(t, []line{{long, false}}, got, "a line longer than the buffer but under the limit is whole")

	got, _ = readLines(t, iotest.OneByteReader(strings.NewReader("ab\ncd")), 2)
	assert.Equal(t, []line{{"ab", false}, {"cd", false}}, got)

	got, _ = readLines(t, strings.NewReader(""), 2)
	assert.Empty(t, got)
}

func TestLineReaderPassesOnReadErrors(t *testing.T) {
	lr := newLineReader(iotest.ErrReader(errors.New("disk on fire")), 10)
	_, _, _, err := lr.next(io.Discard)
	assert.ErrorContains(t, err, "disk on fire")
}

// FuzzLineReader checks the reader against bytes.Split: every line comes
// back byte-exact (or spilled, when over the limit), in order, none lost.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}\n"), uint8(8))
	f.Add([]byte("\n\n\r\n"), uint8(1))
	f.Add([]byte("no newline at end"), uint8(3))
	f.Add(bytes.Repeat([]byte("z"), 70_000), uint8(0))
	f.Fuzz(func(t *testing.T, input []byte, limit uint8) {
		want := bytes.Split(input, []byte("\n"))
		if len(want[len(want)-1]) == 0 {
			want = want[:len(want)-1] // the input ended with "\n", or was empty
		}
		lr := newLineReader(iotest.HalfReader(bytes.NewReader(input)), int(limit))
		var spill bytes.Buffer
		var wantSpill bytes.Buffer
		for i, w := range want {
			data, over, size, err := lr.next(&spill)
			require.NoError(t, err, "line %d", i+1)
			require.Equal(t, len(w), size)
			if len(w) > int(limit) {
				require.True(t, over)
				require.Nil(t, data)
				wantSpill.Write(w)
				wantSpill.WriteByte('\n')
			} else {
				require.False(t, over)
				require.Equal(t, w, data)
			}
			require.Equal(t, i+1, lr.line)
		}
		_, _, _, err := lr.next(&spill)
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, wantSpill.String(), spill.String())
		require.EqualValues(t, len(input), lr.read.Load())
	})
}
