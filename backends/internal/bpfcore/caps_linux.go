package bpfcore

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep"
)

// effective returns the effective capabilities of the calling thread.
func effective() (Caps, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return Caps(data[1].Effective)<<32 | Caps(data[0].Effective), nil
}

// Check returns nil when the process holds the capabilities c (or
// CAP_SYS_ADMIN), else a *tracep.PermissionError for op naming the
// missing ones.
func (c Caps) Check(op string) error {
	held, err := effective()
	if err != nil {
		return err
	}
	if m := c.missing(held); m != 0 {
		return &tracep.PermissionError{Op: op, Capability: m.String(), Err: unix.EPERM}
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
		return &tracep.PermissionError{Op: op, Capability: need.String(), Err: err}
	case errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, tracep.ErrNotSupported):
		return fmt.Errorf("%s: %w: %w", op, tracep.ErrNotSupported, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
