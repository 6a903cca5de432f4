package bpfcore

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep"
)

// Capability bits (linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

var (
	featuresOnce sync.Once
	featuresErr  error
)

// Supported reports whether this process can run tracep's BPF backends: nil,
// an error matching os.ErrPermission (a *tracep.PermissionError) when
// capabilities are missing, or one matching tracep.ErrNotSupported when the
// kernel lacks BTF or a BPF feature the programs use.
func Supported() error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("kernel BTF (/sys/kernel/btf/vmlinux): %w", tracep.ErrNotSupported)
	}
	if err := checkCaps(); err != nil {
		return err
	}
	featuresOnce.Do(func() { featuresErr = probeFeatures() })
	return featuresErr
}

func checkCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil
	}
	return &tracep.PermissionError{Op: "load bpf programs", Capability: Capability, Err: unix.EPERM}
}

func probeFeatures() error {
	for _, mt := range []ebpf.MapType{ebpf.RingBuf, ebpf.ArrayOfMaps, ebpf.TaskStorage, ebpf.CGroupArray} {
		if err := features.HaveMapType(mt); err != nil {
			return wrapErr(fmt.Sprintf("map type %s", mt), err)
		}
	}
	// features.HaveProgramType(ebpf.Tracing) probes with fentry, which
	// fails with EPERM where ftrace is locked down even though tp_btf
	// works. Kernel BTF (checked above) and raw tracepoints with bpf_loop
	// (5.17) imply tp_btf.
	if err := features.HaveProgramType(ebpf.RawTracepoint); err != nil {
		return wrapErr("raw tracepoint programs", err)
	}
	if err := features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnLoop); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return wrapErr("bpf_loop helper", err)
		}
		return wrapErr("probe bpf_loop helper", err)
	}
	return nil
}
