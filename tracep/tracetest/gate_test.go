package tracetest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// fakeT records how a gate ended a test. Skip and Fatal end the calling
// goroutine, as the testing package's do.
type fakeT struct {
	testing.TB
	outcome string // "", "skip" or "fail"
}

func (f *fakeT) Helper()                      {}
func (f *fakeT) Skip(args ...any)             { f.outcome = "skip"; runtime.Goexit() }
func (f *fakeT) Skipf(string, ...any)         { f.outcome = "skip"; runtime.Goexit() }
func (f *fakeT) Fatal(args ...any)            { f.outcome = "fail"; runtime.Goexit() }
func (f *fakeT) Fatalf(string, ...any)        { f.outcome = "fail"; runtime.Goexit() }
func (f *fakeT) Errorf(string, ...any)        { f.outcome = "fail" }
func (f *fakeT) Cleanup(func())               {}
func (f *fakeT) Logf(format string, a ...any) {}

// gate runs g on a fake test and returns how it ended.
func gate(g func(testing.TB)) string {
	f := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g(f)
	}()
	<-done
	return f.outcome
}

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
			require.Equal(t, tc.plain, gate(tc.gate))
			t.Setenv(RequirePrivilegedEnv, "1")
			require.True(t, PrivilegeRequired())
			require.Equal(t, tc.require, gate(tc.gate))
		})
	}
}

func TestRequireTool(t *testing.T) {
	require.Equal(t, "skip", gate(func(t testing.TB) { RequireTool(t, "tracep-no-such-tool") }))
	t.Setenv(RequirePrivilegedEnv, "1")
	require.Equal(t, "skip", gate(func(t testing.TB) { RequireTool(t, "tracep-no-such-tool") }), "not a privilege")
	require.NotEmpty(t, RequireTool(t, "sh"))
}
