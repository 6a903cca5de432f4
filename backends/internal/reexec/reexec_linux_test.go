package reexec

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Descriptors from first on without close-on-exec are closed; those with
// it, and those below first, are kept.
func TestCloseInherited(t *testing.T) {
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], 0)) // inheritable, as a stray one would be
	below, first := min(p[0], p[1]), max(p[0], p[1])
	t.Cleanup(func() { unix.Close(below) }) // first is closed by the test
	kept, err := unix.FcntlInt(uintptr(p[0]), unix.F_DUPFD_CLOEXEC, first+1)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(kept) })

	CloseInherited(first)
	_, err = unix.FcntlInt(uintptr(first), unix.F_GETFD, 0)
	require.ErrorIs(t, err, unix.EBADF, "an inheritable descriptor from first on stays open")
	_, err = unix.FcntlInt(uintptr(kept), unix.F_GETFD, 0)
	require.NoError(t, err, "a close-on-exec descriptor was closed")
	_, err = unix.FcntlInt(uintptr(below), unix.F_GETFD, 0)
	require.NoError(t, err, "a descriptor below first was closed")
}
