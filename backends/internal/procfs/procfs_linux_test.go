package procfs

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep/tracetest"
)

// Descendants finds a running grandchild; AllPIDs lists every process.
func TestDescendants(t *testing.T) {
	tr := tracetest.StartTree(t, nil, "/bin/true")
	root := tr.Root.Process.Pid
	child, err := PPID(tr.Grandchild)
	require.NoError(t, err)
	ppid, err := PPID(child)
	require.NoError(t, err)
	require.Equal(t, root, ppid)

	got, err := Descendants([]int{root})
	require.NoError(t, err)
	require.Equal(t, []int{root, child, tr.Grandchild}, got)
	got, err = Descendants([]int{child})
	require.NoError(t, err)
	require.Equal(t, []int{child, tr.Grandchild}, got)

	all, err := AllPIDs()
	require.NoError(t, err)
	require.Contains(t, all, os.Getpid())
	require.Contains(t, all, tr.Grandchild)
	require.NoError(t, tr.Release())
	require.NoError(t, tr.Wait(tracetest.Context(t)))

	_, err = PPID(tr.Grandchild)
	require.ErrorIs(t, err, os.ErrNotExist)
}
