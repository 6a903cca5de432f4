package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep/tracetest"
)

func TestIntegrationCgroupLifecycle(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "creating a cgroup")
	cg, err := New()
	require.NoError(t, err)
	t.Cleanup(func() { cg.Close() })
	require.NotZero(t, cg.ID())

	// A daemon-like child that would outlive its parent stays in the cgroup
	// and is killed by Close.
	cmd := cg.Command("sleep", "300")
	require.NoError(t, cmd.Start())
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	require.NoError(t, err)
	require.Contains(t, string(b), "/"+filepath.Base(cg.Path())+"\n")

	require.NoError(t, cg.Close())
	require.Error(t, cmd.Wait(), "sleep must have been killed")
	require.NoDirExists(t, cg.Path())
	require.NoError(t, cg.Close(), "Close is idempotent")
}

// The id of a cgroup's directory opens, through its file handle or a
// search of the hierarchy, the same directory: what a cgroup scope puts in
// the cgroup array.
func TestIntegrationIDAndOpenByID(t *testing.T) {
	cg := tracetest.Open(t, New)
	id, err := ID(cg.Path())
	require.NoError(t, err)
	require.Equal(t, cg.ID(), id)
	var st unix.Stat_t
	require.NoError(t, unix.Stat(cg.Path(), &st))

	fd, err := OpenByID(id)
	require.NoError(t, err)
	defer unix.Close(fd)
	var fst unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &fst))
	require.Equal(t, st.Ino, fst.Ino)
	require.Equal(t, st.Dev, fst.Dev)

	root, err := Mount()
	require.NoError(t, err)
	found, err := find(root, id)
	require.NoError(t, err)
	require.Equal(t, cg.Path(), found)

	_, err = OpenByID(^uint64(0) - 1)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = find(root, ^uint64(0)-1)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestIntegrationSweepsLeftovers(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "creating a cgroup")
	root, err := Mount()
	require.NoError(t, err)
	// A pid that cannot exist (above pid_max) stands for a SIGKILLed run.
	stale := filepath.Join(root, prefix+"4194305.1")
	require.NoError(t, os.Mkdir(stale, 0o755))
	// A name that is not ours is never touched.
	foreign := filepath.Join(root, "not-tracep-"+strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, os.Mkdir(foreign, 0o755))
	// A tracer of another pid namespace: its pids are not ours to check.
	otherNS := filepath.Join(root, prefix+"4194305-12345.1")
	require.NoError(t, os.Mkdir(otherNS, 0o755))
	t.Cleanup(func() { os.Remove(foreign); os.Remove(stale); os.Remove(otherNS) })

	sweep(root)
	require.NoDirExists(t, stale)
	require.DirExists(t, foreign)
	require.DirExists(t, otherNS)
}

func TestIntegrationKillWaitsForEmpty(t *testing.T) {
	cg := tracetest.Open(t, New)
	cmd := cg.Command("sh", "-c", "sleep 300 & sleep 300 & wait")
	require.NoError(t, cmd.Start())
	require.NoError(t, cg.Kill(10*time.Second))
	procs, err := os.ReadFile(filepath.Join(cg.Path(), "cgroup.procs"))
	require.NoError(t, err)
	require.Empty(t, strings.TrimSpace(string(procs)))
	_ = cmd.Wait()
}

func TestOwnerOf(t *testing.T) {
	for name, want := range map[string]struct {
		pid int
		ns  uint64
		ok  bool
	}{
		"tracep.12.3":            {12, 0, true},
		"tracep.12-4026532000.3": {12, 4026532000, true},
		"tracep.12-0.3":          {},
		"tracep.12-x.3":          {},
		"tracep.-1.3":            {},
		"tracep.12":              {},
		"other.12.3":             {},
	} {
		pid, ns, ok := ownerOf(name)
		require.Equal(t, want.ok, ok, name)
		if ok {
			require.Equal(t, want.pid, pid, name)
			require.Equal(t, want.ns, ns, name)
		}
	}
}
