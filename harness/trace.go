package harness

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// Trace runs cmd under the tracers like Run and returns the capture. Setup
// errors fail the test; missing privileges skip it (fail under
// TRACEP_REQUIRE_PRIVILEGED=1); lost events fail it unless AllowLost is
// given. The command's exit status is in the capture, not an error.
func Trace(t testing.TB, cmd *exec.Cmd, opts ...Option) *Capture {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	if dl, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dl.Deadline(); ok {
			// Leave a little time to report the failure.
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
			defer cancel()
		}
	}
	c, err := Run(ctx, cmd, opts...)
	if err != nil && errors.Is(err, os.ErrPermission) {
		tracetest.SkipIfUnprivileged(t, err)
	}
	if c == nil {
		t.Fatalf("trace %s: %v", cmd.Path, err)
	}
	if err != nil {
		if !(cfg.allowLost && errors.Is(err, tracep.ErrLost) && onlyLost(err)) {
			t.Fatalf("trace %s: %v", cmd.Path, err)
		}
	}
	return c
}

// onlyLost reports whether every part of err is a lost-events error.
func onlyLost(err error) bool {
	for _, e := range tracep.SplitErrors(err) {
		if !errors.Is(e, tracep.ErrLost) {
			return false
		}
	}
	return true
}
