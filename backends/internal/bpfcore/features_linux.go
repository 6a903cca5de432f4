package bpfcore

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"

	"github.com/tracep/tracep/tracep"
)

// vmlinuxBTF is the kernel's BTF.
const vmlinuxBTF = "/sys/kernel/btf/vmlinux"

// UprobePMU is the perf event source of uprobes owned by file descriptors.
const UprobePMU = "/sys/bus/event_source/devices/uprobe/type"

// FeatureState is a feature and what probing it found.
type FeatureState struct {
	*Feature
	// Err is nil when the kernel has the feature; a *MissingFeatureError
	// (matching tracep.ErrNotSupported) when it lacks it or DisableEnv
	// disabled it; a *tracep.PermissionError when it could not be probed
	// for lack of privilege; or another error.
	Err error
}

// probed holds what probing each feature found, probed once per process.
var probed struct {
	sync.Mutex
	states map[string]*probeResult
}

type probeResult struct {
	once sync.Once
	err  error
}

// probedAlready reports whether f was probed in this process.
func probedAlready(f *Feature) bool {
	probed.Lock()
	defer probed.Unlock()
	_, ok := probed.states[f.Name]
	return ok
}

// state returns what probing f found, probing it the first time.
func state(f *Feature) error {
	probed.Lock()
	if probed.states == nil {
		probed.states = make(map[string]*probeResult, len(Features))
	}
	r, ok := probed.states[f.Name]
	if !ok {
		r = &probeResult{}
		probed.states[f.Name] = r
	}
	probed.Unlock()
	r.once.Do(func() {
		if cachedPresent(f.Name) {
			return // found by an earlier process of this boot
		}
		t0 := time.Now()
		r.err = probeOne(f)
		Phase("probe kernel feature "+f.Name, t0)
	})
	if Disabled(f.Name) {
		return &MissingFeatureError{Feature: f, Disabled: true}
	}
	return r.err
}

// Prime probes, all at once, the kernel features the tracers of kinds may
// need, and reads the kernel's BTF meanwhile (kernelTypes), so that the probes and
// loads that follow find them done: probes wait for the kernel (an RCU
// grace period to free a probe's map, a verifier run) more than they use
// the CPU.
//
// Once every feature of kinds was probed, it does nothing: a later trace
// of a process whose tracers are still loaded needs no BTF, and a tracer
// that must load again reads it then.
func Prime(kinds ...tracep.Kind) {
	var todo []*Feature
	for _, f := range Features {
		if slices.ContainsFunc(kinds, f.Needed) && !probedAlready(f) && !cachedPresent(f.Name) {
			todo = append(todo, f)
		}
	}
	if len(todo) == 0 {
		return
	}
	names := backendKernelTypes(registeredFor(kinds))
	for _, f := range todo {
		for _, tp := range featureTracepoints[f.Name] {
			names = append(names, "btf_trace_"+tp)
		}
	}
	wantKernelTypes(names)
	var wg sync.WaitGroup
	wg.Go(func() { kernelTypes() })
	for _, f := range todo {
		wg.Go(func() { _ = state(f) })
	}
	wg.Wait()
	var found []string
	for _, f := range todo {
		if state(f) == nil {
			found = append(found, f.Name)
		}
	}
	saveFeatureCache(found)
}

// Probe returns every feature of Features with what probing it found.
// Each feature is probed once per process.
func Probe() []FeatureState {
	out := make([]FeatureState, len(Features))
	for i, f := range Features {
		out[i] = FeatureState{f, state(f)}
	}
	return out
}

// Have returns nil when the kernel has feature name and it is not
// disabled, else why not (see FeatureState.Err).
func Have(name string) error {
	f := FeatureNamed(name)
	if f == nil {
		return fmt.Errorf("unknown kernel feature %q", name)
	}
	return state(f)
}

// Need returns nil when the kernel has every feature tracer k needs (or a
// fallback for it), else the first one missing: one line that names it
// and the Linux version that brought it ("trace exec: needs the bpf_loop
// helper (Linux 5.17), which this kernel lacks").
func Need(k tracep.Kind) error {
	for _, f := range Features {
		if !f.Needed(k) || f.FallbackFor(k) || (f.Unless != "" && Have(f.Unless) == nil) {
			continue
		}
		if err := state(f); err != nil {
			return fmt.Errorf("trace %s: %w", k, err)
		}
	}
	return nil
}

