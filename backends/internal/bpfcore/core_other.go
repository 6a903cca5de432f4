//go:build !linux

package bpfcore

import (
	"fmt"
	"runtime"

	"github.com/tracep/tracep/tracep"
)

// ReleaseCache does nothing off Linux.
func ReleaseCache() {}

// OffLinux is the error of every tracer off Linux: it wraps
// tracep.ErrNotSupported and names the tracer and the OS.
func OffLinux(k tracep.Kind) error {
	return fmt.Errorf("%s tracer on %s: %w", k, runtime.GOOS, tracep.ErrNotSupported)
}

// Now returns 0: there are no kernel timestamps off Linux.
func Now() uint64 { return 0 }
