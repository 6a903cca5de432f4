package bpfcore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/kernelbtf"
)

// CoreKernelTypes are the kernel types the fork follower and tp_core.h's
// helpers (task ids, pid namespaces), which every backend includes,
// relocate against, and the typedef of the tracepoint the fork follower
// and the tp_btf probe attach to.
var CoreKernelTypes = []string{
	"task_struct", "pid", "upid", "pid_namespace", "btf_trace_sched_process_fork",
}

// reducedBTF is the name, in DisableEnv, that makes loads decode the
// kernel's BTF whole instead of reduced (kernelbtf.Reduce).
const reducedBTF = "reduced_btf"

// kernelBTF is the kernel BTF the loads of the process share, until
// ReleaseCache.
type kernelBTF struct {
	// cache is the loads' and feature probes' btf.Cache. Its kernel spec
	// is reduced unless reduced is nil.
	cache *btf.Cache
	// reduced holds the types names lists, typedefs under their kernel
	// IDs (kernelbtf.Reduce, setKernelIDs).
	reduced *btf.Spec
	names   []string
}

var sharedBTF struct {
	sync.Mutex
	// wanted lists, sorted, every kernel type the process's loads and
	// probes asked for so far (CoreKernelTypes among them).
	wanted []string
	kernel *kernelBTF
	whole  *btf.Cache // for a spec reduced does not cover
}

// wantKernelTypes adds names to the types the next reduction keeps. Loads
// about to start together say what they need first, so that the
// kernel's BTF is reduced once for all of them.
func wantKernelTypes(names []string) {
	sharedBTF.Lock()
	defer sharedBTF.Unlock()
	wantLocked(names)
}

// wantLocked adds names to sharedBTF.wanted, which it holds locked.
func wantLocked(names []string) {
	sharedBTF.wanted = unionSorted(sharedBTF.wanted, CoreKernelTypes, names)
}

// backendKernelTypes lists the kernel types of backends.
func backendKernelTypes(backends []*Backend) []string {
	var names []string
	for _, b := range backends {
		names = append(names, b.KernelTypes...)
	}
	return names
}

// unionSorted returns the sorted union of lists.
func unionSorted(lists ...[]string) []string {
	all := slices.Concat(lists...)
	slices.Sort(all)
	return slices.Compact(all)
}

// kernelTypes returns the process's kernel BTF holding names: the kernel's
// BTF reduced to the types wanted (wantKernelTypes) and names, a fraction
// of the CPU and memory of decoding it whole (a tracer of execs alone
// reads 26 KB, every tracer 76 KB). It is reduced again, for all
// of them, when a later caller asks for a type it lacks. If reducing
// fails or DisableEnv names reduced_btf, it is a cache that decodes the
// kernel's BTF whole.
func kernelTypes(names ...string) *kernelBTF {
	sharedBTF.Lock()
	defer sharedBTF.Unlock()
	if k := sharedBTF.kernel; k != nil && (k.reduced == nil || subset(names, k.names)) {
		return k
	}
	wantLocked(names)
	k := &kernelBTF{names: sharedBTF.wanted}
	if !Disabled(reducedBTF) {
		t0 := time.Now()
		var err error
		k.cache, k.reduced, err = reduceKernelBTF(k.names)
		if err != nil {
			// Loads still work, decoding it whole: say why, for
			// TRACEP_STARTUP.
			Phase("kernel btf not reduced: "+err.Error(), t0)
		} else {
			Phase("kernel btf (reduced)", t0)
		}
	}
	if k.reduced == nil {
		k.cache = btf.NewCache()
	}
	sharedBTF.kernel = k
	return k
}

// subset reports whether sorted holds every name of names.
func subset(names, sorted []string) bool {
	for _, n := range names {
		if _, ok := slices.BinarySearch(sorted, n); !ok {
			return false
		}
	}
	return true
}

// wholeKernelCache returns a cache that decodes kernel BTF whole: k's, if
// it is not reduced.
func wholeKernelCache(k *kernelBTF) *btf.Cache {
	if k.reduced == nil {
		return k.cache
	}
	sharedBTF.Lock()
	defer sharedBTF.Unlock()
	if sharedBTF.whole == nil {
		sharedBTF.whole = btf.NewCache()
	}
	return sharedBTF.whole
}

// ReleaseCache drops the kernel BTF kept for loading programs and returns
// the memory to the system: call it once tracing is armed. A later load
// reads it again (~5 ms reduced, ~30 ms whole).
func ReleaseCache() {
	sharedBTF.Lock()
	had := sharedBTF.kernel != nil
	sharedBTF.kernel, sharedBTF.whole = nil, nil
	sharedBTF.Unlock()
	if had {
		debug.FreeOSMemory()
	}
}

