//go:build !linux

package dnstrace

import (
	"context"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Session is a running DNS trace; off Linux none can be started.
type Session struct{}

// Start fails off Linux with an error wrapping tracep.ErrNotSupported.
func Start(context.Context, Config, func(tracep.Event)) (*Session, error) { return nil, Supported() }

// Stats returns nothing: no session runs off Linux.
func (s *Session) Stats() Stats { return Stats{} }

// Close does nothing.
func (s *Session) Close() error { return nil }

// Supported reports that DNS tracing needs Linux.
func Supported() error { return bpfcore.OffLinux(tracep.KindDNS) }
