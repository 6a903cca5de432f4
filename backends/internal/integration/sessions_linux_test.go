package integration_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// Close is idempotent and delivers nothing after it returns, even while
// the workload runs on; the programs stay attached while a session is
// open, and a while after the last one closes (bpfcore.Linger), and after
// DetachIdle nothing is attached and no reader goroutine runs.
func TestIntegrationNothingLeaks(t *testing.T) {
	forEach(t, func(t *testing.T, tr tracer) {
		bpfcore.DetachIdle()
		require.Empty(t, bpfcore.LinkIDs(), "a session of another test is still open")
		require.Zero(t, bpfcore.Readers(), "reader goroutines before the test")

		cg := tracetest.Open(t, cgroup.New)
		var scoped, system tracetest.Collector
		s1 := tracetest.Start(t, tr.start, tracep.Scope{CgroupID: cg.ID()}, scoped.Emit)
		s2 := tracetest.Start(t, tr.start, tracep.Scope{}, system.Emit)
		ids := bpfcore.LinkIDs()
		require.NotEmpty(t, ids)
		require.Equal(t, 2, bpfcore.Readers())

		// The workload again and again while the sessions close.
		argv, _ := tr.workload(t)
		busy := cg.Command("/bin/sh", append([]string{"-c", `while :; do "$@" >/dev/null 2>&1; done`, "busy"}, argv...)...)
		require.NoError(t, tr.starter(t)(busy))
		defer func() {
			_ = cg.Kill(10 * time.Second)
			_ = busy.Wait()
		}()

		scoped.CloseSession(t, s1)
		require.NoError(t, s1.Close(), "second Close")
		for _, id := range ids {
			l, err := link.NewFromID(id)
			require.NoError(t, err, "link %d detached while a session is open", id)
			l.Close()
		}
		system.CloseSession(t, s2)
		require.NoError(t, s2.Close(), "second Close")
		require.ElementsMatch(t, ids, bpfcore.LinkIDs(), "links linger for the next session")
		bpfcore.DetachIdle()
		for _, id := range ids {
			_, err := link.NewFromID(id)
			require.ErrorIs(t, err, os.ErrNotExist, "link %d still attached", id)
		}
		require.Empty(t, bpfcore.LinkIDs())
		require.Zero(t, scoped.Late(), "events after Close")
		require.Zero(t, system.Late(), "events after Close")
		require.Zero(t, bpfcore.Readers(), "reader goroutines left behind")
	})
}

// A session alone installs no spare ring: a command line's would pay for
// a ring it never uses (its creation, and 2-8 MiB of kernel memory by
// default). Beside another session, a ring is ready for the next, which
// then waits for no RCU grace period.
func TestIntegrationSpareRingOnlyBesideAnother(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	bpfcore.DetachIdle()
	require.Empty(t, bpfcore.LinkIDs(), "a session of another test is still open")
	const size = 1 << 20 // no other test's here: no ring of this size is installed
	start := func(t *testing.T) tracep.Session {
		return tracetest.Start(t, session(exectrace.Start, func(s tracep.Scope) exectrace.Config {
			return exectrace.Config{Scope: s, RingBytes: size, ArgvLimit: 32 << 10}
		}), tracep.Scope{}, func(tracep.Event) {})
	}
	require.Zero(t, bpfcore.FreeRings(size))
	first := start(t)
	require.Zero(t, bpfcore.FreeRings(size), "a lone session installed a spare ring")
	second := start(t)
	require.Equal(t, 1, bpfcore.FreeRings(size), "two sessions, no ring ready for a third")
	require.NoError(t, second.Close())
	require.NoError(t, first.Close())
	require.Equal(t, 3, bpfcore.FreeRings(size), "the sessions' rings stay installed for the next")
}

