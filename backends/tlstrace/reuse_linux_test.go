package tlstrace_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// inode returns the inode number of the file at path.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(path, &st))
	return st.Ino
}

// A new file that gets the inode number of a deleted one the tracer knew
// (ext4 gives it at once) is new to the tracer: reported by the kernel,
// inspected and probed before it runs. The two files have the same size
// and device; the inode's generation and change time tell them apart.
func TestIntegrationInodeReuse(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	client := readFile(t, goClient(t, "gocl"))
	// Without TLS code, and as long as the client: /bin/true, padded.
	plain := make([]byte, len(client))
	copy(plain, readFile(t, "/bin/true"))
	dir := t.TempDir()
	sc := startScoped(t, tlstrace.Config{})

	// Known to the tracer, as if a traced process had executed it.
	old := filepath.Join(dir, "old")
	require.NoError(t, os.WriteFile(old, plain, 0o755))
	require.NoError(t, tlstrace.InspectNow(old))
	reused := inode(t, old)
	require.NoError(t, os.Remove(old))

	// Files are created until one gets the inode number (others may take
	// it first on a busy file system); the rest are left there, so that
	// the search moves on.
	fresh := ""
	for i := range 100 {
		path := filepath.Join(dir, "new"+strconv.Itoa(i))
		require.NoError(t, os.WriteFile(path, client, 0o755))
		if inode(t, path) == reused {
			fresh = path
			break
		}
	}
	if fresh == "" {
		t.Skipf("the file system of %s gave no new file the inode number %d", dir, reused)
	}

	// Held until probed (whether the test sees the stop or not: a
	// continuation sent before the stop took effect cancels it), so its
	// first write is seen.
	cmd := sc.cg.Command(fresh, "https://example.test/")
	require.NoError(t, n.Start(cmd))
	_, _, exit := waitStops(t, cmd.Process.Pid)
	require.Zero(t, exit)
	pid := cmd.Process.Pid
	cmd.Process.Release()

	var probed []string
	for _, f := range sc.s.Files() {
		probed = append(probed, f.Path)
	}
	require.Contains(t, probed, fresh)
	evs := sc.close()
	require.Len(t, ops(evs, tracep.TLSOpWrite, pid), 1, tracetest.Lines(evs))
	require.Len(t, ops(evs, tracep.TLSOpRead, pid), 1, tracetest.Lines(evs))
}
