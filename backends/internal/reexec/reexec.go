package reexec

import (
	"fmt"
	"runtime/debug"

	"github.com/tracep/tracep/tracep"
)

// Check reports whether /proc/self/exe is a program whose init functions
// include the caller's: not when the Go code is a C library
// (-buildmode=c-shared or c-archive). The error names what; it matches
// tracep.ErrNotSupported.
func Check(what string) error {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	for _, s := range info.Settings {
		if s.Key == "-buildmode" && (s.Value == "c-shared" || s.Value == "c-archive") {
			return fmt.Errorf("%s: a %s library has no executable of its own: %w", what, s.Value, tracep.ErrNotSupported)
		}
	}
	return nil
}
