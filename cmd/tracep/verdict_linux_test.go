package main_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep/tracetest"
)

// fifo makes a named pipe in dir: a workload writes a line to it at a
// point the test waits for.
func fifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	return p
}

// readFifo waits for a line written to the fifo at p.
func readFifo(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NotEmpty(t, b)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// A reader of tracep's output that stops reading costs nothing: the
// tracers drain the kernel into a queue whatever the output does, so no
// event is lost and the denied exec at the end of a storm is found.
func TestIntegrationSlowReaderLosesNothing(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep run")
	dir := t.TempDir()
	done := fifo(t, dir, "done")
	policy := filepath.Join(dir, "deny-id.policy")
	require.NoError(t, os.WriteFile(policy, []byte("allow exec prog=sh\nallow exec prog=true\n"), 0o644))
	storm := `i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done; /usr/bin/id >/dev/null; echo done >` + done
	cmd := exec.Command(tracepBin, "run", "-kinds", "exec", "-policy", policy, "--", "sh", "-c", storm)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	readFifo(t, done) // the storm is over; nothing has read tracep's output yet
	n, err := io.Copy(io.Discard, out)
	require.NoError(t, err)
	err = cmd.Wait()
	require.Equal(t, 3, exitCode(err), "the denied exec is found:\n%s", stderr.String())
	require.Greater(t, n, int64(3000*40), "every exec was printed")
	require.NotContains(t, stderr.String(), "lost")
	require.Contains(t, stderr.String(), "exec /usr/bin/id")
}

// A tracer that cannot drain the kernel (stopped, here) loses events, and
// the verdict is then never a pass: the denied exec is found (exit 3) or
// the policy cannot be verified (exit 4), with the loss on stderr.
func TestIntegrationPausedTracerNeverPasses(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep run")
	dir := t.TempDir()
	armed, goOn, done := fifo(t, dir, "armed"), fifo(t, dir, "go"), fifo(t, dir, "done")
	policy := filepath.Join(dir, "deny-id.policy")
	require.NoError(t, os.WriteFile(policy, []byte("allow exec prog=sh\nallow exec prog=true\nallow exec prog=head\nallow exec prog=tr\n"), 0o644))
	// Records of 30 KB each: a few hundred fill the kernel's ring.
	storm := `echo armed >` + armed + `; read x <` + goOn + `; long=$(head -c 30000 /dev/zero | tr '\0' a); ` +
		`i=0; while [ $i -lt 1000 ]; do /bin/true "$long"; i=$((i+1)); done; /usr/bin/id >/dev/null; echo done >` + done
	cmd := exec.Command(tracepBin, "run", "-kinds", "exec", "-o", filepath.Join(dir, "trace.txt"), "-policy", policy, "--", "sh", "-c", storm)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGCONT); _ = cmd.Process.Kill() })
	readFifo(t, armed)
	require.NoError(t, cmd.Process.Signal(syscall.SIGSTOP))
	require.NoError(t, os.WriteFile(goOn, []byte("go\n"), 0o600))
	readFifo(t, done)
	require.NoError(t, cmd.Process.Signal(syscall.SIGCONT))
	code := exitCode(cmd.Wait())
	t.Logf("exit %d:\n%s", code, stderr.String())
	require.Contains(t, stderr.String(), "trace lost", "the loss is said")
	require.Contains(t, []int{3, 4}, code, "never a pass:\n%s", stderr.String())
	if code == 4 {
		require.Contains(t, stderr.String(), "cannot be verified")
	}
}
