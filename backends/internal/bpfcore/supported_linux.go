package bpfcore

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"

	"github.com/tracep/tracep/tracep"
)

var (
	featuresOnce sync.Once
	featuresErr  error
)

// Supported reports whether this process can run b: nil, an error matching
// os.ErrPermission (a *tracep.PermissionError naming the capabilities
// missing) or one matching tracep.ErrNotSupported when the kernel lacks
// BTF or a BPF feature the core's programs use. A backend checks its own
// kernel features after this.
func (b *Backend) Supported() error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("kernel BTF (/sys/kernel/btf/vmlinux): %w", tracep.ErrNotSupported)
	}
	if err := b.Caps.Check(b.op()); err != nil {
		return err
	}
	featuresOnce.Do(func() { featuresErr = probeFeatures() })
	return featuresErr
}

// op names what b's capabilities are for, in errors.
func (b *Backend) op() string { return "trace " + string(b.Kind) }

func probeFeatures() error {
	for _, mt := range []ebpf.MapType{ebpf.RingBuf, ebpf.ArrayOfMaps, ebpf.TaskStorage, ebpf.CGroupArray} {
		if err := features.HaveMapType(mt); err != nil {
			return TracingCaps.WrapErr(fmt.Sprintf("map type %s", mt), err)
		}
	}
	// features.HaveProgramType(ebpf.Tracing) probes with fentry, which
	// fails with EPERM where ftrace is locked down even though tp_btf
	// works. Kernel BTF (checked above) and raw tracepoints with bpf_loop
	// (5.17) imply tp_btf.
	if err := features.HaveProgramType(ebpf.RawTracepoint); err != nil {
		return TracingCaps.WrapErr("raw tracepoint programs", err)
	}
	if err := features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnLoop); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return TracingCaps.WrapErr("bpf_loop helper", err)
		}
		return TracingCaps.WrapErr("probe bpf_loop helper", err)
	}
	return nil
}
