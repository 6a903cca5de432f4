package bpfcore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/procfs"
	"github.com/tracep/tracep/tracep"
)

// initNSCaps are the capabilities the kernel checks in the initial user
// namespace for what tracep does (bpf_token_capable without a token,
// capable): those held in another user namespace do not count.
const initNSCaps = CapBPF | CapPerfmon | CapNetAdmin | CapSysAdmin

// Effective returns the effective capabilities of the calling thread, as
// they count for tracing: in a user namespace other than the initial one
// (unshare -U), without those the kernel checks in the initial one.
func Effective() (Caps, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	held := Caps(data[1].Effective)<<32 | Caps(data[0].Effective)
	if InUserNamespace() {
		held &^= initNSCaps
	}
	return held, nil
}

// InUserNamespace reports whether tracep runs in a user namespace other
// than the initial one, whose capabilities do not count for BPF.
func InUserNamespace() bool {
	_, _, user := procfs.Namespaces()
	return user
}

// needs names the capabilities missing for the error of an operation:
// "in the initial user namespace" when tracep runs in another one.
func (c Caps) needs() string {
	s := c.String()
	if c&(initNSCaps|adminCovers) != 0 {
		if InUserNamespace() {
			s += " in the initial user namespace (tracep runs in a user namespace, whose capabilities do not count for BPF)"
		}
	}
	return s
}

// noMemlock is an EPERM from cilium/ebpf without its hint about
// RLIMIT_MEMLOCK, which is never the cause here: every kernel tracep runs
// on charges BPF memory to the memory cgroup (5.11+) instead.
type noMemlock struct{ err error }

func (e noMemlock) Error() string {
	s := e.err.Error()
	if i := strings.Index(s, " (MEMLOCK may be too low"); i >= 0 {
		if j := strings.Index(s[i:], ")"); j >= 0 {
			s = s[:i] + s[i+j+1:]
		}
	}
	return s
}

func (e noMemlock) Unwrap() error { return e.err }

// effective is Effective, for this package.
func effective() (Caps, error) { return Effective() }

// Check returns nil when the process holds the capabilities c (or
// CAP_SYS_ADMIN), else a *tracep.PermissionError for op naming the
// missing ones.
func (c Caps) Check(op string) error {
	held, err := effective()
	if err != nil {
		return err
	}
	if m := c.missing(held); m != 0 {
		return &tracep.PermissionError{Op: op, Capability: m.needs(), Err: unix.EPERM}
	}
	return nil
}

// WrapErr adds op as context to err, the failure of something that needs
// the capabilities c. EPERM becomes a *tracep.PermissionError naming the
// capabilities missing (all of c when none is: then something else, such
// as a security module, refused), and a kernel feature cilium/ebpf found
// missing an error matching tracep.ErrNotSupported.
func (c Caps) WrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ve *ebpf.VerifierError
	switch {
	case errors.As(err, &ve):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, unix.EPERM):
		need := c
		if held, herr := effective(); herr == nil && c.missing(held) != 0 {
			need = c.missing(held)
		}
		return &tracep.PermissionError{Op: op, Capability: need.needs(), Err: noMemlock{err}}
	case errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, tracep.ErrNotSupported):
		return fmt.Errorf("%s: %w: %w", op, tracep.ErrNotSupported, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
