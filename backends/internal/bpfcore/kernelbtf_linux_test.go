package bpfcore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/kernelbtf"
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

// setKernelIDs files each typedef under the ID its tag gives, which
// cilium/ebpf then reports (a tp_btf load's attach_btf_id, here found as a
// load finds it), however often and by whatever path it is looked up. It
// refuses a typedef without a tag, and an ID one of the reduced types has.
func TestSetKernelIDs(t *testing.T) {
	intT := &btf.Int{Name: "int", Size: 4}
	var kernel []btf.Type
	for i := range 20 {
		kernel = append(kernel, &btf.Struct{Name: fmt.Sprintf("s%d", i), Size: 4, Members: []btf.Member{{Name: "x", Type: intT}}})
	}
	kernel = append(kernel, &btf.Typedef{Name: "btf_trace_a", Type: intT}, &btf.Typedef{Name: "btf_trace_b", Type: intT})
	raw := marshalBTF(t, kernel)
	full, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	require.NoError(t, err)
	reduce := func(names ...string) *btf.Spec {
		blob, err := kernelbtf.Reduce(raw, kernelbtf.Keep{Types: names})
		require.NoError(t, err)
		spec, err := btf.LoadSpecFromReader(bytes.NewReader(btfObject(blob)))
		require.NoError(t, err)
		return spec
	}

	names := []string{"btf_trace_a", "btf_trace_b", "s3", "int", "missing"}
	spec := reduce(names...)
	require.NoError(t, setKernelIDs(spec, names))
	cache, err := cacheWithKernel(spec)
	require.NoError(t, err)
	kernelSpec, err := cache.Kernel()
	require.NoError(t, err)
	for _, name := range []string{"btf_trace_a", "btf_trace_b"} {
		var want *btf.Typedef
		require.NoError(t, full.TypeByName(name, &want))
		wantID, err := full.TypeID(want)
		require.NoError(t, err)
		var got *btf.Typedef
		require.NoError(t, kernelSpec.TypeByName(name, &got))
		id, err := kernelSpec.TypeID(got)
		require.NoError(t, err)
		assert.Equal(t, wantID, id, name)
		for _, err := range kernelSpec.All() { // every ID looked up, the typedef's in the reduction too
			require.NoError(t, err)
		}
		id, err = kernelSpec.TypeID(got)
		require.NoError(t, err)
		assert.Equal(t, wantID, id, "%s after every ID was looked up", name)
	}

	// Untagged: BTF not from kernelbtf.Reduce.
	untagged, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	require.NoError(t, err)
	assert.ErrorContains(t, setKernelIDs(untagged, names), "no kernel type id")

	// A typedef whose kernel ID a reduced type has: s0 (ID 1) dropped,
	// the typedef's ID is 21 in the reduction, and 22, its kernel ID, is
	// its tag's.
	all := []string{"btf_trace_a"}
	for i := 1; i < 20; i++ {
		all = append(all, fmt.Sprintf("s%d", i))
	}
	assert.ErrorContains(t, setKernelIDs(reduce(all...), all), "is a reduced type's")
}

func marshalBTF(t *testing.T, types []btf.Type) []byte {
	t.Helper()
	b, err := btf.NewBuilder(types, nil)
	require.NoError(t, err)
	raw, err := b.Marshal(nil, nil)
	require.NoError(t, err)
	return raw
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
