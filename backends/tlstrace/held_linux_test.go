package tlstrace

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A held process is continued through the pidfd taken when its record was
// read; once it is gone, nothing is signalled in its name.
func TestHeldContinuedThroughPidfd(t *testing.T) {
	if fd, err := unix.PidfdOpen(os.Getpid(), 0); err != nil {
		t.Skip("no pidfds here:", err)
	} else {
		unix.Close(fd)
	}
	child := exec.Command("sleep", "60")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	pid := child.Process.Pid
	require.NoError(t, unix.Kill(pid, unix.SIGSTOP))
	var ws unix.WaitStatus
	_, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil)
	require.NoError(t, err)
	require.True(t, ws.Stopped())

	h := pinHeld(discovery{pid: pid})
	require.GreaterOrEqual(t, h.pidfd, 0, "pidfd_open")
	h.cont()
	_, err = unix.Wait4(pid, &ws, unix.WCONTINUED, nil)
	require.NoError(t, err)
	require.True(t, ws.Continued())

	// Pinned, then gone and reaped: the pidfd names no process any more,
	// whoever has the pid by now.
	h = pinHeld(discovery{pid: pid})
	require.GreaterOrEqual(t, h.pidfd, 0)
	require.NoError(t, child.Process.Kill())
	_ = child.Wait()
	require.ErrorIs(t, unix.PidfdSendSignal(h.pidfd, 0, nil, 0), unix.ESRCH)
	h.cont()

	require.True(t, pinHeld(discovery{pid: 0}).gone, "pid 0 is never signalled")
}
