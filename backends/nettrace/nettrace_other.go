//go:build !linux

package nettrace

import (
	"context"
	"fmt"
	"runtime"

	"github.com/tracep/tracep/tracep"
)

// Session is a running network trace; off Linux none can be started.
type Session struct{}

var _ tracep.Session = (*Session)(nil)

// Start fails off Linux with an error wrapping tracep.ErrNotSupported.
func Start(ctx context.Context, cfg Config, emit func(tracep.Event)) (*Session, error) {
	return nil, Supported()
}

// Close does nothing.
func (s *Session) Close() error { return nil }

// Supported reports that network tracing needs Linux.
func Supported() error {
	return fmt.Errorf("net tracer on %s: %w", runtime.GOOS, tracep.ErrNotSupported)
}
