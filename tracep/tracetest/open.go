package tracetest

import (
	"context"
	"io"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// Open returns what open opens, and closes it when t ends, failing t if
// Close fails. An error from open fails t, or skips it for lack of
// privilege as SkipIfUnprivileged does. For example:
//
//	cg := tracetest.Open(t, cgroup.New)
func Open[C io.Closer](t testing.TB, open func() (C, error)) C {
	t.Helper()
	c, err := open()
	SkipIfUnprivileged(t, err)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close %T: %v", c, err)
		}
	})
	return c
}

// Start starts a tracing session with start(ctx, cfg, emit), ctx being
// Context(t), and closes it when t ends, ignoring Close's error: a test
// that checks it closes the session itself first (Close is idempotent).
// An error from start fails t, or skips it for lack of privilege as
// SkipIfUnprivileged does. For example:
//
//	s := tracetest.Start(t, exectrace.Start, exectrace.Config{}, c.Emit)
func Start[C any, S tracep.Session](t testing.TB, start func(context.Context, C, func(tracep.Event)) (S, error), cfg C, emit func(tracep.Event)) S {
	t.Helper()
	s, err := start(Context(t), cfg, emit)
	SkipIfUnprivileged(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
