package bpfcore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep"
)

// fileidKernfs is the file handle type of kernfs (cgroup2) inodes.
const fileidKernfs = 0xfe

// ErrNoCgroup2 is returned when no cgroup v2 hierarchy is mounted.
var ErrNoCgroup2 = errors.New("no cgroup2 mount")

// Cgroup2Mount returns where the cgroup v2 hierarchy is mounted, read from
// /proc/self/mountinfo (on a hybrid system it is not /sys/fs/cgroup).
func Cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	return parseCgroup2Mount(bufio.NewScanner(f))
}

func parseCgroup2Mount(s *bufio.Scanner) (string, error) {
	for s.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(s.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if fields[sep+1] == "cgroup2" {
			return unescapeMount(fields[4]), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", fmt.Errorf("%w: %w", ErrNoCgroup2, tracep.ErrNotSupported)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// CgroupID returns the cgroup v2 id of the cgroup directory at path, the
// value bpf_get_current_cgroup_id reports for its tasks.
func CgroupID(path string) (uint64, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err == nil && h.Type() == fileidKernfs && len(h.Bytes()) == 8 {
		return binary.NativeEndian.Uint64(h.Bytes()), nil
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup id of %s: %w", path, err)
	}
	return st.Ino, nil
}

// openCgroup returns an O_RDONLY fd of the cgroup v2 directory with id.
func openCgroup(id uint64) (int, error) {
	mnt, err := Cgroup2Mount()
	if err != nil {
		return -1, err
	}
	mfd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", mnt, err)
	}
	defer unix.Close(mfd)

	raw := make([]byte, 8)
	binary.NativeEndian.PutUint64(raw, id)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(fileidKernfs, raw), unix.O_RDONLY|unix.O_CLOEXEC)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("cgroup %d: %w", id, fs.ErrNotExist)
	}
	// open_by_handle_at needs CAP_DAC_READ_SEARCH; look for the id instead.
	path, werr := findCgroup(mnt, id)
	if werr != nil {
		return -1, fmt.Errorf("cgroup %d: %w", id, werr)
	}
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	return fd, nil
}

var errFound = errors.New("found")

func findCgroup(root string, id uint64) (string, error) {
	var found string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if got, err := CgroupID(p); err == nil && got == id {
			found = p
			return errFound
		}
		return nil
	})
	if found != "" {
		return found, nil
	}
	if err != nil && !errors.Is(err, errFound) {
		return "", err
	}
	return "", fs.ErrNotExist
}
