package tlstrace

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// systemLibraries finds what globbing the library directories and
// reading ld.so.cache find, each file once, and the machine's libssl.
func TestSystemLibraries(t *testing.T) {
	var names []string
	if b, err := os.ReadFile("/etc/ld.so.cache"); err == nil {
		entries, err := parseLDCache(b)
		require.NoError(t, err)
		for _, e := range entries {
			if isTLSLibName(e.name) {
				names = append(names, e.path)
			}
		}
	}
	for _, dir := range libDirs {
		for _, pattern := range []string{"libssl.so.*", "libgnutls.so.*"} {
			matches, err := filepath.Glob(filepath.Join(dir, pattern))
			require.NoError(t, err)
			names = append(names, matches...)
		}
	}
	var want []string
	for _, n := range names {
		if path, err := filepath.EvalSymlinks(n); err == nil && !slices.Contains(want, path) {
			want = append(want, path)
		}
	}
	got := systemLibraries()
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got)
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libssl.so.3"); err == nil {
		require.NotEmpty(t, got, "the machine's libssl")
	}
}

// appendTLSLibs reads a directory in several getdents calls and keeps the
// TLS libraries' names only, once per directory.
func TestAppendTLSLibs(t *testing.T) {
	dir := t.TempDir()
	for i := range 2000 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "libother"+strconv.Itoa(i)+".so.1"), nil, 0o644))
	}
	for _, name := range []string{"libssl.so.3", "libgnutls.so.30", "libssl3.so", "libgnutls-openssl.so.27", "libssl.so"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	seen := map[[2]uint64]bool{}
	buf := make([]byte, 4096) // many calls
	got := appendTLSLibs(nil, dir, buf, seen)
	slices.Sort(got)
	require.Equal(t, []string{filepath.Join(dir, "libgnutls.so.30"), filepath.Join(dir, "libssl.so.3")}, got)
	link := filepath.Join(t.TempDir(), "lib")
	require.NoError(t, os.Symlink(dir, link))
	require.Empty(t, appendTLSLibs(nil, link, buf, seen), "the same directory again")
	require.Empty(t, appendTLSLibs(nil, filepath.Join(dir, "none"), buf, map[[2]uint64]bool{}))
}
