package bpfcore

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The cache of present features is read back only when it is root's own,
// not writable by others, and written under the same kernel release; it
// names only features tracep knows.
func TestFeatureCacheFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache is root's: a file of another owner is ignored")
	}
	dir := filepath.Join(t.TempDir(), "tracep")
	path := filepath.Join(dir, "features.boot")
	require.NoError(t, writeFeatureCache(path, "6.18.0", []string{"ringbuf", "tp_btf", "no-such-feature"}))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	require.Equal(t, map[string]bool{"ringbuf": true, "tp_btf": true}, readFeatureCache(path, "6.18.0"))
	require.Empty(t, readFeatureCache(path, "6.19.0"), "another kernel release")
	require.Empty(t, readFeatureCache(filepath.Join(dir, "missing"), "6.18.0"))

	require.NoError(t, os.Chmod(path, 0o662))
	require.Empty(t, readFeatureCache(path, "6.18.0"), "writable by others")
	require.NoError(t, os.Chmod(path, 0o600))

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(path, link))
	require.Empty(t, readFeatureCache(link, "6.18.0"), "a symlink")

	open := t.TempDir()
	require.NoError(t, os.Chmod(open, 0o777))
	require.Error(t, writeFeatureCache(filepath.Join(open, "f"), "6.18.0", []string{"ringbuf"}), "a directory others may write")
}

// keepNewest keeps the n most recently modified files of its prefix and
// leaves the others alone.
func TestKeepNewest(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i := range 10 {
		path := filepath.Join(dir, "btf.boot."+strconv.Itoa(i))
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		mod := base.Add(time.Duration(i) * time.Minute)
		require.NoError(t, os.Chtimes(path, mod, mod))
	}
	other := filepath.Join(dir, "features.boot")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	require.NoError(t, os.Chtimes(other, base, base))

	keepNewest(dir, "btf.boot.", 8)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"features.boot", "btf.boot.2", "btf.boot.3", "btf.boot.4", "btf.boot.5",
		"btf.boot.6", "btf.boot.7", "btf.boot.8", "btf.boot.9"}, names)
	keepNewest(dir, "btf.boot.", 8)
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 9, "nothing more to remove")
}
