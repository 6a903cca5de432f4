package integration_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
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
