package tracetest

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestGates(t *testing.T) {
	perm := &tracep.PermissionError{Op: "load", Capability: "CAP_BPF", Err: os.ErrPermission}
	unsupported := fmt.Errorf("bpf_loop: %w", tracep.ErrNotSupported)
	other := errors.New("map full")
	for _, tc := range []struct {
		name           string
		gate           func(testing.TB)
		plain, require string // outcomes without and with TRACEP_REQUIRE_PRIVILEGED=1
	}{
		{"unprivileged nil", func(t testing.TB) { SkipIfUnprivileged(t, nil) }, "", ""},
		{"unprivileged permission", func(t testing.TB) { SkipIfUnprivileged(t, perm) }, "skip", "fail"},
		{"unprivileged unsupported", func(t testing.TB) { SkipIfUnprivileged(t, unsupported) }, "fail", "fail"},
		{"unprivileged other", func(t testing.TB) { SkipIfUnprivileged(t, other) }, "fail", "fail"},
		{"supported permission", func(t testing.TB) { requireSupported(t, true, perm) }, "skip", "fail"},
		{"supported unsupported", func(t testing.TB) { requireSupported(t, true, unsupported) }, "skip", "fail"},
		{"supported other", func(t testing.TB) { requireSupported(t, true, other) }, "fail", "fail"},
		{"supported nil", func(t testing.TB) { requireSupported(t, true, nil) }, "", ""},
		{"supported not root", func(t testing.TB) { requireSupported(t, false, nil) }, "skip", "fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequirePrivilegedEnv, "")
			require.False(t, PrivilegeRequired())
			require.Equal(t, tc.plain, Outcome(tc.gate))
			t.Setenv(RequirePrivilegedEnv, "1")
			require.True(t, PrivilegeRequired())
			require.Equal(t, tc.require, Outcome(tc.gate))
		})
	}
}

func TestRequireTool(t *testing.T) {
	require.Equal(t, "skip", Outcome(func(t testing.TB) { RequireTool(t, "tracep-no-such-tool") }))
	t.Setenv(RequirePrivilegedEnv, "1")
	require.Equal(t, "skip", Outcome(func(t testing.TB) { RequireTool(t, "tracep-no-such-tool") }), "not a privilege")
	require.NotEmpty(t, RequireTool(t, "sh"))
}