// reduceKernelBTF reduces the kernel's BTF to the types names (the
// tracepoints' typedefs among them), or reads it so reduced earlier in the
// boot, and returns a cache holding it as its kernel spec.
func reduceKernelBTF(names []string) (*btf.Cache, *btf.Spec, error) {
	key, path := reducedCacheKey(names)
	spec := readReducedCache(path, key)
	if spec == nil {
		raw, release, err := readVmlinux()
		if err != nil {
			return nil, nil, err
		}
		blob, err := kernelbtf.Reduce(raw, kernelbtf.Keep{Types: names})
		release()
		if err != nil {
			return nil, nil, err
		}
		obj := btfObject(blob)
		if spec, err = btf.LoadSpecFromReader(bytes.NewReader(obj)); err != nil {
			return nil, nil, fmt.Errorf("reduced kernel btf: %w", err)
		}
		// Only saves time. Those of other boots are stale, left where
		// /run outlives a boot (a container's): removed once the
		// directory proved private.
		if path != "" && writeCacheFile(path, ".btf-", []byte(key+"\n"), obj) == nil {
			removeOtherBoots(filepath.Dir(path), "btf.", featureCache.boot)
			keepNewest(filepath.Dir(path), "btf."+featureCache.boot+".", maxReducedFiles)
		}
	}
	if err := setKernelIDs(spec, names); err != nil {
		return nil, nil, err
	}
	cache, err := cacheWithKernel(spec)
	if err != nil {
		return nil, nil, err
	}
	return cache, spec, nil
}

// The reduced BTF is remembered for the boot beside the features
// (featureCacheDir, root's only), keyed by what made it: the kernel
// release, the size of its BTF, the types kept and the reduction's
// version. Reading it back instead of reducing saves ~10 ms of a start.
// Each set of tracers has its own, up to 76 KB, and /run is memory: at
// most maxReducedFiles are kept, the least recently used going first (a
// file read back is touched).

// maxReducedFiles bounds the reduced BTF files of a boot: the four
// tracers alone, all of them, and a few other sets (a test binary's).
const maxReducedFiles = 8

// reducedCacheKey returns the key of the BTF reduced for names and its
// file, "" when there is no cache.
func reducedCacheKey(names []string) (key, path string) {
	loadFeatureCache()
	if featureCache.path == "" {
		return "", ""
	}
	fi, err := os.Stat(vmlinuxBTF)
	if err != nil {
		return "", ""
	}
	key = fmt.Sprintf("reduced btf object %d release %s size %d types %s", kernelbtf.Version, featureCache.release, fi.Size(), strings.Join(names, ","))
	// A file per key: processes that keep other types (a test binary
	// with one backend, another build) do not take turns rewriting one.
	sum := sha256.Sum256([]byte(key))
	return key, filepath.Join(featureCacheDir, fmt.Sprintf("btf.%s.%x", featureCache.boot, sum[:8]))
}

// readReducedCache returns the spec in the cache file at path, or nil when
// there is none, for another key, or one not root's own.
func readReducedCache(path, key string) *btf.Spec {
	if path == "" {
		return nil
	}
	f := openCacheFile(path)
	if f == nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, len(key)+1)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != key+"\n" {
		return nil
	}
	// An object (btfObject): read into one buffer of its size.
	spec, err := btf.LoadSpecFromReader(io.NewSectionReader(f, int64(len(head)), math.MaxInt64))
	if err != nil {
		return nil
	}
	now := time.Now() // used: kept by keepNewest
	_ = os.Chtimes(path, now, now)
	return spec
}

// readVmlinux maps the kernel's BTF, or reads it if it cannot be mapped.
func readVmlinux() (raw []byte, release func(), err error) {
	f, err := os.Open(vmlinuxBTF)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if raw, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE); err == nil {
		return raw, func() { _ = unix.Munmap(raw) }, nil
	}
	raw, err = os.ReadFile(vmlinuxBTF)
	return raw, func() {}, err
}

// cacheWithKernel returns a btf.Cache whose kernel spec is spec.
// cilium/ebpf resolves a tp_btf program's attach target through its Cache,
// which it fills only by decoding the kernel's BTF whole, and exports no
// way to give it another spec: this sets the field itself, and fails if
// the field is not there as expected (TestCacheWithKernel checks it).
func cacheWithKernel(spec *btf.Spec) (*btf.Cache, error) {
	c := btf.NewCache()
	f := reflect.ValueOf(c).Elem().FieldByName("kernelTypes")
	if !f.IsValid() || f.Type() != reflect.TypeOf(spec) {
		return nil, errors.New("btf.Cache has no kernelTypes field of type *btf.Spec")
	}
	*(**btf.Spec)(unsafe.Pointer(f.UnsafeAddr())) = spec
	return c, nil
}

