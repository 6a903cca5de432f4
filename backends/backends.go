package backends

import (
	"context"
	"fmt"

	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
)

// Kinds returns the kinds that have a kernel tracer, in the order a trace
// starts them.
func Kinds() []tracep.Kind {
	return []tracep.Kind{tracep.KindExec, tracep.KindNet, tracep.KindTLS, tracep.KindDNS}
}

// Supported reports whether kind k can be traced here: nil, or an error
// wrapping tracep.ErrNotSupported or os.ErrPermission.
func Supported(k tracep.Kind) error {
	switch k {
	case tracep.KindExec:
		return exectrace.Supported()
	case tracep.KindNet:
		return nettrace.Supported()
	case tracep.KindTLS:
		return tlstrace.Supported()
	case tracep.KindDNS:
		return dnstrace.Supported()
	}
	return fmt.Errorf("%s tracer: %w", k, tracep.ErrNotSupported)
}

// Start starts the tracer of kind k for scope; see tracep.Session for what
// Close guarantees. emit is called from the tracer's own goroutine.
func Start(ctx context.Context, k tracep.Kind, scope tracep.Scope, emit func(tracep.Event)) (tracep.Session, error) {
	switch k {
	case tracep.KindExec:
		s, err := exectrace.Start(ctx, exectrace.Config{Scope: scope}, emit)
		if err != nil {
			return nil, err
		}
		return s, nil
	case tracep.KindNet:
		s, err := nettrace.Start(ctx, nettrace.Config{Scope: scope, States: true}, emit)
		if err != nil {
			return nil, err
		}
		return s, nil
	case tracep.KindTLS:
		s, err := tlstrace.Start(ctx, tlstrace.Config{Scope: scope}, emit)
		if err != nil {
			return nil, err
		}
		return s, nil
	case tracep.KindDNS:
		s, err := dnstrace.Start(ctx, dnstrace.Config{Scope: scope}, emit)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("%s tracer: %w", k, tracep.ErrNotSupported)
}

// ReleaseLoadCaches frees what the tracers kept for loading programs (the
// parsed kernel BTF, most of a tracer's memory). Call it once tracing is
// armed; a later first start of another kind parses it again.
func ReleaseLoadCaches() { bpfcore.ReleaseCache() }
