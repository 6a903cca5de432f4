package bpfcore

import (
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cilium/ebpf's Cache still has the field cacheWithKernel sets, and then
// serves the spec given (a tp_btf load finds its attach target there).
func TestCacheWithKernel(t *testing.T) {
	b, err := btf.NewBuilder([]btf.Type{&btf.Typedef{Name: "btf_trace_x", Type: &btf.Int{Name: "int", Size: 4}}}, nil)
	require.NoError(t, err)
	spec, err := b.Spec()
	require.NoError(t, err)
	cache, err := cacheWithKernel(spec)
	require.NoError(t, err)
	got, err := cache.Kernel()
	require.NoError(t, err)
	assert.Same(t, spec, got)
}

// UnlistedKernelTypes reads the relocations' types out of cilium/ebpf's
// String for them: the fork follower's are CoreKernelTypes.
func TestUnlistedKernelTypes(t *testing.T) {
	spec, err := loadCore()
	require.NoError(t, err)
	assert.Empty(t, UnlistedKernelTypes(spec, CoreKernelTypes))
	assert.Equal(t, []string{"task_struct"}, UnlistedKernelTypes(spec, nil))
}