// setKernelIDs gives the typedefs of spec that names lists the type IDs
// they have in the kernel, which kernelbtf.Reduce wrote in a tag on each.
// cilium/ebpf takes a tp_btf program's attach_btf_id from the ID its
// kernel spec gives the tracepoint's typedef, and exports no way to set
// one. Its decoder gives a type the ID it was last looked up by, so this
// files each typedef under its kernel ID, in the decoder's types and in
// its index of names, and fails if those are not as expected
// (TestSetKernelIDs checks it) or the spec then gives another ID. Call it
// before the spec is shared.
func setKernelIDs(spec *btf.Spec, names []string) error {
	types, index, err := decoderTables(spec)
	if err != nil {
		return err
	}
	for _, name := range names {
		var td *btf.Typedef
		if spec.TypeByName(name, &td) != nil {
			continue // not a typedef, or not this kernel's
		}
		kernelID, ok := kernelbtf.KernelID(td.Tags)
		if !ok {
			return fmt.Errorf("typedef %s: no kernel type id", name)
		}
		id, err := spec.TypeID(td)
		if err != nil {
			return err
		}
		if id == btf.TypeID(kernelID) {
			continue
		}
		if _, err := spec.TypeByID(btf.TypeID(kernelID)); err == nil {
			// Only on a kernel whose typedef comes before the
			// reduction's last type: loads then decode the whole.
			return fmt.Errorf("typedef %s: its kernel id %d is a reduced type's", name, kernelID)
		}
		types[btf.TypeID(kernelID)] = td
		delete(types, id) // looked up by id again, it is another copy
		for i, e := range index {
			if uint32(e) == uint32(id) {
				index[i] = e&^math.MaxUint32 | uint64(kernelID)
			}
		}
		slices.Sort(index)
		var again *btf.Typedef
		if err := spec.TypeByName(name, &again); err != nil {
			return fmt.Errorf("typedef %s: %w", name, err)
		}
		if got, err := spec.TypeID(again); err != nil || again != td || got != btf.TypeID(kernelID) {
			return fmt.Errorf("typedef %s: kernel id %d set, %d read back", name, kernelID, got)
		}
	}
	return nil
}

// decoderTables returns the maps of spec's decoder setKernelIDs edits: the
// types decoded by ID, and the index of names, each entry a name's hash
// in the high 32 bits and a type ID in the low.
func decoderTables(spec *btf.Spec) (map[btf.TypeID]btf.Type, []uint64, error) {
	errLayout := errors.New("btf.Spec's decoder is not as expected")
	d := reflect.ValueOf(spec).Elem().FieldByName("decoder")
	if !d.IsValid() || d.Kind() != reflect.Pointer || d.IsNil() || d.Elem().Kind() != reflect.Struct {
		return nil, nil, errLayout
	}
	t := d.Elem().FieldByName("types")
	if !t.IsValid() || t.Type() != reflect.TypeFor[map[btf.TypeID]btf.Type]() {
		return nil, nil, errLayout
	}
	n := d.Elem().FieldByName("namedTypes")
	if !n.IsValid() || n.Kind() != reflect.Pointer || n.IsNil() || n.Elem().Kind() != reflect.Struct {
		return nil, nil, errLayout
	}
	e := n.Elem().FieldByName("entries")
	if !e.IsValid() || e.Kind() != reflect.Slice || e.Type().Elem().Kind() != reflect.Uint64 {
		return nil, nil, errLayout
	}
	types := *(*map[btf.TypeID]btf.Type)(unsafe.Pointer(t.UnsafeAddr()))
	index := *(*[]uint64)(unsafe.Pointer(e.UnsafeAddr()))
	return types, index, nil
}

// types returns the kernel's types for a backend's Prepare: the reduced
// ones, which answer its questions (tracepoints' typedefs, kept whole) as
// the whole would, or the whole.
func (k *kernelBTF) types() (*btf.Spec, error) {
	if k.reduced != nil {
		return k.reduced, nil
	}
	kernel, err := k.cache.Kernel()
	if err != nil {
		return nil, wrapErr("kernel btf", err)
	}
	return kernel, nil
}

