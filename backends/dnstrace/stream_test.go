package dnstrace

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// frame prefixes each message with its length.
func frame(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// feedAll feeds the chunks and returns copies of the messages, stopping at
// the first error.
func feedAll(r *StreamReassembler, chunks ...[]byte) ([][]byte, error) {
	var out [][]byte
	for _, c := range chunks {
		if err := r.Feed(c, func(m []byte) { out = append(out, bytes.Clone(m)) }); err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestStreamWholeMessages(t *testing.T) {
	a, b, c := typicalA(), cnameChain(), typicalAAAA()
	var r StreamReassembler
	got, err := feedAll(&r, frame(a), frame(b, c))
	require.NoError(t, err)
	require.Equal(t, [][]byte{a, b, c}, got)
	require.Zero(t, r.Buffered())
}

func TestStreamEverySplit(t *testing.T) {
	a, b, c := typicalA(), cnameChain(), typicalAAAA()
	stream := frame(a, b, c)
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j += 7 {
			var r StreamReassembler
			got, err := feedAll(&r, stream[:i], stream[i:j], stream[j:])
			require.NoError(t, err)
			require.Equal(t, [][]byte{a, b, c}, got, "split at %d and %d", i, j)
			require.Zero(t, r.Buffered())
		}
	}
}

func TestStreamByteByByte(t *testing.T) {
	a, b := typicalA(), cnameChain()
	stream := frame(a, b)
	var r StreamReassembler
	var got [][]byte
	for i := range stream {
		out, err := feedAll(&r, stream[i:i+1])
		require.NoError(t, err)
		got = append(got, out...)
		if i == 0 {
			require.Equal(t, 1, r.Buffered())
		}
	}
	require.Equal(t, [][]byte{a, b}, got)
}

func TestStreamLargest(t *testing.T) {
	big := make([]byte, MaxMessageSize)
	for i := range big {
		big[i] = byte(i)
	}
	stream := frame(big, typicalA())
	var r StreamReassembler
	var got [][]byte
	for len(stream) > 0 {
		n := min(1460, len(stream))
		out, err := feedAll(&r, stream[:n])
		require.NoError(t, err)
		got = append(got, out...)
		require.LessOrEqual(t, r.Buffered(), MaxMessageSize+2)
		require.LessOrEqual(t, cap(r.buf), MaxMessageSize)
		stream = stream[n:]
	}
	require.Equal(t, [][]byte{big, typicalA()}, got)
}

func TestStreamLimit(t *testing.T) {
	r := StreamReassembler{Max: 100}
	ok := make([]byte, 100)
	tooBig := make([]byte, 101)
	got, err := feedAll(&r, frame(ok, tooBig, ok))
	require.ErrorIs(t, err, ErrFraming)
	require.EqualError(t, err, "dns tcp framing error: message length 101 exceeds the limit of 100")
	require.Equal(t, [][]byte{ok}, got, "the messages before the error are delivered")
	require.Zero(t, r.Buffered())

	// The prefix split over two chunks is checked as well.
	stream := frame(tooBig)
	_, err = feedAll(&r, stream[:1], stream[1:])
	require.ErrorIs(t, err, ErrFraming)
	require.Zero(t, r.Buffered())

	// After an error the stream starts afresh.
	got, err = feedAll(&r, frame(ok))
	require.NoError(t, err)
	require.Equal(t, [][]byte{ok}, got)
}

func TestStreamShortLength(t *testing.T) {
	var r StreamReassembler
	part := frame(typicalA())[:20]
	_, err := feedAll(&r, part)
	require.NoError(t, err)
	require.Equal(t, 20, r.Buffered())
	r.Reset()
	require.Zero(t, r.Buffered())

	_, err = feedAll(&r, []byte{0, 11}, make([]byte, 11))
	require.ErrorIs(t, err, ErrFraming)
	require.EqualError(t, err, "dns tcp framing error: message length 11 shorter than a DNS header")
	_, err = feedAll(&r, []byte{0, 0})
	require.ErrorIs(t, err, ErrFraming)
}

// Partial gives the message being assembled and its announced length:
// what a connection ending now cuts short.
func TestStreamPartial(t *testing.T) {
	a := typicalA()
	var r StreamReassembler
	msg, n := r.Partial()
	require.Nil(t, msg)
	require.Zero(t, n)
	for _, tc := range []struct {
		fed  int // octets of frame(a) fed
		want int // octets of a held
		n    int
	}{{1, 0, 0}, {2, 0, len(a)}, {20, 18, len(a)}, {len(a) + 2, 0, 0}} {
		r.Reset()
		got, err := feedAll(&r, frame(a)[:tc.fed])
		require.NoError(t, err)
		msg, n := r.Partial()
		require.Equal(t, tc.n, n, "after %d octets", tc.fed)
		require.Equal(t, string(a[:tc.want]), string(msg), "after %d octets", tc.fed)
		require.Equal(t, tc.fed == len(a)+2, len(got) == 1)
	}
}
