package bpfcore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
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
	assert.Equal(t, []string{"btf_trace_sched_process_fork", "task_struct"}, UnlistedKernelTypes(spec, nil), "its CO-RE type and its tracepoint's typedef")
}

// The reduced BTF is read back from its cache file only for the same key,
// from a file of root's that only root may write, and whole.
func TestReducedCacheFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache is root's: a file of another owner is ignored")
	}
	b, err := btf.NewBuilder([]btf.Type{&btf.Typedef{Name: "btf_trace_x", Type: &btf.Int{Name: "int", Size: 4}}}, nil)
	require.NoError(t, err)
	raw, err := b.Marshal(nil, nil)
	require.NoError(t, err)
	blob := btfObject(raw)
	path := filepath.Join(t.TempDir(), "tracep", "btf.boot")
	require.NoError(t, writeCacheFile(path, ".btf-", []byte("key\n"), blob))
	// A temporary file a killed tracep left goes at the next write.
	stale := filepath.Join(filepath.Dir(path), ".btf-killed")
	require.NoError(t, os.WriteFile(stale, nil, 0o600))
	require.NoError(t, os.Chtimes(stale, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute)))
	require.NoError(t, writeCacheFile(path, ".btf-", []byte("key\n"), blob))
	require.NoFileExists(t, stale)

	spec := readReducedCache(path, "key")
	require.NotNil(t, spec)
	var td *btf.Typedef
	require.NoError(t, spec.TypeByName("btf_trace_x", &td))
	assert.Nil(t, readReducedCache(path, "another key"))
	assert.Nil(t, readReducedCache(path, "ke"))
	assert.Nil(t, readReducedCache("", "key"))

	require.NoError(t, os.Chmod(path, 0o666))
	assert.Nil(t, readReducedCache(path, "key"), "writable by others")
	require.NoError(t, os.Chmod(path, 0o600))

	require.NoError(t, writeCacheFile(path, ".btf-", []byte("key\n"), blob[:len(blob)-3]))
	assert.Nil(t, readReducedCache(path, "key"), "truncated")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary files left")
}

// A second reduction in the boot reads the first's from the cache: the
// same types, at the same IDs.
func TestReducedKernelBTFCached(t *testing.T) {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		t.Skip("no kernel BTF:", err)
	}
	loadFeatureCache()
	if featureCache.path == "" {
		t.Skip("no cache for this process (not root, or " + NoFeatureCacheEnv + ")")
	}
	dir := featureCacheDir
	featureCacheDir = filepath.Join(t.TempDir(), "tracep")
	t.Cleanup(func() { featureCacheDir = dir })

	_, first, err := reduceKernelBTF(CoreKernelTypes)
	require.NoError(t, err)
	_, path := reducedCacheKey(CoreKernelTypes)
	require.FileExists(t, path)
	_, second, err := reduceKernelBTF(CoreKernelTypes)
	require.NoError(t, err)
	require.NotSame(t, first, second)
	requireSameIDs(t, first, second, "btf_trace_sched_process_fork", "task_struct")
	key, _ := reducedCacheKey(CoreKernelTypes)
	assert.Nil(t, readReducedCache(path, key+",sock"), "another key")

	// Other types, another file; another boot's file goes at the next
	// write, this boot's stay.
	more := append(slices.Clone(CoreKernelTypes), "sock")
	_, other := reducedCacheKey(more)
	assert.NotEqual(t, path, other)
	oldBoot := filepath.Join(featureCacheDir, "btf.another-boot.0123")
	require.NoError(t, os.WriteFile(oldBoot, nil, 0o600))
	_, _, err = reduceKernelBTF(more)
	require.NoError(t, err)
	assert.FileExists(t, path)
	assert.FileExists(t, other)
	assert.NoFileExists(t, oldBoot)

	// At most maxReducedFiles stay: the least recently used goes, not the
	// one written first but just read back.
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(path, past, past))
	require.NoError(t, os.Chtimes(other, past.Add(time.Minute), past.Add(time.Minute)))
	_, _, err = reduceKernelBTF(CoreKernelTypes) // read back: touched
	require.NoError(t, err)
	for _, name := range []string{"file", "inode", "net", "socket", "pt_regs", "mm_struct", "linux_binprm"} {
		_, _, err = reduceKernelBTF(append(slices.Clone(CoreKernelTypes), name))
		require.NoError(t, err)
	}
	files, err := filepath.Glob(filepath.Join(featureCacheDir, "btf.*"))
	require.NoError(t, err)
	assert.Len(t, files, maxReducedFiles)
	assert.FileExists(t, path, "used lately")
	assert.NoFileExists(t, other, "least recently used")
}

// freshKernelTypes makes the process's kernel BTF as if nothing had been
// loaded: the next kernelTypes reduces it to the core's types.
func freshKernelTypes(t *testing.T) {
	t.Helper()
	ReleaseCache()
	sharedBTF.Lock()
	sharedBTF.wanted = nil
	sharedBTF.Unlock()
	t.Cleanup(ReleaseCache)
}

// The kernel's BTF is reduced to what the process asks for, and again,
// keeping what it held, when a load asks for more; types asked for before
// a reduction are in it.
func TestKernelTypesGrow(t *testing.T) {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		t.Skip("no kernel BTF:", err)
	}
	freshKernelTypes(t)
	core := kernelTypes()
	if core.reduced == nil {
		t.Skip("kernel BTF not reduced here")
	}
	assert.Equal(t, unionSorted(CoreKernelTypes), core.names)
	assert.Same(t, core, kernelTypes("task_struct"), "held: no new reduction")

	grown := kernelTypes("sock", "btf_trace_sys_exit")
	require.NotSame(t, core, grown)
	assert.Equal(t, unionSorted(CoreKernelTypes, []string{"sock", "btf_trace_sys_exit"}), grown.names)
	for _, name := range []string{"sock", "task_struct"} {
		assert.True(t, grown.holds(name), name)
	}
	var td *btf.Typedef
	require.NoError(t, grown.reduced.TypeByName("btf_trace_sys_exit", &td))

	wantKernelTypes([]string{"file"})
	assert.Same(t, grown, kernelTypes(), "wanted, not asked for: no new reduction")
	ReleaseCache()
	assert.True(t, kernelTypes().holds("file"), "wanted before the next reduction")
}

// The reduced types serve the fork follower; not a program attaching
// anywhere else through kernel BTF, nor a relocation against a type they
// do not hold.
func TestReducedCovers(t *testing.T) {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		t.Skip("no kernel BTF:", err)
	}
	k := kernelTypes()
	if k.reduced == nil {
		t.Skip("kernel BTF not reduced here")
	}
	spec, err := loadCore()
	require.NoError(t, err)
	require.True(t, k.covers(spec))

	fentry := spec.Copy()
	for _, p := range fentry.Programs {
		p.AttachType, p.AttachTo = ebpf.AttachTraceFEntry, "do_exit"
	}
	assert.False(t, k.covers(fentry), "fentry")

	assert.True(t, k.holds("task_struct"))
	assert.False(t, k.holds("no_such_struct"))
}
