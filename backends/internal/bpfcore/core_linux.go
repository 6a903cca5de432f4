package bpfcore

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/handoff"
	"github.com/tracep/tracep/tracep"
)

// Backend describes one tracer's BPF objects. A backend package declares a
// single Backend as a package-level variable; its programs are loaded and
// attached by the first session of the process, detached when the last
// one closes, and kept loaded for the next.
//
// The backend's C code includes bpf/tp_core.h and must not define other
// maps whose names start with "tp_".
type Backend struct {
	// Kind is the kind of events the backend reports; it selects the
	// backend's TP_KIND_* index.
	Kind tracep.Kind
	// Caps are the capabilities loading and attaching the backend's
	// programs needs: TracingCaps at least. Open and Supported check them
	// first, so a process without them is told which are missing.
	Caps Caps
	// Spec returns a fresh copy of the backend's collection spec, usually
	// the load function bpf2go generated.
	Spec func() (*ebpf.CollectionSpec, error)
	// Prepare, when set, adjusts the spec before it is loaded (for example
	// sizing per-CPU maps, or choosing programs by the kernel's types).
	Prepare func(spec *ebpf.CollectionSpec, kernel *btf.Spec) error
	// KernelTypes names the kernel types the programs relocate against
	// (CO-RE), and the typedefs (btf_trace_NAME) of the tracepoints their
	// tp_btf programs attach to or Prepare looks up, beyond
	// CoreKernelTypes: loads keep these of the kernel's BTF and drop the
	// rest (see package kernelbtf). A spec needing a type no backend lists
	// loads against the kernel's BTF whole, slower; UnlistedKernelTypes
	// finds such types.
	KernelTypes []string
	// Attach, when set, attaches the loaded programs instead of the
	// default, which attaches every tp_btf and raw_tp program to its
	// tracepoint. Backends with other hooks (cgroup sock_addr programs on
	// the root cgroup, uprobes) use it. It is called with the core locked,
	// when the first session opens and again after an idle detach; the
	// links it returns are closed on detach. On error it must close what
	// it attached.
	Attach func(coll *ebpf.Collection) ([]link.Link, error)
	// RingBytes is the ring buffer of a session configured by default:
	// Preload installs one for each backend while the programs load.
	RingBytes int

	// Guarded by theCore.mu.
	coll  *ebpf.Collection
	specs map[string]attachSpec // of coll's programs, to attach them again
	links []link.Link
	users int
}

// core is the process-wide state: the shared maps, the fork follower, the
// slot table and the rings installed at each slot.
type core struct {
	mu    sync.Mutex
	spec  *ebpf.CollectionSpec
	maps  *ebpf.Collection // the tp_* maps
	fork  *ebpf.Collection // the fork follower, once loaded
	links []link.Link
	cfg   coreTpScopeCfg // mirror of tp_cfg[0]
	// mapped is the section of tp_wake and tp_lost (bpf/tp_core.h), mapped:
	// per slot, a word set while its reader sleeps and a count of records
	// lost.
	mapped []byte
	slots  [MaxSessions]*Session
	// rings[i] is the ring installed at slot i in tp_rings. It stays there
	// after its session closes, for the next session of the same size:
	// every update of an array-of-maps from user space waits for an RCU
	// grace period (5-20 ms here), creating the ring takes ~1 ms.
	rings [MaxSessions]*ebpf.Map
	// spares are rings being installed in the background, so that the
	// next sessions find them ready.
	spares []*spareRing
	users  int
	// loaded lists the backends whose programs are loaded, attached or not.
	loaded []*Backend
	// idle detaches what no session uses, Linger after the last use.
	idle *time.Timer
}

// spareRing is a ring being installed at slot.
type spareRing struct {
	slot int
	size int
	done chan spareResult
}

type spareResult struct {
	ring *ebpf.Map
	err  error
}

var theCore core

