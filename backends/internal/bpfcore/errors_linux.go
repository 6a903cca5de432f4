package bpfcore

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep"
)

// wrapErr adds op as context to err, turning EPERM into a
// *tracep.PermissionError and a missing kernel feature into an error that
// matches tracep.ErrNotSupported.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ve *ebpf.VerifierError
	switch {
	case errors.As(err, &ve):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, unix.EPERM):
		return &tracep.PermissionError{Op: op, Capability: Capability, Err: err}
	case errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, tracep.ErrNotSupported):
		return fmt.Errorf("%s: %w: %w", op, tracep.ErrNotSupported, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
