package tlstrace_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// holdWatchdogs returns the hold watchdogs that process pid started.
func holdWatchdogs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	require.NoError(t, err)
	var out []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			// Its argv[0], set by the exec (the name it gives itself
			// comes later, as it starts).
			cmdline, _ := os.ReadFile("/proc/" + c + "/cmdline")
			if string(cmdline) == "tracep-hold-watchdog\x00"+strconv.Itoa(pid)+"\x00" {
				child, _ := strconv.Atoi(c)
				out = append(out, child)
			}
		}
	}
	return out
}

// waitGone waits, on its pidfd, until process pid has exited, within the
// test's deadline.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	require.NoError(t, err)
	defer unix.Close(fd)
	deadline, _ := tracetest.Context(t).Deadline()
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(time.Until(deadline).Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 1, n, "process %d still there (stopped?)", pid)
		return
	}
}

// waitStopped waits until the child pid stops, and returns the signal.
func waitStopped(t *testing.T, pid int) syscall.Signal {
	t.Helper()
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil)
	require.NoError(t, err)
	require.True(t, ws.Stopped(), "status %#x", ws)
	return ws.StopSignal()
}

// The window no user space can close: the kernel has stopped a process
// that executes a new binary, and the tracer has not read about it yet
// (here: it is stopped itself). The tracer is killed then: its watchdog
// continues the process anyway, and goes; nothing of the tracer stays.
func TestIntegrationKilledWhileHolding(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	if os.Getenv("TRACEP_TLS_HELPER") == "holder" {
		helperHolder(t)
		return
	}
	cg := tracetest.Open(t, cgroup.New)
	self, err := os.Executable()
	require.NoError(t, err)
	tracer := exec.Command(self, "-test.run=^TestIntegrationKilledWhileHolding$", "-test.count=1")
	tracer.Env = append(os.Environ(), "TRACEP_TLS_HELPER=holder", "TRACEP_TLS_CGROUP="+strconv.FormatUint(cg.ID(), 10))
	stdin, err := tracer.StdinPipe()
	require.NoError(t, err)
	stdout, err := tracer.StdoutPipe()
	require.NoError(t, err)
	tracer.Stderr = os.Stderr
	require.NoError(t, tracer.Start())
	t.Cleanup(func() { _ = tracer.Process.Kill(); _ = tracer.Wait(); stdin.Close() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	wds := holdWatchdogs(t, tracer.Process.Pid)
	require.Len(t, wds, 1, "a scoped session that holds has its watchdog")
	links := fdLinks(t, tracer.Process.Pid)
	require.NotEmpty(t, links)

	// The tracer's user space stands still; its programs do not.
	require.NoError(t, tracer.Process.Signal(unix.SIGSTOP))
	require.Equal(t, unix.SIGSTOP, waitStopped(t, tracer.Process.Pid))

	fresh := filepath.Join(t.TempDir(), "true")
	require.NoError(t, os.WriteFile(fresh, readFile(t, "/bin/true"), 0o755))
	held := cg.Command(fresh)
	require.NoError(t, held.Start())
	require.Equal(t, unix.SIGSTOP, waitStopped(t, held.Process.Pid), "held at exec")

	require.NoError(t, tracer.Process.Kill())
	_ = tracer.Wait()
	waitGone(t, held.Process.Pid)
	require.NoError(t, held.Wait(), "continued, ran to its end")
	waitGone(t, wds[0])
	for id := range links {
		l, err := link.NewFromID(id)
		if err == nil {
			l.Close()
		}
		require.ErrorIs(t, err, os.ErrNotExist, "link %d survives the tracer", id)
	}
}

// helperHolder is the tracer of TestIntegrationKilledWhileHolding: a
// session on the test's cgroup, which holds new binaries.
func helperHolder(t *testing.T) {
	id, err := strconv.ParseUint(os.Getenv("TRACEP_TLS_CGROUP"), 10, 64)
	require.NoError(t, err)
	s, err := tlstrace.Start(context.Background(), tlstrace.Config{Scope: tracep.Scope{CgroupID: id}}, func(tracep.Event) {})
	require.NoError(t, err)
	defer s.Close()
	os.Stdout.WriteString("ready\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// A session that holds starts one watchdog for the process, whatever the
// number of sessions; one that does not (NoHold) starts none. It goes when
// the probes are detached, having nothing to continue.
func TestIntegrationHoldWatchdogLifetime(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	bpfcore.DetachIdle()
	require.Empty(t, holdWatchdogs(t, os.Getpid()))

	sc := startScoped(t, tlstrace.Config{NoHold: true})
	require.Empty(t, holdWatchdogs(t, os.Getpid()), "nothing held, no watchdog")
	a := startScoped(t, tlstrace.Config{})
	b := startScoped(t, tlstrace.Config{})
	wds := holdWatchdogs(t, os.Getpid())
	require.Len(t, wds, 1)

	// The sessions hold a new binary and continue it.
	fresh := filepath.Join(t.TempDir(), "true")
	require.NoError(t, os.WriteFile(fresh, readFile(t, "/bin/true"), 0o755))
	// Whether the test sees the stop or not: a continuation sent before
	// the stop took effect cancels it.
	holds := tlstrace.Holds()
	cmd := a.cg.Command(fresh)
	require.NoError(t, cmd.Start())
	_, _, exit := waitStops(t, cmd.Process.Pid)
	require.Greater(t, tlstrace.Holds(), holds, "held")
	require.Zero(t, exit)
	cmd.Process.Release()

	for _, s := range []*scoped{sc, a, b} {
		s.close()
	}
	bpfcore.DetachIdle()
	require.Empty(t, holdWatchdogs(t, os.Getpid()), "the watchdog is gone with the probes")
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(wds[0], &ws, syscall.WNOHANG, nil)
	require.ErrorIs(t, err, syscall.ECHILD, "and reaped")
}
