package integration_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

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
