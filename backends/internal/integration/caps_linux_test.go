package integration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

const helperKind = "TRACEP_INTEGRATION_CAPS_KIND"

// Run as nobody with some capabilities, each tracer starts when it has
// those it needs, and otherwise Supported and Start fail with a
// *tracep.PermissionError naming exactly the missing ones.
func TestIntegrationCapabilities(t *testing.T) {
	forEach(t, func(t *testing.T, tr tracer) {
		for _, held := range []bpfcore.Caps{0, bpfcore.TracingCaps, tr.caps} {
			cmd := tracetest.UnprivilegedCommand(t, "-test.run=^TestHelperCapabilities$", "-test.v")
			cmd.Env = append(os.Environ(), helperKind+"="+string(tr.kind))
			for n := range 64 {
				if held&(1<<n) != 0 {
					cmd.SysProcAttr.AmbientCaps = append(cmd.SysProcAttr.AmbientCaps, uintptr(n))
				}
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			want := "ok"
			if missing := tr.caps &^ held; missing != 0 {
				want = "needs " + missing.String()
			}
			require.Contains(t, string(out), "supported: "+want+"\n", "holding %v", held)
			require.Contains(t, string(out), "start: "+want+"\n", "holding %v", held)
		}
	})
}

// TestHelperCapabilities is TestIntegrationCapabilities's unprivileged
// process: it says what Supported and Start of one tracer returned.
func TestHelperCapabilities(t *testing.T) {
	kind := os.Getenv(helperKind)
	if kind == "" {
		t.Skip("run by TestIntegrationCapabilities")
	}
	for _, tr := range tracers {
		if string(tr.kind) != kind {
			continue
		}
		fmt.Printf("supported: %s\n", outcome(tr.supported()))
		s, err := tr.start(context.Background(), tracep.Scope{PIDs: []int{os.Getpid()}}, func(tracep.Event) {})
		if err == nil {
			err = s.Close()
		}
		fmt.Printf("start: %s\n", outcome(err))
	}
}

// outcome describes err: "ok", "needs CAPS" for a *tracep.PermissionError
// (which must also match os.ErrPermission), or the error.
func outcome(err error) string {
	var pe *tracep.PermissionError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &pe) && errors.Is(err, os.ErrPermission) && !strings.Contains(pe.Capability, "\n"):
		return "needs " + pe.Capability
	}
	return "error " + err.Error()
}
