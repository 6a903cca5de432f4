package backends

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/procfs"
)

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// tracefs says where tracefs is mounted; tracep does not need it (its
// uprobes are perf events, its tracepoints BPF programs).
func tracefs() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			pre, post, ok := strings.Cut(line, " - ")
			if f := strings.Fields(pre); ok && len(f) >= 5 && strings.HasPrefix(post, "tracefs ") {
				return f[4] + " (not needed)"
			}
		}
	}
	return "not mounted (not needed)"
}

func namespaces() (cgroupNS, pidNS, userNS bool) { return procfs.Namespaces() }
