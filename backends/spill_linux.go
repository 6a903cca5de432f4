package backends

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// spillFile returns a temporary file with no name: made with O_TMPFILE,
// it never appears in the directory, so a process killed at any instant
// leaves nothing behind. File systems without O_TMPFILE get a named file,
// removed at once.
func spillFile() (*os.File, error) {
	dir := os.TempDir()
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(tracep queue)"), nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return namedSpillFile()
}
