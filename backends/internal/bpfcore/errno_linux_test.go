package bpfcore

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestErrnoNameMatchesUnix(t *testing.T) {
	for n := 1; n < 256; n++ {
		if want := unix.ErrnoName(syscall.Errno(n)); want != "" {
			require.Equal(t, want, ErrnoName(n), "errno %d", n)
		}
	}
	require.Equal(t, "errno 0", ErrnoName(0))
	require.Equal(t, "errno -1", ErrnoName(-1))
	require.Equal(t, "errno 4096", ErrnoName(4096))
}