// probeCaps are the capabilities probing a feature needs: none for files,
// CAP_NET_ADMIN besides the tracing ones for network program types.
func probeCaps(name string) Caps {
	switch name {
	case "btf", "uprobe_pmu", "tp_inet_sock_set_state", "tp_sock_send_length":
		return 0
	case "cgroup_sock_addr", "sockops", "cgroup_sock", "cgroup_skb":
		return TracingCaps | CapNetAdmin
	}
	return TracingCaps
}

func probeOne(f *Feature) error {
	if c := probeCaps(f.Name); c != 0 {
		if err := c.Check("probe " + f.Name); err != nil {
			return err
		}
	}
	var err error
	switch f.Name {
	case "btf":
		if _, serr := os.Stat(vmlinuxBTF); serr != nil {
			err = fmt.Errorf("%w: %w", ebpf.ErrNotSupported, serr)
		}
	case "ringbuf":
		err = features.HaveMapType(ebpf.RingBuf)
	case "task_storage":
		err = features.HaveMapType(ebpf.TaskStorage)
	case "array_of_maps":
		err = features.HaveMapType(ebpf.ArrayOfMaps)
	case "cgroup_array":
		err = features.HaveMapType(ebpf.CGroupArray)
	case "bpf_loop":
		err = features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnLoop)
	case "tp_btf":
		err = probeTpBTF()
	case "raw_tp":
		err = features.HaveProgramType(ebpf.RawTracepoint)
	case "cgroup_sock_addr":
		err = features.HaveProgramType(ebpf.CGroupSockAddr)
	case "sockops":
		err = features.HaveProgramType(ebpf.SockOps)
	case "cgroup_sock":
		err = features.HaveProgramType(ebpf.CGroupSock)
	case "cgroup_skb":
		err = features.HaveProgramType(ebpf.CGroupSKB)
	case "tp_inet_sock_set_state", "tp_sock_send_length":
		for _, tp := range featureTracepoints[f.Name] {
			if err = haveTracepoint(tp); err != nil {
				break
			}
		}
	case "uprobe_multi":
		err = features.HaveBPFLinkUprobeMulti()
	case "uprobe_pmu":
		if _, serr := os.Stat(UprobePMU); serr != nil {
			err = fmt.Errorf("%w: %w", ebpf.ErrNotSupported, serr)
		}
	default:
		return fmt.Errorf("no probe for kernel feature %q", f.Name)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ebpf.ErrNotSupported):
		return &MissingFeatureError{Feature: f, Err: err}
	}
	return TracingCaps.WrapErr("probe "+f.Name, err)
}

// probeTpBTF loads an empty tp_btf program. (features.HaveProgramType
// probes tracing programs with fentry, refused where ftrace is locked down
// although tp_btf works.) It finds its attach target in the kernel BTF the
// loads share (kernelTypes) rather than decoding it once more.
func probeTpBTF() error {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		return fmt.Errorf("%w: no kernel BTF", ebpf.ErrNotSupported)
	}
	coll, err := ebpf.NewCollectionWithOptions(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"probe": {
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "sched_process_fork",
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}}}, ebpf.CollectionOptions{Cache: kernelTypes("btf_trace_sched_process_fork").cache})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		return fmt.Errorf("%w: %w", ebpf.ErrNotSupported, err)
	}
	coll.Close()
	return nil
}

// featureTracepoints are the tracepoints a feature needs. Their probe asks
// for their typedefs (kernelTypes), so that whichever types the process
// reduced the kernel's BTF to, it cannot find a tracepoint missing that is
// not, and remember that for the boot.
var featureTracepoints = map[string][]string{
	"tp_inet_sock_set_state": {"inet_sock_set_state"},
	"tp_sock_send_length":    {"sock_send_length", "sock_recv_length"},
}

// haveTracepoint looks up the BTF type of tracepoint name in the kernel
// BTF the loads share (kernelTypes): an index lookup once it is decoded,
// where reading the file to search it cost a copy of it (5 MB here).
func haveTracepoint(name string) error {
	kernel, err := kernelTypes("btf_trace_" + name).cache.Kernel()
	if err != nil {
		return fmt.Errorf("%w: %w", ebpf.ErrNotSupported, err)
	}
	var td *btf.Typedef
	if err := kernel.TypeByName("btf_trace_"+name, &td); err != nil {
		return fmt.Errorf("tracepoint %s: %w", name, ebpf.ErrNotSupported)
	}
	return nil
}

// RawTracepoints reports whether the tp_btf programs load as raw_tp
// programs: the kernel lacks tp_btf (or DisableEnv names it) and has
// raw_tp. Backends without their sockets' tracepoints then leave out the
// programs that need tp_btf's helpers (tls: sock_send_length).
func RawTracepoints() bool { return Have("tp_btf") != nil && Have("raw_tp") == nil }
