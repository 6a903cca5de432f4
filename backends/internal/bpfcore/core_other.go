//go:build !linux

package bpfcore

import (
	"fmt"
	"runtime"

	"github.com/tracep/tracep/tracep"
)

// Supported reports whether this system can run tracep's BPF backends; off
// Linux it never can.
func Supported() error {
	return fmt.Errorf("bpf backends on %s: %w", runtime.GOOS, tracep.ErrNotSupported)
}

// ReleaseCache does nothing off Linux.
func ReleaseCache() {}
