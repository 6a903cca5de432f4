package bpfcore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestRingSize(t *testing.T) {
	for _, tt := range []struct{ in, want int }{
		{0, MinRingBytes},
		{1, MinRingBytes},
		{MinRingBytes, MinRingBytes},
		{MinRingBytes + 1, 2 * MinRingBytes},
		{3 << 20, 4 << 20},
		{1 << 30, 1 << 30},
	} {
		got, err := RingSize(tt.in)
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "RingSize(%d)", tt.in)
	}
	for _, bad := range []int{-1, 1<<30 + 1} {
		_, err := RingSize(bad)
		require.ErrorIs(t, err, tracep.ErrInvalid)
	}
}

func TestRingBytes(t *testing.T) {
	for _, tt := range []struct{ n, records, largest, want int }{
		{0, 1, 1, 2 << 20},             // the default
		{3 << 20, 1, 1, 4 << 20},       // rounded up
		{1, 4, 16 << 10, MinRingBytes}, // four records fit exactly
		{1 << 20, 8, 128 << 10, 1 << 20},
		{1 << 20, 8, 128<<10 + 1, 0}, // too small
		{-1, 1, 1, 0},
		{1<<30 + 1, 1, 1, 0},
	} {
		got, err := RingBytes(tt.n, 2<<20, tt.records, tt.largest)
		if tt.want == 0 {
			require.ErrorIs(t, err, tracep.ErrInvalid, "%+v", tt)
			continue
		}
		require.NoError(t, err, "%+v", tt)
		require.Equal(t, tt.want, got, "%+v", tt)
	}
}

func TestLimit(t *testing.T) {
	for _, tt := range []struct{ v, want int }{{0, 100}, {1, 1}, {500, 500}, {-1, -1}, {501, -1}} {
		got, err := Limit("argv limit", tt.v, 100, 500)
		if tt.want < 0 {
			require.ErrorIs(t, err, tracep.ErrInvalid)
			require.ErrorContains(t, err, "argv limit")
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}
}

func TestSessionConfigValidate(t *testing.T) {
	ok := SessionConfig{RingBytes: MinRingBytes}
	require.NoError(t, ok.validate())
	for _, bad := range []SessionConfig{
		{},
		{RingBytes: MinRingBytes + 4096},
		{RingBytes: MinRingBytes / 2},
		{RingBytes: MinRingBytes, Scope: tracep.Scope{PIDs: []int{0}}},
		{RingBytes: MinRingBytes, Scope: tracep.Scope{PIDs: []int{-3}}},
	} {
		require.ErrorIs(t, bad.validate(), tracep.ErrInvalid, "%+v", bad)
	}
}

func TestKindIndex(t *testing.T) {
	seen := map[int]bool{}
	for _, k := range []tracep.Kind{tracep.KindExec, tracep.KindNet, tracep.KindDNS, tracep.KindTLS} {
		i, err := kindIndex(k)
		require.NoError(t, err)
		require.False(t, seen[i])
		require.Less(t, i, 8) // TP_MAX_KINDS
		seen[i] = true
	}
	_, err := kindIndex(tracep.KindCA)
	require.ErrorIs(t, err, tracep.ErrInvalid)
}

func TestClock(t *testing.T) {
	wall := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := ClockAt(5_000_000_000, wall)
	require.True(t, c.Time(5_000_000_000).Equal(wall))
	require.True(t, c.Time(5_000_000_001).Equal(wall.Add(time.Nanosecond)))
	require.True(t, c.Time(4_000_000_000).Equal(wall.Add(-time.Second)))
}

func TestNormalize(t *testing.T) {
	double := func(n int) (int, error) {
		if n < 0 {
			return n, tracep.ErrInvalid
		}
		return 2 * n, nil
	}
	emit := func(tracep.Event) {}
	got, err := Normalize(tracep.KindNet, 21, double, emit)
	require.NoError(t, err)
	require.Equal(t, 42, got)
	_, err = Normalize(tracep.KindNet, -1, double, emit)
	require.ErrorIs(t, err, tracep.ErrInvalid)
	require.ErrorContains(t, err, "net tracer: ")
	_, err = Normalize(tracep.KindDNS, 1, double, nil)
	require.ErrorIs(t, err, tracep.ErrInvalid)
	require.ErrorContains(t, err, "dns tracer: nil emit")
}
