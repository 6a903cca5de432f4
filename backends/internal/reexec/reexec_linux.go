package reexec

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseInherited closes the descriptors from first on that the starting
// process passed on without meaning to (those of its own parent, opened
// without close-on-exec): a helper outliving it would keep them open, a
// pipe's reader waiting for its end, say. The Go runtime and tracep's
// dependencies open everything close-on-exec, so those are left alone.
func CloseInherited(first int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < first {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}
