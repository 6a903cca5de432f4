package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/harness/testenv"
	"github.com/tracep/tracep/tracep"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            error
	}{
		{"hybrid", "31 1 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified", nil},
		{"pure v2", "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup", nil},
		{"escaped", "41 31 0:38 / /mnt/my\\040cg rw - cgroup2 none rw\n", "/mnt/my cg", nil},
		{"v1 only", "35 31 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "", tracep.ErrNotSupported},
		{"garbage", "nonsense\n\n - \n", "", tracep.ErrNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMountinfo([]byte(tc.in))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestIntegrationCgroupLifecycle(t *testing.T) {
	testenv.SkipUnlessRoot(t, "creating a cgroup")
	cg, err := New()
	require.NoError(t, err)
	t.Cleanup(func() { cg.Close() })
	require.NotZero(t, cg.ID())

	// A daemon-like child that would outlive its parent stays in the cgroup
	// and is killed by Close.
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
	require.NoError(t, cmd.Start())
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	require.NoError(t, err)
	require.Contains(t, string(b), "/"+filepath.Base(cg.Path())+"\n")

	require.NoError(t, cg.Close())
	require.Error(t, cmd.Wait(), "sleep must have been killed")
	require.NoDirExists(t, cg.Path())
	require.NoError(t, cg.Close(), "Close is idempotent")
}

func TestIntegrationSweepsLeftovers(t *testing.T) {
	testenv.SkipUnlessRoot(t, "creating a cgroup")
	root, err := Mount()
	require.NoError(t, err)
	// A pid that cannot exist (above pid_max) stands for a SIGKILLed run.
	stale := filepath.Join(root, prefix+"4194305.1")
	require.NoError(t, os.Mkdir(stale, 0o755))
	// A name that is not ours is never touched.
	foreign := filepath.Join(root, "not-tracep-"+strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, os.Mkdir(foreign, 0o755))
	t.Cleanup(func() { os.Remove(foreign); os.Remove(stale) })

	sweep(root)
	require.NoDirExists(t, stale)
	require.DirExists(t, foreign)
}

func TestIntegrationKillWaitsForEmpty(t *testing.T) {
	testenv.SkipUnlessRoot(t, "creating a cgroup")
	cg, err := New()
	require.NoError(t, err)
	defer cg.Close()
	cmd := exec.Command("sh", "-c", "sleep 300 & sleep 300 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
	require.NoError(t, cmd.Start())
	require.NoError(t, cg.Kill(10*time.Second))
	procs, err := os.ReadFile(filepath.Join(cg.Path(), "cgroup.procs"))
	require.NoError(t, err)
	require.Empty(t, strings.TrimSpace(string(procs)))
	_ = cmd.Wait()
}
