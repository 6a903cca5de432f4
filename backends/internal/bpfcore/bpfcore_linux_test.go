package bpfcore

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep"
)

func TestParseCgroup2Mount(t *testing.T) {
	const hybrid = `22 27 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,name=systemd
`
	got, err := parseCgroup2Mount(bufio.NewScanner(strings.NewReader(hybrid)))
	require.NoError(t, err)
	require.Equal(t, "/sys/fs/cgroup/unified", got)

	got, err = parseCgroup2Mount(bufio.NewScanner(strings.NewReader(
		"40 1 0:30 / /mnt/cg\\040two rw - cgroup2 none rw\n")))
	require.NoError(t, err)
	require.Equal(t, "/mnt/cg two", got)

	_, err = parseCgroup2Mount(bufio.NewScanner(strings.NewReader(
		"32 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\ngarbage\n")))
	require.ErrorIs(t, err, ErrNoCgroup2)
	require.ErrorIs(t, err, tracep.ErrNotSupported)
}

// A cgroup id found by CgroupID opens, through its file handle, the same
// directory: what a cgroup scope puts in the cgroup array.
func TestIntegrationCgroupByID(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("TRACEP_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("needs root")
		}
		t.Skip("needs root (TRACEP_REQUIRE_PRIVILEGED=1 makes this fail)")
	}
	mnt, err := Cgroup2Mount()
	require.NoError(t, err)
	dir := filepath.Join(mnt, fmt.Sprintf("tracep-bpfcore-test-%d", os.Getpid()))
	require.NoError(t, os.Mkdir(dir, 0o755))
	t.Cleanup(func() { require.NoError(t, os.Remove(dir)) })

	id, err := CgroupID(dir)
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Stat(dir, &st))
	require.Equal(t, st.Ino, id)

	fd, err := openCgroup(id)
	require.NoError(t, err)
	defer unix.Close(fd)
	var fst unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &fst))
	require.Equal(t, st.Ino, fst.Ino)
	require.Equal(t, st.Dev, fst.Dev)

	found, err := findCgroup(mnt, id)
	require.NoError(t, err)
	require.Equal(t, dir, found)

	_, err = openCgroup(^uint64(0) - 1)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestUnescapeMount(t *testing.T) {
	require.Equal(t, `/a b\x`, unescapeMount(`/a\040b\134x`))
	require.Equal(t, "/plain", unescapeMount("/plain"))
	require.Equal(t, `/bad\09`, unescapeMount(`/bad\09`))
	require.Equal(t, `/end\04`, unescapeMount(`/end\04`))
}
