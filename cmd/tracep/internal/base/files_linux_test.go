package base

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Until it is published, the file being written has no name: a tracep
// killed while writing -o or -audit leaves nothing in the directory.
func TestWriteFileUnnamedUntilDone(t *testing.T) {
	dir := t.TempDir()
	f, publish, ok := createUnnamed(dir)
	require.True(t, ok, "O_TMPFILE on the test's filesystem")
	_, err := f.Write([]byte("half"))
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing named while writing")
	require.NoError(t, publish(filepath.Join(dir, "out")))
	require.NoError(t, f.Close())
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "out", entries[0].Name())
}
