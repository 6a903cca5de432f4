package exectrace_test

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/exectrace"
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

// testCgroup is a cgroup v2 directory made for one test (by the harness's
// cgroup package) and removed after it.
type testCgroup struct {
	*cgroup.Cgroup
	id uint64
	fd int
}

func newCgroup(t testing.TB) *testCgroup {
	t.Helper()
	cg, err := cgroup.New()
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := cg.Close(); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	return &testCgroup{Cgroup: cg, id: cg.ID(), fd: cg.FD()}
}

// killAll kills every process in the cgroup and waits until it is empty.
func (cg *testCgroup) killAll() error { return cg.Kill(10 * time.Second) }

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