// loadMaps creates the shared maps. It needs no kernel BTF, so a ring can
// be installed while the programs load.
//
// RLIMIT_MEMLOCK is left alone: every kernel with the features used here
// (bpf_loop, task storage in tracing programs: 5.17+) charges BPF memory to
// the memory cgroup instead (5.11+).
func (c *core) loadMaps() error {
	spec, err := loadCore()
	if err != nil {
		return err
	}
	if err := setPidNamespace("core", spec); err != nil {
		return err
	}
	if err := useRawTracepoints("core", spec); err != nil {
		return err
	}
	if !RawTracepoints() {
		// Only raw_tp programs use tp_pending (the verifier drops their
		// branch otherwise), and an LRU hash is allocated whole: 16,384
		// entries took 6 ms of a 40 ms start.
		spec.Maps[coreMapTpPending].MaxEntries = 1
	}
	dropMapBTF(spec)
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollection(mapsOnly)
	if err != nil {
		return wrapErr("create bpf maps", err)
	}
	// A reader going to sleep sets its word of tp_wake with a store; the
	// loss counts are read with a load.
	mappedMap, ok := maps.Maps[mappedSection]
	if !ok {
		maps.Close()
		return fmt.Errorf("core bpf spec: no %s", mappedSection)
	}
	if wake, lost := spec.Variables[coreVarTpWake], spec.Variables[coreVarTpLost]; wake.Offset != wakeOffset || lost.Offset != lostOffset {
		maps.Close()
		return fmt.Errorf("%s: tp_wake at offset %d, tp_lost at %d", mappedSection, wake.Offset, lost.Offset)
	}
	mapped, err := unix.Mmap(mappedMap.FD(), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		maps.Close()
		return fmt.Errorf("map %s: %w", mappedSection, err)
	}
	c.spec, c.maps, c.mapped = spec, maps, mapped
	c.cfg = coreTpScopeCfg{}
	return nil
}

// loadFork loads and attaches the fork follower.
func (c *core) loadFork() error {
	t0 := time.Now()
	opts, err := loadOptions(kernelTypes(CoreKernelTypes...), c.spec)
	if err != nil {
		return err
	}
	opts.MapReplacements = c.replacements(c.spec)
	coll, err := ebpf.NewCollectionWithOptions(c.spec, opts)
	if err != nil {
		return wrapErr("load core bpf programs", err)
	}
	c.fork = coll
	c.spec = nil // loaded once per process: its instructions are not needed again
	Phase("core: load fork follower", t0)
	t0 = time.Now()
	if err := c.attachFork(); err != nil {
		coll.Close()
		c.fork = nil
		return err
	}
	Phase("core: attach fork follower", t0)
	return nil
}

// attachFork attaches the loaded fork follower.
func (c *core) attachFork() error {
	l, err := AttachTracepoint(c.fork, coreProgTpcFork)
	if err != nil {
		return err
	}
	c.links = []link.Link{l}
	return nil
}

// detach detaches the fork follower and keeps everything loaded.
func (c *core) detach() {
	CloseLinks(c.links)
	c.links = nil
}

// Linger is how long programs stay attached after their last session
// closes. Attaching a tracepoint program waits for RCU grace periods (6-15
// ms for the exec tracer here) and loading costs ~30 ms, so a test binary
// running trace after trace keeps them attached and loaded: an idle
// attached program costs each traced event (and, for the syscall exit
// hook, each system call) a few dozen nanoseconds for this long, and
// detached ones cost nothing. Their memory goes with the process.
const Linger = 2 * time.Second

// scheduleDetach arms the idle timer. Called with c.mu held.
func (c *core) scheduleDetach() {
	if c.idle == nil {
		c.idle = time.AfterFunc(Linger, func() { DetachIdle() })
		return
	}
	c.idle.Reset(Linger)
}

// detachIdle detaches every loaded backend no session uses, and the fork
// follower when no session is open. Called with c.mu held.
func (c *core) detachIdle() {
	var links []link.Link
	for _, b := range c.loaded {
		if b.users == 0 {
			links = append(links, b.links...)
			b.links = nil
		}
	}
	if c.users == 0 {
		links = append(links, c.links...)
		c.links = nil
	}
	CloseLinks(links) // all at once
}

// DetachIdle detaches now, rather than after Linger, the programs that no
// session uses; they stay loaded for the next session. Tests use it to
// check that nothing stays attached.
func DetachIdle() {
	c := &theCore
	c.mu.Lock()
	defer c.mu.Unlock()
	c.detachIdle()
}

// mappedSection is the data section, and map, of the globals user space
// maps (bpf/tp_core.h): tp_wake, then tp_lost.
const (
	mappedSection = ".data.tp_mapped"
	wakeOffset    = 0
	lostOffset    = 4 * MaxSessions
)

// shared reports whether map name of a spec is one of the core's, which
// every object shares: the tp_* maps and the mapped globals' section.
func shared(name string) bool { return strings.HasPrefix(name, "tp_") || name == mappedSection }

