package base

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A file tracep writes replaces a symlink instead of following it, is
// 0644, and is never a directory or half written.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o600))
	link := filepath.Join(dir, "out.pem")
	require.NoError(t, os.Symlink(victim, link))

	require.NoError(t, WriteFile(link, []byte("new\n")))
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	require.Equal(t, "precious\n", string(b), "the symlink's target is untouched")
	st, err := os.Lstat(link)
	require.NoError(t, err)
	require.True(t, st.Mode().IsRegular(), "the link itself was replaced")
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	b, err = os.ReadFile(link)
	require.NoError(t, err)
	require.Equal(t, "new\n", string(b))

	require.ErrorContains(t, WriteFile(dir, []byte("x")), "not a regular file")
	require.ErrorContains(t, WriteFile(filepath.Join(dir, "no", "such"), []byte("x")), "no such file or directory")
	require.NoError(t, WriteFile("/dev/null", []byte("x")), "a device is written in place")
	left, err := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary file left")
}
