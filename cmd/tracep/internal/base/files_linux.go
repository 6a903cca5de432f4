package base

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// createUnnamed creates an unnamed file in dir (O_TMPFILE): a tracep killed
// while writing it leaves nothing behind. publish gives it a temporary
// name beside path and renames that over path, so the name exists only
// for that instant. ok is false when the filesystem cannot do it.
func createUnnamed(dir string) (f *os.File, publish func(path string) error, ok bool) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, nil, false
	}
	f = os.NewFile(uintptr(fd), dir)
	publish = func(path string) error {
		tmp := filepath.Join(dir, fmt.Sprintf(".%s.tmp%d", filepath.Base(path), os.Getpid()))
		os.Remove(tmp) // a leftover of an earlier tracep with this pid, killed in that instant
		// Linking through /proc needs no CAP_DAC_READ_SEARCH (AT_EMPTY_PATH does).
		if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	return f, publish, true
}
