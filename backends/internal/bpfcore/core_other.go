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

// PidNamespace returns 0: there are no pid namespaces off Linux.
func PidNamespace() (uint32, error) { return 0, nil }

// FeatureState is a feature and what probing it found.
type FeatureState struct {
	*Feature
	Err error
}

// Probe reports every feature missing: there is no BPF off Linux.
func Probe() []FeatureState {
	out := make([]FeatureState, len(Features))
	for i, f := range Features {
		out[i] = FeatureState{f, &MissingFeatureError{Feature: f, Err: errOffLinux}}
	}
	return out
}

// Prime does nothing: there is no BPF off Linux.
func Prime(...tracep.Kind) {}

// Preload does nothing: there is no BPF off Linux.
func Preload(...tracep.Kind) {}

// InstallRings fails: there is no BPF off Linux.
func InstallRings(...int) error { return errOffLinux }

// Have fails: there is no BPF off Linux.
func Have(name string) error { return errOffLinux }

// Effective fails: capabilities exist only on Linux.
func Effective() (Caps, error) { return 0, errOffLinux }

// InUserNamespace reports false: namespaces exist only on Linux.
func InUserNamespace() bool { return false }

var errOffLinux = fmt.Errorf("BPF on %s: %w", runtime.GOOS, tracep.ErrNotSupported)

// DetachIdle does nothing: there is no BPF off Linux.
func DetachIdle() {}

// DetachBeforeExit does nothing: there is no BPF off Linux.
func DetachBeforeExit() {}

// Exiting reports false: there is no BPF off Linux.
func Exiting() bool { return false }