// replacements returns the core's maps for every tp_* map of spec, whose
// sizes it sets to theirs (the core sizes some by the kernel's features).
func (c *core) replacements(spec *ebpf.CollectionSpec) map[string]*ebpf.Map {
	repl := make(map[string]*ebpf.Map)
	for name, ms := range spec.Maps {
		if m, ok := c.maps.Maps[name]; ok && shared(name) {
			repl[name] = m
			ms.MaxEntries = m.MaxEntries()
		}
	}
	return repl
}

// writeCfg publishes c.cfg to the kernel.
func (c *core) writeCfg() error {
	if err := c.maps.Maps[coreMapTpCfg].Put(uint32(0), &c.cfg); err != nil {
		return fmt.Errorf("update scope config: %w", err)
	}
	return nil
}

// prefetchSpec parses b's spec on a goroutine of its own, while the caller
// does something else.
func prefetchSpec(b *Backend) <-chan specResult {
	ch := make(chan specResult, 1)
	go func() {
		spec, err := b.Spec()
		ch <- specResult{spec, err}
	}()
	return ch
}

// specResult is a backend's spec, parsed ahead.
type specResult struct {
	spec *ebpf.CollectionSpec
	err  error
}

// loadBackend loads b's programs against the core's maps and attaches them.
// prefetched, when not nil, delivers b's spec.
func (c *core) loadBackend(b *Backend, prefetched <-chan specResult) error {
	t0 := time.Now()
	var spec *ebpf.CollectionSpec
	var err error
	if prefetched != nil {
		r := <-prefetched
		spec, err = r.spec, r.err
	} else {
		spec, err = b.Spec()
	}
	if err != nil {
		return fmt.Errorf("%s bpf spec: %w", b.Kind, err)
	}
	Phase(string(b.Kind)+": read bpf spec", t0)
	t0 = time.Now()
	k := kernelTypes(b.KernelTypes...)
	Phase("kernel btf", t0)
	if b.Prepare != nil {
		kernel, err := k.types()
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := b.Prepare(spec, kernel); err != nil {
			return fmt.Errorf("prepare %s bpf spec: %w", b.Kind, err)
		}
		Phase(string(b.Kind)+": prepare spec", t0)
	}
	if err := setPidNamespace(string(b.Kind)+" bpf spec", spec); err != nil {
		return err
	}
	if err := useRawTracepoints(string(b.Kind)+" bpf spec", spec); err != nil {
		return err
	}
	for name := range spec.Maps {
		if _, ok := c.maps.Maps[name]; shared(name) && !ok {
			return fmt.Errorf("%s bpf spec: map %s unknown to the core (stale tp_core.h?)", b.Kind, name)
		}
	}
	dropMapBTF(spec)
	// Chosen once Prepare left out what the kernel lacks.
	opts, err := loadOptions(k, spec)
	if err != nil {
		return err
	}
	t0 = time.Now()
	opts.MapReplacements = c.replacements(spec)
	coll, err := loadCollection(spec, opts)
	if err != nil {
		return b.Caps.WrapErr(fmt.Sprintf("load %s bpf programs", b.Kind), err)
	}
	Phase(fmt.Sprintf("%s: load %d programs (%s)", b.Kind, len(coll.Programs), verifiedInsns(coll)), t0)
	t0 = time.Now()
	defer Phase(string(b.Kind)+": attach programs", t0)
	// Keep what attaching needs, not the instructions.
	b.coll, b.specs = coll, make(map[string]attachSpec, len(spec.Programs))
	for name, ps := range spec.Programs {
		b.specs[name] = attachSpec{Name: ps.Name, Type: ps.Type, AttachType: ps.AttachType, AttachTo: ps.AttachTo}
	}
	if err := b.attach(); err != nil {
		coll.Close()
		b.coll, b.specs = nil, nil
		return err
	}
	return nil
}

// registry lists the backends of the process (Register), for Preload.
var registry struct {
	sync.Mutex
	backends []*Backend
}

// registeredFor returns the registered backends of kinds.
func registeredFor(kinds []tracep.Kind) []*Backend {
	registry.Lock()
	defer registry.Unlock()
	var found []*Backend
	for _, b := range registry.backends {
		if slices.Contains(kinds, b.Kind) {
			found = append(found, b)
		}
	}
	return found
}

