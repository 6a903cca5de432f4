package watchdog

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep/tracetest"
)

// holdMaps makes maps shaped as the TLS tracer's tlsx_hold_on and
// tlsx_held.
func holdMaps(t *testing.T) Maps {
	t.Helper()
	tracetest.SkipUnlessRoot(t, "making BPF maps")
	on, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	require.NoError(t, err)
	t.Cleanup(func() { on.Close() })
	held, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 16, ValueSize: 1, MaxEntries: 64})
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	return Maps{On: on, Held: held}
}

// hold records pid in m.Held as the programs would.
func hold(t *testing.T, m Maps, pid int, stamp uint64) {
	t.Helper()
	key := make([]byte, 16)
	binary.NativeEndian.PutUint32(key, uint32(pid))
	binary.NativeEndian.PutUint32(key[4:], uint32(pid))
	binary.NativeEndian.PutUint64(key[8:], stamp)
	require.NoError(t, m.Held.Put(key, uint8(1)))
}

// stoppedChild starts a process that stops itself and exits 7 once
// continued, and returns when it is stopped (its parent is told).
func stoppedChild(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", "kill -STOP $$; exit 7")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	})
	var ws unix.WaitStatus
	_, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil)
	require.NoError(t, err)
	require.True(t, ws.Stopped(), "status %#x", ws)
	return pid
}

// waitExit waits, on its pidfd, for process pid to exit, within the
// test's deadline.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	deadline, _ := tracetest.Context(t).Deadline()
	for {
		ms := -1
		if !deadline.IsZero() {
			ms = int(time.Until(deadline).Milliseconds()) + 1
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 1, n, "process %d still running: stopped?", pid)
		return
	}
}

// requireContinued waits for the stopped child pid to run to its end.
func requireContinued(t *testing.T, pid int) {
	t.Helper()
	waitExit(t, pid)
	var ws unix.WaitStatus
	_, err := unix.Wait4(pid, &ws, 0, nil)
	require.NoError(t, err)
	require.True(t, ws.Exited(), "status %#x", ws)
	require.Equal(t, 7, ws.ExitStatus())
}

func waitWatchdog(t *testing.T, w *Watchdog) {
	t.Helper()
	select {
	case <-w.Exited():
	case <-tracetest.Context(t).Done():
		t.Fatal("the watchdog did not exit")
	}
}

func requireReleased(t *testing.T, m Maps) {
	t.Helper()
	var on uint32
	require.NoError(t, m.On.Lookup(uint32(0), &on))
	require.Zero(t, on, "holding still on")
	k, err := m.Held.NextKeyBytes(nil)
	require.NoError(t, err)
	require.Nil(t, k, "held processes still recorded")
}

// holdingOne starts a watchdog over maps holding one stopped process, a,
// with holding on.
func holdingOne(t *testing.T) (Maps, *Watchdog, int) {
	t.Helper()
	m := holdMaps(t)
	a := stoppedChild(t)
	hold(t, m, a, 1)
	w, err := Start(m)
	require.NoError(t, err)
	require.NoError(t, m.On.Put(uint32(0), uint32(1)))
	return m, w, a
}

// The tracer dies (its end of the pipe closes without a word): the
// watchdog stops holding, continues every held process and exits.
func TestIntegrationReleasesWhenTracerDies(t *testing.T) {
	m := holdMaps(t)
	a, b := stoppedChild(t), stoppedChild(t)
	hold(t, m, a, 1)
	hold(t, m, b, 2)
	hold(t, m, b, 3) // held twice: continued once
	w, err := Start(m)
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	require.NoError(t, m.On.Put(uint32(0), uint32(1)))

	w.alive.Close() // what the kernel does when the tracer dies
	requireContinued(t, a)
	requireContinued(t, b)
	waitWatchdog(t, w)
	requireReleased(t, m)
}

// Close, the tracer's own release, continues what is held and ends the
// watchdog, which finds nothing left to do.
func TestIntegrationCloseReleases(t *testing.T) {
	m, w, a := holdingOne(t)
	require.NoError(t, w.Close())
	requireContinued(t, a)
	select {
	case <-w.Exited():
	default:
		t.Fatal("Close returned before the watchdog exited")
	}
	requireReleased(t, m)
	require.NoError(t, w.Close(), "Close is idempotent")
}

// Leave, a tracer about to exit, leaves the release to the watchdog, as
// its death would; Close after it does nothing.
func TestIntegrationLeaveReleases(t *testing.T) {
	m, w, a := holdingOne(t)
	w.Leave()
	requireContinued(t, a)
	waitWatchdog(t, w)
	requireReleased(t, m)
	require.NoError(t, w.Close(), "Close after Leave")
}

// The watchdog is a process of its own session, named so that `pkill
// tracep` spares it, deaf to the signals that stop a tracer gently, and
// keeps no descriptor the tracer passed on by accident.
func TestIntegrationWatchdogProcess(t *testing.T) {
	m := holdMaps(t)
	// A pipe end without close-on-exec, as a tracer's parent may pass on.
	r, wr, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	_, err = unix.FcntlInt(wr.Fd(), unix.F_SETFD, 0)
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(wr.Fd()), &st))
	inherited := "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"

	w, err := Start(m)
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	wr.Close()
	// The watchdog closes its copy as it starts: the reader sees the end.
	n, err := r.Read(make([]byte, 1))
	require.Zero(t, n)
	require.Error(t, err, "end of file")

	pid := w.PID()
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	require.NoError(t, err)
	require.Equal(t, "hold-watchdog\n", string(comm))
	sid, err := unix.Getsid(pid)
	require.NoError(t, err)
	require.Equal(t, pid, sid, "a session of its own")
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	require.NoError(t, err)
	require.Equal(t, arg0+"\x00"+strconv.Itoa(os.Getpid())+"\x00", string(cmdline))
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	require.NoError(t, err)
	for _, e := range fds {
		target, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + e.Name())
		require.NotEqual(t, inherited, target, "inherited pipe kept as descriptor %s", e.Name())
	}

	// Gentle signals do not end it: it still releases afterwards.
	a := stoppedChild(t)
	hold(t, m, a, 1)
	for _, sig := range []syscall.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT} {
		require.NoError(t, unix.Kill(pid, sig))
	}
	w.alive.Close()
	requireContinued(t, a)
	waitWatchdog(t, w)
}
