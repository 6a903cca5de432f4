package base

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep/tracetest"
)

// newTestNet starts the hermetic network for one test.
func newTestNet(t *testing.T) *testnet.Net {
	t.Helper()
	n, err := testnet.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// gatedShell starts sh -c script inside n, held before the script until
// gate is called; gate then waits for the shell to exit. It returns the
// shell's pid.
func gatedShell(t *testing.T, n *testnet.Net, script string) (pid int, gate func()) {
	t.Helper()
	sh := n.Command("sh", "-c", "read x; "+script)
	stdin, err := sh.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, n.Start(sh))
	t.Cleanup(func() { _ = sh.Process.Kill(); _ = sh.Wait() })
	return sh.Process.Pid, func() {
		t.Helper()
		_, err := io.WriteString(stdin, "go\n")
		require.NoError(t, err)
		require.NoError(t, sh.Wait())
	}
}

// traceUntil runs tracep with args (a -p or whole-system trace) until act
// has run: once tracep says it is armed, act runs; then tracep is stopped
// as SIGINT stops it. It returns what tracep wrote.
func traceUntil(t testing.TB, args []string, act func()) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(tracetest.Context(t))
	defer cancel()
	var out, errOut tracetest.Buffer
	done := make(chan int, 1)
	go func() { done <- Run(ctx, args, strings.NewReader(""), &out, &errOut) }()
	// Armed, or exited early: either ends the wait.
	waitCtx, stopWait := context.WithCancel(ctx)
	go func() {
		code := <-done
		done <- code
		stopWait()
	}()
	_, err := errOut.Wait(waitCtx, func(s string) bool { return strings.Contains(s, "Ctrl-C to stop") })
	stopWait()
	if err != nil {
		t.Fatalf("tracep %s did not arm: %v; stderr:\n%s", args[0], err, errOut.String())
	}
	act()
	cancel()
	require.Equal(t, ExitOK, <-done, errOut.String())
	return out.String(), errOut.String()
}
