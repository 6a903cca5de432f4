package harness_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// failingTB is a test that Trace sees fail after it returned, as an
// assertion would make it.
type failingTB struct {
	testing.TB
	failed   bool
	cleanups []func()
	logs     []string
}

func (f *failingTB) Name() string      { return "TestSaved/sub case" }
func (f *failingTB) Failed() bool      { return f.failed }
func (f *failingTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failingTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *failingTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// A failed test's capture is written where SaveOnFailure (or
// TRACEP_SAVE_TRACES) says, as JSON lines that read back to the same
// events; a passing test's is not, and a second trace in the same test
// gets a file of its own.
func TestIntegrationSaveOnFailure(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	dir := t.TempDir()

	passing := &failingTB{TB: t}
	harness.Trace(passing, exec.Command("true"), harness.Kinds(tracep.KindExec), harness.SaveOnFailure(dir))
	passing.end()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a passing test saves nothing")

	t.Setenv(harness.SaveTracesEnv, dir)
	failing := &failingTB{TB: t, failed: true}
	first := harness.Trace(failing, exec.Command("true"), harness.Kinds(tracep.KindExec))
	harness.Trace(failing, exec.Command("true"), harness.Kinds(tracep.KindExec))
	failing.end()

	name := filepath.Join(dir, "TestSaved_sub_case.jsonl")
	require.Equal(t, []string{"trace saved: tracep view " + filepath.Join(dir, "TestSaved_sub_case-2.jsonl"), "trace saved: tracep view " + name}, failing.logs)
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	saved, err := tracep.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, len(first.Events), len(saved))
	for i := range saved {
		require.Equal(t, first.Events[i].String(), saved[i].String())
	}
}
