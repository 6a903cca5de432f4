package bpfcore

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// On this kernel every feature is there; disabling one makes the tracers
// that need it fail with one line naming it, and a feature with a
// fallback fails none.
func TestIntegrationNeed(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "probing BPF features")
	for _, st := range Probe() {
		require.NoError(t, st.Err, st.Name)
	}
	for _, k := range []tracep.Kind{tracep.KindExec, tracep.KindNet, tracep.KindDNS, tracep.KindTLS} {
		require.NoError(t, Need(k), k)
	}
	t.Setenv(DisableEnv, "cgroup_skb")
	require.NoError(t, Need(tracep.KindExec))
	err := Need(tracep.KindDNS)
	require.ErrorIs(t, err, tracep.ErrNotSupported)
	require.EqualError(t, err, "trace dns: needs cgroup packet hooks (cgroup_skb) (Linux 4.10), disabled by TRACEP_DISABLE")

	t.Setenv(DisableEnv, "uprobe_multi")
	require.NoError(t, Need(tracep.KindTLS), "the fallback stands in")
	require.Error(t, Have("uprobe_multi"))
}

// cilium/ebpf's hint about RLIMIT_MEMLOCK, never the cause on the kernels
// tracep runs on, is left out of a permission error.
func TestNoMemlock(t *testing.T) {
	err := noMemlock{errors.New("map create: operation not permitted (MEMLOCK may be too low, consider rlimit.RemoveMemlock)")}
	require.Equal(t, "map create: operation not permitted", err.Error())
	require.Equal(t, "plain", noMemlock{errors.New("plain")}.Error())
}

// A tracepoint's probe finds its typedef whichever types the process's
// kernel BTF was reduced to: a process that loads only the exec tracer
// must not find the network tracepoints missing and remember that for the
// boot.
func TestFeatureTracepointsFound(t *testing.T) {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		t.Skip("no kernel BTF:", err)
	}
	for feature, tps := range featureTracepoints {
		for _, tp := range tps {
			freshKernelTypes(t)
			require.NotNil(t, kernelTypes().reduced, "reduced to the core's types")
			require.NotContains(t, kernelTypes().names, "btf_trace_"+tp)
			assert.NoError(t, haveTracepoint(tp), feature)
			assert.Contains(t, kernelTypes().names, "btf_trace_"+tp)
		}
	}
	freshKernelTypes(t)
	assert.Error(t, haveTracepoint("no_such_tracepoint"))
}
