package dnstrace_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep/tracetest"
)

// As raw tracepoints (on a kernel without tp_btf, forced here with
// TRACEP_DISABLE=tp_btf) the DNS programs see the same: lookups of every
// resolver, pid scopes followed at fork (the fork follower leaves each new
// task's mark for it to take), answers to closed sockets (kfree_skb). In
// a process of its own, since the choice is made when the programs load.
func TestIntegrationRawTracepoints(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	if bpfcore.Disabled("tp_btf") {
		require.True(t, bpfcore.RawTracepoints())
		return
	}
	self, err := os.Executable()
	require.NoError(t, err)
	tests := []string{"TestIntegrationRawTracepoints", "TestIntegrationPIDScope", "TestIntegrationResolvers", "TestIntegrationUnanswered"}
	cmd := exec.Command(self, "-test.run=^("+strings.Join(tests, "|")+")$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), bpfcore.DisableEnv+"=tp_btf", tracetest.RequirePrivilegedEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range tests {
		require.Contains(t, string(out), "--- PASS: "+name+" ")
	}
	require.NotContains(t, string(out), "--- SKIP")
}