// loadOptions returns the options that load spec against the kernel's
// types: k's reduced ones if they cover spec, else the whole.
func loadOptions(k *kernelBTF, spec *ebpf.CollectionSpec) (ebpf.CollectionOptions, error) {
	if k.reduced != nil && k.covers(spec) {
		// KernelTypes keeps cilium/ebpf from reading kernel modules' BTF
		// for CO-RE, which would need the whole kernel's as their base.
		return ebpf.CollectionOptions{Cache: k.cache, Programs: ebpf.ProgramOptions{KernelTypes: k.reduced}}, nil
	}
	t0 := time.Now()
	cache := wholeKernelCache(k)
	if _, err := cache.Kernel(); err != nil {
		return ebpf.CollectionOptions{}, wrapErr("kernel btf", err)
	}
	Phase("kernel btf (whole)", t0)
	return ebpf.CollectionOptions{Cache: cache}, nil
}

// covers reports whether the reduced types serve spec as the whole would:
// its CO-RE relocations are of kinds that need no kernel type ID and name
// only structs, unions and enums kept (and found: one only a module
// defines is found through the whole), its tp_btf programs attach to
// tracepoints whose typedefs are kept (a module's is found only through
// the whole), and nothing else resolves against kernel BTF
// (other attach targets, kfuncs).
func (k *kernelBTF) covers(spec *ebpf.CollectionSpec) bool {
	found := make(map[string]bool) // by name: held by the reduced types
	for _, p := range spec.Programs {
		switch {
		case p.Type == ebpf.Tracing && p.AttachType == ebpf.AttachTraceRawTp:
			var td *btf.Typedef
			if k.reduced.TypeByName("btf_trace_"+p.AttachTo, &td) != nil {
				return false
			}
		case p.Type == ebpf.Tracing, p.Type == ebpf.LSM, p.Type == ebpf.StructOps, p.Type == ebpf.Extension:
			return false
		}
		for i := range p.Instructions {
			if p.Instructions[i].IsKfuncCall() {
				return false
			}
			relo := btf.CORERelocationMetadata(&p.Instructions[i])
			if relo == nil {
				continue
			}
			_, name, ok := relocationTarget(relo)
			if !ok || !slices.Contains(k.names, name) {
				return false
			}
			held, seen := found[name]
			if !seen {
				held = k.holds(name)
				found[name] = held
			}
			if !held {
				return false
			}
		}
	}
	return true
}

// holds reports whether the reduced types hold a struct, union or enum
// named name (one only a module defines is found through the whole).
func (k *kernelBTF) holds(name string) bool {
	types, _ := k.reduced.AnyTypesByName(name)
	return len(types) > 0
}

// coreRelocation matches a CO-RE relocation's String, for its kind, its
// local type's kind and name: cilium/ebpf exports no accessor for them.
var coreRelocation = regexp.MustCompile(`^CORERelocation\(([a-z0-9_]+), ([A-Za-z0-9]+):"([^"]*)"`)

// relocationTarget returns the kernel type relocation relo resolves
// against, flavour stripped, and whether the reduced BTF can serve it: a
// struct, union or enum, by a relocation that needs no kernel type ID. A
// String it no longer parses is not served: the load then uses the whole.
func relocationTarget(relo *btf.CORERelocation) (kind, name string, ok bool) {
	m := coreRelocation.FindStringSubmatch(relo.String())
	if m == nil {
		return "", relo.String(), false
	}
	kind, name = m[2], kernelbtf.Essential(m[3])
	switch kind {
	case "Struct", "Union", "Enum":
		return kind, name, m[1] != "target_type_id"
	}
	return kind, name, false
}

// UnlistedKernelTypes returns the kernel types spec's programs relocate
// against (CO-RE), flavours ignored, and the typedefs of the tracepoints
// its tp_btf programs attach to, that names does not list. A backend lists
// them in KernelTypes; its tests check that this returns none.
func UnlistedKernelTypes(spec *ebpf.CollectionSpec, names []string) []string {
	var unlisted []string
	for _, p := range spec.Programs {
		if td := "btf_trace_" + p.AttachTo; p.Type == ebpf.Tracing && p.AttachType == ebpf.AttachTraceRawTp &&
			!slices.Contains(names, td) && !slices.Contains(unlisted, td) {
			unlisted = append(unlisted, td)
		}
		for i := range p.Instructions {
			relo := btf.CORERelocationMetadata(&p.Instructions[i])
			if relo == nil {
				continue
			}
			_, name, _ := relocationTarget(relo)
			if !slices.Contains(names, name) && !slices.Contains(unlisted, name) {
				unlisted = append(unlisted, name)
			}
		}
	}
	slices.Sort(unlisted)
	return unlisted
}