// loadCollection loads spec as ebpf.NewCollectionWithOptions does, but
// each program on a goroutine of its own: the verifier runs on the loading
// thread, and a collection loads its programs one after another (the tls
// tracer's six took 38 ms here). The maps are made first, and each
// program's load uses them as replacements.
func loadCollection(spec *ebpf.CollectionSpec, opts ebpf.CollectionOptions) (*ebpf.Collection, error) {
	if len(spec.Programs) < 2 {
		return ebpf.NewCollectionWithOptions(spec, opts)
	}
	mapsOnly := *spec
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollectionWithOptions(&mapsOnly, opts)
	if err != nil {
		return nil, err
	}
	progOpts := opts
	progOpts.MapReplacements = maps.Maps
	type loaded struct {
		name string
		prog *ebpf.Program
		err  error
	}
	results := make(chan loaded, len(spec.Programs))
	for name, ps := range spec.Programs {
		go func() {
			one := *spec
			one.Programs = map[string]*ebpf.ProgramSpec{name: ps}
			coll, err := ebpf.NewCollectionWithOptions(&one, progOpts)
			if err != nil {
				results <- loaded{name: name, err: err}
				return
			}
			prog := coll.DetachProgram(name)
			coll.Close() // the maps' clones
			results <- loaded{name: name, prog: prog}
		}()
	}
	coll := &ebpf.Collection{Programs: make(map[string]*ebpf.Program, len(spec.Programs)), Maps: maps.Maps, Variables: maps.Variables}
	var failed []loaded
	for range spec.Programs {
		r := <-results
		if r.err != nil {
			failed = append(failed, r)
			continue
		}
		coll.Programs[r.name] = r.prog
	}
	if len(failed) > 0 {
		coll.Close()
		// One error, the same whichever goroutine failed first.
		return nil, slices.MinFunc(failed, func(a, b loaded) int { return strings.Compare(a.name, b.name) }).err
	}
	return coll, nil
}

// Registered returns the registered backends.
func Registered() []*Backend {
	registry.Lock()
	defer registry.Unlock()
	return slices.Clone(registry.backends)
}

// Register makes b known to Preload. Backends register in their package's
// init.
func Register(b *Backend) {
	registry.Lock()
	defer registry.Unlock()
	registry.backends = append(registry.backends, b)
}

// Preload loads, all at once, the programs of the registered backends of
// kinds that are not loaded yet, so that sessions then opened find them
// ready: each load is mostly the kernel's verifier, which runs on the
// loading thread's CPU (tracep run's four tracers took 330 ms one after
// another), and waits for kernel BTF, read meanwhile on another CPU.
// Meanwhile it installs a ring of each backend's RingBytes (InstallRings),
// so that their grace periods pass during the loads, not one after
// another as each session opens. A caller with other work before its
// first session (making a cgroup, starting a watchdog) runs Preload beside
// it. A backend that cannot load is left for Open, which reports why.
func Preload(kinds ...tracep.Kind) {
	Prime(kinds...)
	usable := registeredFor(kinds)
	c := &theCore
	c.mu.Lock()
	defer c.mu.Unlock()
	usable = slices.DeleteFunc(usable, func(b *Backend) bool {
		return b.Caps.Check(b.op()) != nil || Need(b.Kind) != nil
	})
	if len(usable) == 0 {
		return
	}
	todo := slices.DeleteFunc(slices.Clone(usable), func(b *Backend) bool { return b.coll != nil })
	specs := make([]<-chan specResult, len(todo))
	if len(todo) > 0 {
		// Loads relocate against kernel BTF: read it, reduced for them
		// all, and parse the backends' specs on other CPUs while this one
		// makes the core's maps.
		go kernelTypes(backendKernelTypes(todo)...)
		for i, b := range todo {
			specs[i] = prefetchSpec(b)
		}
	}
	t0 := time.Now()
	if c.maps == nil {
		if err := c.loadMaps(); err != nil {
			return
		}
		Phase("core: create maps", t0)
	}
	var sizes []int
	for _, b := range usable {
		if b.RingBytes > 0 {
			sizes = append(sizes, b.RingBytes)
		}
	}
	c.installAhead(sizes, -1)
	if len(todo) == 0 {
		return
	}
	t0 = time.Now()
	_, _ = c.loadTogether(todo, specs) // Open reports what failed
	Phase(fmt.Sprintf("preload %d tracers", len(todo)), t0)
	// Detached after Linger if no session comes to use them.
	c.scheduleDetach()
}

