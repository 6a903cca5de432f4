package bpfcore

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The tables name every number golang.org/x/sys/unix names, alike.
func TestNamesMatchUnix(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ours, unix func(int) string
		max        int
	}{
		{"errno", ErrnoName, func(n int) string { return unix.ErrnoName(syscall.Errno(n)) }, 256},
		{"signal", SignalName, func(n int) string { return unix.SignalName(syscall.Signal(n)) }, 65},
	} {
		for n := 1; n < tc.max; n++ {
			if want := tc.unix(n); want != "" {
				require.Equal(t, want, tc.ours(n), "%s %d", tc.name, n)
			}
		}
	}
	for n, want := range map[int]string{0: "errno 0", -1: "errno -1", 4096: "errno 4096"} {
		require.Equal(t, want, ErrnoName(n))
	}
	require.Equal(t, "SIG40", SignalName(40))
	require.Equal(t, "SIG0", SignalName(0))
}
