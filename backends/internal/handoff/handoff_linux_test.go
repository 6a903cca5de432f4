package handoff

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// pipeEnds returns a pipe's read end (close-on-exec) and write end, the
// write end close-on-exec unless inheritable.
func pipeEnds(t *testing.T, inheritable bool) (r, w int) {
	t.Helper()
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
	if inheritable {
		_, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETFD, 0)
		require.NoError(t, err)
	}
	t.Cleanup(func() { unix.Close(p[0]) })
	return p[0], p[1]
}

// hungUp waits up to timeoutMs for r's writers to be gone and reports
// whether they are.
func hungUp(t *testing.T, r int, timeoutMs int) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, timeoutMs)
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		return n == 1 && fds[0].Revents&unix.POLLHUP != 0
	}
}

// The child holds what it is handed until the caller closed its own copy,
// then exits and releases it; a descriptor the caller inherited without
// close-on-exec is not kept by the child.
func TestClose(t *testing.T) {
	handedR, handedW := pipeEnds(t, false)
	strayR, strayW := pipeEnds(t, true) // as if inherited from our parent
	called := false
	pid, err := Close([]int{handedW}, func() {
		called = true
		unix.Close(handedW)
		require.False(t, hungUp(t, handedR, 0), "the child does not hold the handed object")
		unix.Close(strayW)
		require.True(t, hungUp(t, strayR, 10_000), "the child keeps a descriptor it inherited by accident")
	})
	require.NoError(t, err)
	require.Positive(t, pid)
	require.True(t, called, "closeOwn not called")
	// Released by the child's exit: a real wait, bounded only in case.
	require.True(t, hungUp(t, handedR, 10_000), "the child did not release the handed object")
}

// Nothing to hand: closeOwn is still called, and no child is started.
func TestCloseNothing(t *testing.T) {
	called := false
	pid, err := Close(nil, func() { called = true })
	require.NoError(t, err)
	require.True(t, called)
	require.Zero(t, pid)
}

// The child's init recognises it by argv[0] and environment together.
func TestChildArgs(t *testing.T) {
	require.Equal(t, 2, child("x"))
	require.Equal(t, 2, child("0"))
	require.NotEqual(t, arg0, os.Args[0], "the test binary ran as the child")
}
