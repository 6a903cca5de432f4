package bpfcore

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tracep/tracep/tracep"
)

// DisableEnv names the environment variable that makes tracep behave as
// if the kernel lacked some features: a comma-separated list of Feature
// names ("uprobe_multi,tp_btf"). Tests use it to run every fallback on a
// kernel that has what it replaces; a feature without a fallback then
// fails the tracers that need it with the error a kernel without it gives.
// It also takes reduced_btf, which makes loads decode the kernel's BTF
// whole rather than reduced (see package kernelbtf).
const DisableEnv = "TRACEP_DISABLE"

// Feature is a kernel feature tracep's tracers use, probed once per
// process (see Probe).
type Feature struct {
	// Name is the feature's name in DisableEnv and in tracep doctor.
	Name string
	// What says what it is, for people.
	What string
	// Since is the first Linux version that has it.
	Since string
	// Kinds are the tracers that need it; nil for every one.
	Kinds []tracep.Kind
	// Fallback says what is used instead when the kernel lacks it; empty
	// when nothing can be: the tracers of Kinds then do not run.
	Fallback string
	// Unless names the feature this one stands in for: it is needed only
	// when that one is missing.
	Unless string
	// NoFallback are the tracers of Kinds for which Fallback does not
	// stand in: they need the feature itself.
	NoFallback []tracep.Kind
}

// Needed reports whether tracer k needs f.
func (f *Feature) Needed(k tracep.Kind) bool { return f.Kinds == nil || slices.Contains(f.Kinds, k) }

// FallbackFor reports whether tracer k can do without f.
func (f *Feature) FallbackFor(k tracep.Kind) bool {
	return f.Fallback != "" && !slices.Contains(f.NoFallback, k)
}

// Features are the kernel features tracep probes, in the order doctor
// lists them. The versions are those of mainline Linux.
var Features = []*Feature{
	{Name: "btf", What: "kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)", Since: "5.5"},
	{Name: "ringbuf", What: "BPF ring buffer", Since: "5.8"},
	{Name: "task_storage", What: "BPF task-local storage", Since: "5.11"},
	{Name: "array_of_maps", What: "BPF array of maps", Since: "4.12"},
	{Name: "cgroup_array", What: "BPF cgroup array", Since: "4.8"},
	{Name: "bpf_loop", What: "the bpf_loop helper", Since: "5.17"},
	{Name: "tp_btf", What: "BTF-typed raw tracepoint programs (tp_btf)", Since: "5.5",
		Fallback:   "raw tracepoints (raw_tp), reading their arguments with bpf_probe_read_kernel; for tls, as without tp_sock_send_length",
		NoFallback: []tracep.Kind{tracep.KindNet}},
	{Name: "raw_tp", What: "raw tracepoint programs (raw_tp)", Since: "4.17", Unless: "tp_btf"},
	{Name: "cgroup_sock_addr", What: "cgroup socket address hooks (connect, sendmsg, post_bind)", Since: "4.17",
		Kinds: []tracep.Kind{tracep.KindNet, tracep.KindDNS}},
	{Name: "sockops", What: "cgroup sockops programs", Since: "4.13", Kinds: []tracep.Kind{tracep.KindNet}},
	{Name: "cgroup_sock", What: "cgroup socket hooks (sock_release)", Since: "5.9", Kinds: []tracep.Kind{tracep.KindNet}},
	{Name: "cgroup_skb", What: "cgroup packet hooks (cgroup_skb)", Since: "4.10", Kinds: []tracep.Kind{tracep.KindDNS}},
	{Name: "tp_inet_sock_set_state", What: "the sock:inet_sock_set_state tracepoint", Since: "4.16", Kinds: []tracep.Kind{tracep.KindNet}},
	{Name: "tp_sock_send_length", What: "the sock:sock_send_length and sock_recv_length tracepoints", Since: "6.3",
		Kinds: []tracep.Kind{tracep.KindNet, tracep.KindTLS}, NoFallback: []tracep.Kind{tracep.KindNet},
		Fallback: "for tls, plaintext without its connection and no ClientHello seen on the wire"},
	{Name: "uprobe_multi", What: "uprobe_multi links", Since: "6.6", Kinds: []tracep.Kind{tracep.KindTLS},
		Fallback: "one perf event per uprobe (uprobe_pmu)"},
	{Name: "uprobe_pmu", What: "uprobe perf events owned by file descriptors (/sys/bus/event_source/devices/uprobe)", Since: "4.17",
		Kinds: []tracep.Kind{tracep.KindTLS}, Unless: "uprobe_multi"},
}

// FeatureNamed returns the feature called name, or nil.
func FeatureNamed(name string) *Feature {
	for _, f := range Features {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Disabled reports whether feature name is disabled by DisableEnv.
func Disabled(name string) bool {
	return slices.Contains(strings.Split(os.Getenv(DisableEnv), ","), name)
}

// MissingFeatureError says that the kernel lacks a feature a tracer needs
// (or that DisableEnv disabled it). It matches tracep.ErrNotSupported.
type MissingFeatureError struct {
	Feature  *Feature
	Disabled bool  // by DisableEnv
	Err      error // what the probe found, when it says more
}

func (e *MissingFeatureError) Error() string {
	s := fmt.Sprintf("needs %s (Linux %s)", e.Feature.What, e.Feature.Since)
	if e.Disabled {
		return s + ", disabled by " + DisableEnv
	}
	return s + ", which this kernel lacks"
}

// Is makes errors.Is(err, tracep.ErrNotSupported) true.
func (e *MissingFeatureError) Is(target error) bool { return target == tracep.ErrNotSupported }

// Unwrap returns what the probe found.
func (e *MissingFeatureError) Unwrap() error { return e.Err }
