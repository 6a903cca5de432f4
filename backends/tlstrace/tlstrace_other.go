//go:build !linux

package tlstrace

import (
	"context"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Session is a running TLS trace; off Linux none can be started.
type Session struct{}

// Start fails off Linux with an error wrapping tracep.ErrNotSupported.
func Start(context.Context, Config, func(tracep.Event)) (*Session, error) { return nil, Supported() }

// Files returns nothing.
func (s *Session) Files() []File { return nil }

// Close does nothing.
func (s *Session) Close() error { return nil }

// Supported reports that TLS tracing needs Linux.
func Supported() error { return bpfcore.OffLinux(tracep.KindTLS) }
