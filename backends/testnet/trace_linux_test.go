package testnet_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// A command made by Net.Command, started by the tracer as any other
// command, runs inside and is traced as its own process tree, while
// another process makes lookups in the same network.
func TestIntegrationTraceCommand(t *testing.T) {
	n := testnet.NewT(t, nil)
	curl := tracetest.RequireTool(t, "curl")
	sh := tracetest.RequireTool(t, "sh")
	kinds := harness.Kinds(tracep.KindExec, tracep.KindDNS, tracep.KindNet)

	// The other process looks pki.test up when the traced command tells
	// it to (fd 3), and the traced command goes on once it has (fd 4).
	goR, goW, err := os.Pipe()
	require.NoError(t, err)
	doneR, doneW, err := os.Pipe()
	require.NoError(t, err)
	other := n.Command("sh", "-c", "read _; getent hosts pki.test")
	other.Stdin, other.Stdout = goR, doneW
	require.NoError(t, other.Start())
	goR.Close()
	doneW.Close()
	t.Cleanup(func() {
		goW.Close()
		doneR.Close()
		other.Wait()
	})

	cmd := n.Command("sh", "-c", `echo go >&3; read _ <&4; exec `+curl+` -sS -o /dev/null https://example.test/`)
	cmd.ExtraFiles = []*os.File{goW, doneR}
	c := harness.Trace(t, cmd, kinds)
	require.Zero(t, c.ExitCode)
	require.NoError(t, other.Wait())

	c.RequireExec(t, "curl", "https://example.test/")
	c.RequireResolved(t, "example.test")
	c.RequireConnect(t, "*:443", "proto=tcp")
	c.RequireNoLookup(t, "pki.test")
	roots := c.Processes()
	require.Len(t, roots, 1)
	require.Equal(t, int32(cmd.Process.Pid), roots[0].PID, "the command's process is the root of the trace")
	// The harness starts it from inside (NetOf), so the step that enters
	// the namespaces (nsenter) is not in the trace.
	require.Equal(t, []string{sh, curl}, c.Programs())

	// The same with InNet given.
	cmd = n.Command(curl, "-sS", "-o", "/dev/null", "https://example.test/")
	c = harness.Trace(t, cmd, kinds, harness.InNet(n))
	require.Zero(t, c.ExitCode)
	require.Equal(t, []string{curl}, c.Programs())
	c.RequireConnect(t, "*:443", "proto=tcp")
}

// The test of ExampleNewT's file runs, so that the example is known to work.
func TestExampleNewT(t *testing.T) {
	tracetest.RequireTool(t, "python3")
	testPythonFetches(t)
}