// InstallRings installs, in the background, a ring buffer of each of
// sizes (bytes, a power of two each) for the sessions about to open,
// unless a slot no session uses has one of that size installed or being
// installed: every install waits for an RCU grace period, and installs
// begun together wait for about one. A session opened meanwhile with one
// of the sizes waits for its ring, not for another. The rings stay
// installed for later sessions, as every session's does.
func InstallRings(sizes ...int) error {
	for _, size := range sizes {
		if r, err := RingSize(size); err != nil || r != size {
			return fmt.Errorf("ring of %d bytes: %w", size, tracep.ErrInvalid)
		}
	}
	c := &theCore
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maps == nil {
		if err := c.loadMaps(); err != nil {
			return err
		}
	}
	c.installAhead(sizes, -1)
	return nil
}

// loadTogether loads the fork follower, unless it is loaded, and the
// backends todo, each on a goroutine: every load waits for kernel BTF,
// then for the verifier, which runs on the loading thread. prefetched[i],
// when not nil, delivers todo[i]'s spec (prefetchSpec). It adds what
// loaded to c.loaded and returns the fork follower's error and each
// backend's. Called with c.mu held.
func (c *core) loadTogether(todo []*Backend, prefetched []<-chan specResult) (forkErr error, errs []error) {
	wantKernelTypes(backendKernelTypes(todo))
	errs = make([]error, len(todo))
	var wg sync.WaitGroup
	if c.fork == nil {
		wg.Go(func() { forkErr = c.loadFork() })
	}
	for i, b := range todo {
		wg.Go(func() { errs[i] = c.loadBackend(b, prefetched[i]) })
	}
	wg.Wait()
	for i, b := range todo {
		if errs[i] == nil {
			c.loaded = append(c.loaded, b)
		}
	}
	return forkErr, errs
}

// attach attaches b's loaded programs.
func (b *Backend) attach() error {
	if b.Attach != nil {
		links, err := b.Attach(b.coll)
		if err != nil {
			return err
		}
		b.links = links
		return nil
	}
	names := make([]string, 0, len(b.coll.Programs))
	for name := range b.coll.Programs {
		names = append(names, name)
	}
	slices.Sort(names)
	var links []link.Link
	for _, name := range names {
		l, err := b.attachProgram(b.coll.Programs[name], b.specs[name])
		if err != nil {
			CloseLinks(links)
			return err
		}
		links = append(links, l)
	}
	b.links = links
	return nil
}

// detach detaches b's programs and keeps them loaded.
func (b *Backend) detach() {
	CloseLinks(b.links)
	b.links = nil
}

// attachSpec is what attaching a loaded program needs of its spec.
type attachSpec struct {
	Name       string
	Type       ebpf.ProgramType
	AttachType ebpf.AttachType
	AttachTo   string
}

// attachProgram attaches one program of b by its type: tp_btf programs
// to their tracepoint, raw_tp programs by name.
func (b *Backend) attachProgram(prog *ebpf.Program, spec attachSpec) (link.Link, error) {
	switch {
	case spec.Type == ebpf.Tracing && spec.AttachType == ebpf.AttachTraceRawTp:
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		return l, b.Caps.WrapErr("attach "+spec.AttachTo, err)
	case spec.Type == ebpf.RawTracepoint:
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: spec.AttachTo, Program: prog})
		return l, b.Caps.WrapErr("attach "+spec.AttachTo, err)
	}
	return nil, fmt.Errorf("attach %s: program type %s: %w", spec.Name, spec.Type, tracep.ErrNotSupported)
}

// SizeMap sets the entries of map name of spec to size(n), n being the
// number of possible CPUs, and returns them: for per-CPU scratch space too
// large for a per-CPU map type, indexed by the CPU or taken from a pool.
func SizeMap(spec *ebpf.CollectionSpec, name string, size func(ncpu int) int) (uint32, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return 0, fmt.Errorf("possible cpus: %w", err)
	}
	m, ok := spec.Maps[name]
	if !ok {
		return 0, fmt.Errorf("map %s missing", name)
	}
	m.MaxEntries = uint32(size(ncpu))
	return m.MaxEntries, nil
}

// OnePerCPU is a SizeMap size: an entry for each CPU.
func OnePerCPU(ncpu int) int { return ncpu }

// wrapErr is WrapErr for the core's own maps and programs.
var wrapErr = TracingCaps.WrapErr

// ClearMap deletes every entry of a hash map that nothing writes to
// meanwhile (whose programs are detached): what a backend's programs left
// from an earlier attachment.
func ClearMap(m *ebpf.Map) error {
	var keys [][]byte
	key, err := m.NextKeyBytes(nil)
	for err == nil && key != nil {
		keys = append(keys, key)
		key, err = m.NextKeyBytes(key)
	}
	if err != nil {
		return fmt.Errorf("read map %s: %w", m, err)
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clear map %s: %w", m, err)
		}
	}
	return nil
}

