package exectrace_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// requirePrivileged skips t when BPF tracing is unavailable, or fails it
// when TRACEP_REQUIRE_PRIVILEGED=1.
func requirePrivileged(t testing.TB) {
	t.Helper()
	err := exectrace.Supported()
	if err == nil && os.Geteuid() != 0 {
		err = fmt.Errorf("not root")
	}
	if err == nil {
		return
	}
	if os.Getenv("TRACEP_REQUIRE_PRIVILEGED") == "1" {
		t.Fatalf("exec tracing unavailable: %v", err)
	}
	t.Skipf("exec tracing unavailable (TRACEP_REQUIRE_PRIVILEGED=1 makes this fail): %v", err)
}

// testCgroup is a cgroup v2 directory made for one test and removed after it.
type testCgroup struct {
	path string
	id   uint64
	fd   int
}

var cgroupSeq atomic.Int64

func newCgroup(t testing.TB) *testCgroup {
	t.Helper()
	mnt, err := bpfcore.Cgroup2Mount()
	require.NoError(t, err)
	path := filepath.Join(mnt, fmt.Sprintf("tracep-exectrace-test-%d-%d", os.Getpid(), cgroupSeq.Add(1)))
	require.NoError(t, os.Mkdir(path, 0o755))
	cg := &testCgroup{path: path, fd: -1}
	t.Cleanup(func() {
		if cg.fd >= 0 {
			unix.Close(cg.fd)
		}
		if err := cg.killAll(); err != nil {
			t.Errorf("empty test cgroup: %v", err)
		}
		if err := os.Remove(path); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	cg.fd, err = unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	cg.id, err = bpfcore.CgroupID(path)
	require.NoError(t, err)
	return cg
}

// killAll kills every process in the cgroup (cgroup.kill) and waits until
// the kernel reports it empty, woken by cgroup.events notifications.
func (cg *testCgroup) killAll() error {
	if err := os.WriteFile(filepath.Join(cg.path, "cgroup.kill"), []byte("1"), 0); err != nil {
		return err
	}
	fd, err := unix.Open(filepath.Join(cg.path, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 256)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.Pread(fd, buf, 0)
		if err != nil {
			return err
		}
		if strings.Contains(string(buf[:n]), "populated 0") {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("cgroup %s still populated", cg.path)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			return err
		}
	}
}

// command returns a command that starts inside the cgroup (clone3 with
// CLONE_INTO_CGROUP), so not even its exec happens outside.
func (cg *testCgroup) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.fd}
	return cmd
}

// collector records the events of one session.
type collector struct {
	mu     sync.Mutex
	evs    []tracep.Event
	closed atomic.Bool
	late   atomic.Int64 // events emitted after markClosed
}

func (c *collector) emit(ev tracep.Event) {
	if c.closed.Load() {
		c.late.Add(1)
	}
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
}

func (c *collector) markClosed() { c.closed.Store(true) }

func (c *collector) events() []tracep.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// ops returns the events with operation op.
func (c *collector) ops(op string) []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.events() {
		if ev.Exec != nil && ev.Exec.Op == op {
			out = append(out, ev)
		}
	}
	return out
}

// argvWith returns the exec events whose argv contains arg.
func (c *collector) argvWith(arg string) []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.ops(tracep.ExecOpExec) {
		if slices.Contains(ev.Exec.Argv, arg) {
			out = append(out, ev)
		}
	}
	return out
}

// exitOf returns the exit event of pid.
func (c *collector) exitOf(t testing.TB, pid int) tracep.Event {
	t.Helper()
	for _, ev := range c.ops(tracep.ExecOpExit) {
		if int(ev.Proc.PID) == pid {
			return ev
		}
	}
	t.Fatalf("no exit event for pid %d", pid)
	return tracep.Event{}
}
