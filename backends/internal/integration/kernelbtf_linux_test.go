package integration_test

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/internal/kernelbtf"
	"github.com/tracep/tracep/tracep/tracetest"
)

// Every backend lists the kernel types its programs relocate against, so
// that none loads against the kernel's BTF whole.
func TestKernelTypesListed(t *testing.T) {
	backends := bpfcore.Registered()
	require.Len(t, backends, 4)
	for _, b := range backends {
		spec, err := b.Spec()
		require.NoError(t, err)
		assert.Empty(t, bpfcore.UnlistedKernelTypes(spec, slices.Concat(bpfcore.CoreKernelTypes, b.KernelTypes)), "%s: KernelTypes lacks", b.Kind)
	}
}

// Against this machine's kernel, every CO-RE relocation of every backend
// comes out the same against the reduced BTF as against the whole.
func TestReducedKernelBTFRelocatesAsWhole(t *testing.T) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Skip("no kernel BTF:", err)
	}
	whole, err := btf.LoadKernelSpec()
	require.NoError(t, err)
	names := slices.Clone(bpfcore.CoreKernelTypes)
	for _, b := range bpfcore.Registered() {
		names = append(names, b.KernelTypes...)
	}
	blob, err := kernelbtf.Reduce(raw, kernelbtf.Keep{Types: names})
	require.NoError(t, err)
	reduced, err := btf.LoadSpecFromReader(bytes.NewReader(blob))
	require.NoError(t, err)

	total := 0
	for _, b := range bpfcore.Registered() {
		spec, err := b.Spec()
		require.NoError(t, err)
		for name, prog := range spec.Programs {
			var relos []*btf.CORERelocation
			for i := range prog.Instructions {
				if r := btf.CORERelocationMetadata(&prog.Instructions[i]); r != nil {
					relos = append(relos, r)
				}
			}
			fixups := func(target *btf.Spec) []string {
				fs, err := btf.CORERelocate(relos, []*btf.Spec{target}, spec.ByteOrder, spec.Types.TypeID)
				require.NoError(t, err, "%s %s", b.Kind, name)
				var out []string
				for _, f := range fs {
					out = append(out, f.String())
				}
				return out
			}
			require.Equal(t, fixups(whole), fixups(reduced), "%s program %s", b.Kind, name)
			total += len(relos)
		}
	}
	t.Logf("%d relocations, kernel BTF %d bytes, reduced %d", total, len(raw), len(blob))
	require.Positive(t, total)
}

// With reduced_btf in TRACEP_DISABLE every load decodes the kernel's BTF
// whole, as it does when the reduced types fall short: every tracer still
// loads, and traces. In a process of its own: the choice is made once.
func TestIntegrationWholeKernelBTF(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	if bpfcore.Disabled("reduced_btf") {
		return
	}
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^(TestIntegrationVerifierBudget|TestIntegrationPIDScopeRunningDescendants)$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), bpfcore.DisableEnv+"=reduced_btf", tracetest.RequirePrivilegedEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestIntegrationVerifierBudget ")
	require.Contains(t, string(out), "--- PASS: TestIntegrationPIDScopeRunningDescendants ")
	require.NotContains(t, string(out), "--- SKIP")
}
