//go:build !linux

package handoff

import (
	"fmt"
	"runtime"

	"github.com/tracep/tracep/tracep"
)

// Close fails: there is nothing to hand off off Linux.
func Close(fds []int, closeOwn func()) (int, error) {
	return 0, fmt.Errorf("handoff on %s: %w", runtime.GOOS, tracep.ErrNotSupported)
}
