package exectrace_test

import (
	"slices"
	"testing"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// ops returns the events of c with operation op.
func ops(c *tracetest.Collector, op string) []tracep.Event {
	return c.Select(func(ev tracep.Event) bool { return ev.Exec.Op == op })
}

// argvWith returns the exec events of c whose argv contains arg.
func argvWith(c *tracetest.Collector, arg string) []tracep.Event {
	return c.Select(func(ev tracep.Event) bool {
		return ev.Exec.Op == tracep.ExecOpExec && slices.Contains(ev.Exec.Argv, arg)
	})
}

// exitOf returns the exit event of pid.
func exitOf(t testing.TB, c *tracetest.Collector, pid int) tracep.Event {
	t.Helper()
	evs := c.Select(func(ev tracep.Event) bool { return ev.Exec.Op == tracep.ExecOpExit && int(ev.Proc.PID) == pid })
	if len(evs) == 0 {
		t.Fatalf("no exit event for pid %d; events:\n%s", pid, c)
	}
	return evs[0]
}