// CloseLinks closes links, all at once: detaching a program waits for a
// grace period of the kernel (3 ms for a tracepoint, 60-100 ms for uprobes
// here), and together they wait for about one. In a process about to exit
// (DetachBeforeExit) the uprobe_multi links are handed to a child process
// that releases them (package handoff): their wait is not the exit's. It
// returns what failed.
func CloseLinks(links []link.Link) error {
	if exiting.Load() {
		links = handOff(links)
	}
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Go(func() { errs[i] = l.Close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// exiting is set by DetachBeforeExit.
var exiting atomic.Bool

// Exiting reports whether the process called DetachBeforeExit: a backend
// closing then need not wait for what happens after the exit anyway.
func Exiting() bool { return exiting.Load() }

// DetachBeforeExit is DetachIdle for a process about to exit: uprobes are
// detached by a child after it (CloseLinks), the rest at once. A process
// that goes on should call DetachIdle.
func DetachBeforeExit() {
	exiting.Store(true)
	DetachIdle()
}

// handOff closes the uprobe_multi links of links through a child process
// (handoff.Close) and returns the others, or all of them if it could not.
// Such a link alone holds its uprobes; a perf event's uprobe is held by
// the event too, which the link does not give.
func handOff(links []link.Link) []link.Link {
	var fds []int
	var handed, rest []link.Link
	for _, l := range links {
		info, err := l.Info()
		raw, ok := l.(interface{ FD() int })
		if err != nil || !ok || info.Type != link.UprobeMultiType {
			rest = append(rest, l)
			continue
		}
		fds = append(fds, raw.FD())
		handed = append(handed, l)
	}
	t0 := time.Now()
	pid, err := handoff.Close(fds, func() {
		for _, l := range handed {
			_ = l.Close() // the child's copy is the last
		}
	})
	if err != nil {
		return links
	}
	if len(fds) > 0 {
		Phase(fmt.Sprintf("%d uprobe links handed to child %d to detach", len(fds), pid), t0)
	}
	return rest
}

// LinkIDs returns the ids of the BPF links this process holds for tracep,
// for tests and diagnostics: those of open sessions and those lingering
// after the last one (see Linger and DetachIdle).
func LinkIDs() []link.ID {
	c := &theCore
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []link.ID
	add := func(ls []link.Link) {
		for _, l := range ls {
			if info, err := l.Info(); err == nil {
				ids = append(ids, info.ID)
			}
		}
	}
	add(c.links)
	for _, b := range c.loaded {
		add(b.links)
	}
	return ids
}

// wakeFlag returns slot's word in tp_wake: set, the slot's reader sleeps
// until the next record.
func (c *core) wakeFlag(slot int) *uint32 {
	return (*uint32)(unsafe.Pointer(&c.mapped[wakeOffset+4*slot]))
}

// lostCount returns slot's word in tp_lost: the records the kernel could
// not hand over, added to atomically by the programs.
func (c *core) lostCount(slot int) *uint64 {
	return (*uint64)(unsafe.Pointer(&c.mapped[lostOffset+8*slot]))
}

// VerifiedInstructions returns, for every program loaded by this process
// (the fork follower's under "core"), how many instructions the kernel's
// verifier walked to accept it: what its load time goes with (~2 ms per
// 1,000 here). Kernels that do not say are left out.
func VerifiedInstructions() map[string]map[string]int {
	c := &theCore
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[string]int)
	if c.fork != nil {
		out["core"] = verified(c.fork)
	}
	for _, b := range c.loaded {
		out[string(b.Kind)] = verified(b.coll)
	}
	return out
}

// verified returns the instructions the verifier walked for each program
// of coll, where the kernel says.
func verified(coll *ebpf.Collection) map[string]int {
	out := make(map[string]int)
	for name, p := range coll.Programs {
		if info, err := p.Info(); err == nil {
			if n, ok := info.VerifiedInstructions(); ok {
				out[name] = int(n)
			}
		}
	}
	return out
}

// verifiedInsns says, for a start-up trace, how many instructions the
// verifier walked for each program of coll: what its load time goes with.
func verifiedInsns(coll *ebpf.Collection) string {
	if !Tracing() {
		return ""
	}
	var parts []string
	for name, n := range verified(coll) {
		parts = append(parts, fmt.Sprintf("%s %d", name, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ") + " instructions verified"
}