// Rings installed ahead (InstallRings, as Preload does for the sessions
// about to open) count what is there: none beside a free ring of the
// size, one per session to come; a session opened while its ring is
// being installed waits for that one instead of installing another.
func TestIntegrationInstallRings(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	const ahead = 256 << 10 // no other test's here: no ring of this size is installed
	require.Zero(t, bpfcore.FreeRings(ahead))
	require.NoError(t, bpfcore.InstallRings(ahead, ahead))
	require.Equal(t, 2, bpfcore.FreeRings(ahead), "two asked for")
	require.NoError(t, bpfcore.InstallRings(ahead))
	require.Equal(t, 2, bpfcore.FreeRings(ahead), "installed beside free ones of the size")
	require.NoError(t, bpfcore.InstallRings(ahead, ahead, ahead))
	require.Equal(t, 3, bpfcore.FreeRings(ahead), "the free ones counted once each")
	require.ErrorIs(t, bpfcore.InstallRings(ahead+1), tracep.ErrInvalid)

	var mu sync.Mutex
	var phases []string
	bpfcore.SetPhaseHook(func(phase string, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		phases = append(phases, phase)
	})
	t.Cleanup(func() { bpfcore.SetPhaseHook(nil) })
	const size = 512 << 10 // nor of this one
	require.Zero(t, bpfcore.FreeRings(size))
	require.NoError(t, bpfcore.InstallRings(size)) // returns before the grace period
	s := tracetest.Start(t, session(exectrace.Start, func(s tracep.Scope) exectrace.Config {
		return exectrace.Config{Scope: s, RingBytes: size, ArgvLimit: 32 << 10}
	}), tracep.Scope{}, func(tracep.Event) {})
	mu.Lock()
	require.NotContains(t, phases, "exec: wait for ring install (RCU)", "the session installed a ring of its own")
	mu.Unlock()
	require.Zero(t, bpfcore.FreeRings(size), "the session took the ring installed ahead")
	require.NoError(t, s.Close())
	require.Equal(t, 1, bpfcore.FreeRings(size))
}

// Start refuses a nil emit, a bad pid and a cancelled context, and leaves
// nothing attached when it does.
func TestIntegrationStartRefuses(t *testing.T) {
	forEach(t, func(t *testing.T, tr tracer) {
		bpfcore.DetachIdle()
		require.Empty(t, bpfcore.LinkIDs(), "a session of another test is still open")
		discard := func(tracep.Event) {}
		_, err := tr.start(t.Context(), tracep.Scope{}, nil)
		require.ErrorIs(t, err, tracep.ErrInvalid)
		_, err = tr.start(t.Context(), tracep.Scope{PIDs: []int{-1}}, discard)
		require.ErrorIs(t, err, tracep.ErrInvalid)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err = tr.start(ctx, tracep.Scope{}, discard)
		require.ErrorIs(t, err, context.Canceled)
		require.Empty(t, bpfcore.LinkIDs())
	})
}

// A pid scope covers the processes already running below the pid when the
// session opens, not only what the pid forks later: a grandchild started
// before the session, which acts once released after it opened, is
// traced by every tracer.
func TestIntegrationPIDScopeRunningDescendants(t *testing.T) {
	forEach(t, func(t *testing.T, tr tracer) {
		argv, seen := tr.workload(t)
		tree := tracetest.StartTree(t, tr.starter(t), argv...)
		var c tracetest.Collector
		s := tracetest.Start(t, tr.start, tracep.Scope{PIDs: []int{tree.Root.Process.Pid}}, c.Emit)
		require.NoError(t, tree.Release())
		require.NoError(t, tree.Wait(tracetest.Context(t)), "%s", tree.Output.String())
		c.CloseSession(t, s)
		require.NotEmpty(t, c.Select(func(ev tracep.Event) bool { return seen(ev, tree.Grandchild) }),
			"nothing of the grandchild %d:\n%s", tree.Grandchild, &c)
	})
}

// A listed pid that has exited is no error: it has nothing left to trace.
func TestIntegrationPIDScopeExited(t *testing.T) {
	forEach(t, func(t *testing.T, tr tracer) {
		tree := tracetest.StartTree(t, nil, "/bin/true")
		require.NoError(t, tree.Release())
		require.NoError(t, tree.Wait(tracetest.Context(t)))
		var c tracetest.Collector
		s := tracetest.Start(t, tr.start, tracep.Scope{PIDs: []int{tree.Root.Process.Pid, tree.Grandchild}}, c.Emit)
		c.CloseSession(t, s)
	})
}
