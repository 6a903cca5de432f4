//go:build !linux

package exectrace

import (
	"context"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Session is a running exec trace; off Linux none can be started.
type Session struct{}

// Start fails off Linux with an error wrapping tracep.ErrNotSupported.
func Start(context.Context, Config, func(tracep.Event)) (*Session, error) { return nil, Supported() }

// Close does nothing.
func (s *Session) Close() error { return nil }

// Supported reports that exec tracing needs Linux.
func Supported() error { return bpfcore.OffLinux(tracep.KindExec) }
