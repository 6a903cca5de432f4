//go:build !linux

package dnstrace

import (
	"context"
	"fmt"
	"runtime"

	"github.com/tracep/tracep/tracep"
)

// Session is a running DNS trace; off Linux none can be started.
type Session struct{}

var _ tracep.Session = (*Session)(nil)

// Start fails off Linux with an error wrapping tracep.ErrNotSupported.
func Start(ctx context.Context, cfg Config, emit func(tracep.Event)) (*Session, error) {
	return nil, Supported()
}

// Stats returns nothing: no session runs off Linux.
func (s *Session) Stats() Stats { return Stats{} }

// Close does nothing.
func (s *Session) Close() error { return nil }

// Supported reports that DNS tracing needs Linux.
func Supported() error {
	return fmt.Errorf("dns tracer on %s: %w", runtime.GOOS, tracep.ErrNotSupported)
}
