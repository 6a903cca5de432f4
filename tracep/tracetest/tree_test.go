package tracetest

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ppid reads the parent of pid from /proc (Linux).
func ppid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(f[1])
	require.NoError(t, err)
	return n
}

func TestStartTree(t *testing.T) {
	tr := StartTree(t, nil, "/bin/sh", "-c", `echo "pid $$"; exit 3`)
	if runtime.GOOS == "linux" {
		child := ppid(t, tr.Grandchild)
		require.NotEqual(t, tr.Root.Process.Pid, child)
		require.Equal(t, tr.Root.Process.Pid, ppid(t, child))
	}
	require.Empty(t, tr.Output.String(), "the grandchild waits")
	require.NoError(t, tr.Release())
	var ee *exec.ExitError
	require.ErrorAs(t, tr.Wait(Context(t)), &ee)
	require.Equal(t, 3, ee.ExitCode(), "the command's status passes up")
	require.Equal(t, "pid "+strconv.Itoa(tr.Grandchild)+"\n", tr.Output.String(), "the command runs as the grandchild")
}

// A tree that is never released is killed when the test ends.
func TestStartTreeKilled(t *testing.T) {
	var tr *Tree
	t.Run("unreleased", func(t *testing.T) { tr = StartTree(t, nil, "/bin/true") })
	require.Error(t, tr.Wait(Context(t)))
}
