//go:build !linux

package tlstrace

import (
	"context"
	"fmt"
	"runtime"

	"github.com/tracep/tracep/tracep"
)

// Session is a running TLS trace; off Linux none can be started.
type Session struct{}

var _ tracep.Session = (*Session)(nil)

// Start fails off Linux with an error wrapping tracep.ErrNotSupported.
func Start(ctx context.Context, cfg Config, emit func(tracep.Event)) (*Session, error) {
	return nil, Supported()
}

// Files returns nothing.
func (s *Session) Files() []File { return nil }

// Close does nothing.
func (s *Session) Close() error { return nil }

// Supported reports that TLS tracing needs Linux.
func Supported() error {
	return fmt.Errorf("tls tracer on %s: %w", runtime.GOOS, tracep.ErrNotSupported)
}
