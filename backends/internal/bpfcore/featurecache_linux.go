package bpfcore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel features found present are remembered for the rest of the
// boot, so that a later tracep skips their probes: probing waits on the
// kernel (a probe map's creation took 0.5–330 ms here, depending on what
// the previous process left the kernel freeing), and a kernel gains or
// loses no feature until it reboots. Only presence is remembered: a
// missing feature, or one that could not be probed (privilege), is probed
// again by every process. The file lives in a directory only root may
// write, on /run (a tmpfs emptied at boot), and is named by the boot and
// keyed by the kernel release; anything else found there is ignored.
var featureCacheDir = "/run/tracep"

// NoFeatureCacheEnv names the environment variable that, set to 1, makes
// tracep probe every feature and remember none (tests of the probes), and
// reduce the kernel's BTF anew (see reduceKernelBTF).
const NoFeatureCacheEnv = "TRACEP_NO_FEATURE_CACHE"

var featureCache struct {
	once    sync.Once
	present map[string]bool // read at the first use
	path    string          // "" when there is no cache
	release string
	boot    string // the boot's id
}

// cachedPresent reports whether an earlier process of this boot found
// feature name present.
func cachedPresent(name string) bool {
	loadFeatureCache()
	return featureCache.present[name]
}

func loadFeatureCache() {
	featureCache.once.Do(func() {
		featureCache.present = map[string]bool{}
		if os.Getenv(NoFeatureCacheEnv) == "1" || os.Geteuid() != 0 {
			return
		}
		boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err != nil {
			return
		}
		var u unix.Utsname
		if unix.Uname(&u) != nil {
			return
		}
		featureCache.release = unix.ByteSliceToString(u.Release[:])
		featureCache.boot = strings.TrimSpace(string(boot))
		featureCache.path = filepath.Join(featureCacheDir, "features."+featureCache.boot)
		featureCache.present = readFeatureCache(featureCache.path, featureCache.release)
	})
}

// readFeatureCache reads the features a cache file names present, or none
// when it is not root's own, is writable by others, or was written under
// another kernel release.
func readFeatureCache(path, release string) map[string]bool {
	out := map[string]bool{}
	f := openCacheFile(path)
	if f == nil {
		return out
	}
	defer f.Close()
	b := make([]byte, 4096)
	n, _ := f.Read(b)
	lines := strings.Split(string(bytes.TrimSpace(b[:n])), "\n")
	if len(lines) < 1 || lines[0] != "release "+release {
		return out
	}
	for _, l := range lines[1:] {
		if FeatureNamed(l) != nil {
			out[l] = true
		}
	}
	return out
}

// saveFeatureCache remembers the features found present, with those known
// already, when that adds any. Errors are ignored: the cache only saves
// time.
func saveFeatureCache(found []string) {
	loadFeatureCache()
	if featureCache.path == "" {
		return
	}
	names := slices.Clone(found)
	for n := range featureCache.present {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == len(featureCache.present) {
		return
	}
	_ = writeFeatureCache(featureCache.path, featureCache.release, names)
}

// writeFeatureCache writes the cache file path naming release and the
// features present.
func writeFeatureCache(path, release string, names []string) error {
	return writeCacheFile(path, ".features-", []byte("release "+release+"\n"+strings.Join(names, "\n")+"\n"))
}

// openCacheFile opens the cache file at path if it is a regular file of
// root's that only root may write, else returns nil.
func openCacheFile(path string) *os.File {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Uid != 0 || st.Mode&0o022 != 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil
	}
	return f
}

// writeCacheFile writes parts to the cache file path atomically, in its
// directory (made only root may write it), through a temporary file named
// with prefix.
func writeCacheFile(path, prefix string, parts ...[]byte) error {
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() || st.Mode().Perm()&0o022 != 0 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		return fmt.Errorf("cache: %s is not a private directory of root's", dir)
	}
	removeStale(dir, prefix)
	tmp, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return err
	}
	var werr error
	for _, p := range parts {
		if _, err := tmp.Write(p); err != nil && werr == nil {
			werr = err
		}
	}
	cerr := tmp.Close()
	err = errors.Join(werr, cerr)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// staleAfter is how old a temporary cache file is when removeStale takes it
// for one a killed tracep left (writing one takes milliseconds).
const staleAfter = 10 * time.Second

// cacheFiles returns the files of dir named with prefix.
func cacheFiles(dir, prefix string) []fs.FileInfo {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var files []fs.FileInfo
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			files = append(files, fi)
		}
	}
	return files
}

// removeStale removes the temporary cache files named with prefix in dir
// that are older than staleAfter.
func removeStale(dir, prefix string) {
	for _, fi := range cacheFiles(dir, prefix) {
		if time.Since(fi.ModTime()) > staleAfter {
			os.Remove(filepath.Join(dir, fi.Name()))
		}
	}
}

// keepNewest removes all but the n most recently modified cache files
// named with prefix in dir.
func keepNewest(dir, prefix string, n int) {
	files := cacheFiles(dir, prefix)
	if len(files) <= n {
		return
	}
	slices.SortFunc(files, func(a, b fs.FileInfo) int { return b.ModTime().Compare(a.ModTime()) })
	for _, fi := range files[n:] {
		os.Remove(filepath.Join(dir, fi.Name()))
	}
}

// removeOtherBoots removes the cache files named with prefix in dir that
// another boot than boot wrote (prefix then the boot's id).
func removeOtherBoots(dir, prefix, boot string) {
	for _, fi := range cacheFiles(dir, prefix) {
		if !strings.HasPrefix(fi.Name(), prefix+boot+".") {
			os.Remove(filepath.Join(dir, fi.Name()))
		}
	}
}
