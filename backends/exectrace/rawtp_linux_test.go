package exectrace_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep/tracetest"
)

// As raw tracepoints (on a kernel without tp_btf, forced here with
// TRACEP_DISABLE=tp_btf) the exec programs see the same: pid scopes
// followed at fork (the fork follower leaves each new task's mark for it
// to take), failed execs, exit statuses, whole argv. In a process of its
// own, since the choice is made when the programs load.
func TestIntegrationRawTracepoints(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	if bpfcore.Disabled("tp_btf") {
		require.True(t, bpfcore.RawTracepoints())
		return
	}
	self, err := os.Executable()
	require.NoError(t, err)
	tests := []string{"TestIntegrationRawTracepoints", "TestIntegrationPIDScopeFollowsForks", "TestIntegrationFailedExec",
		"TestIntegrationExitStatus", "TestIntegrationArgvWhole", "TestIntegrationConcurrentSessionsStayApart"}
	cmd := exec.Command(self, "-test.run=^("+strings.Join(tests, "|")+")$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), bpfcore.DisableEnv+"=tp_btf", tracetest.RequirePrivilegedEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range tests {
		require.Contains(t, string(out), "--- PASS: "+name+" ")
	}
	require.NotContains(t, string(out), "--- SKIP")
}
