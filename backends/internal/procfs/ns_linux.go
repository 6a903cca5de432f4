package procfs

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Inode numbers of the initial namespaces (include/linux/proc_ns.h).
const (
	InitCgroupNS = 0xEFFFFFFB
	InitPidNS    = 0xEFFFFFFC
	InitUserNS   = 0xEFFFFFFD
)

// NSInode returns the inode number of this process's namespace of type
// typ ("cgroup", "pid", "user", ...), 0 when it cannot be read.
func NSInode(typ string) uint64 { return nsIno("/proc/self/ns/" + typ) }

// NSInodeOf returns the inode number of a namespace file, 0 when it
// cannot be read.
func NSInodeOf(path string) uint64 { return nsIno(path) }

func nsIno(path string) uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// Namespaces says which of this process's namespaces are not the initial
// ones: in another cgroup namespace, cgroup paths are relative to its root;
// in another pid namespace, pids are; in another user namespace,
// capabilities count only for what that namespace owns (not BPF).
func Namespaces() (cgroupNS, pidNS, userNS bool) {
	return NSInode("cgroup") != InitCgroupNS, NSInode("pid") != InitPidNS, NSInode("user") != InitUserNS
}

// ForeignProc reports whether /proc belongs to another pid namespace than
// this process's (a pid namespace made without mounting its /proc, as
// `unshare --pid --fork` without --mount-proc does): its pids are then not
// the ones this process sees.
func ForeignProc() bool {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return false
	}
	return strings.TrimSpace(self) != strconv.Itoa(os.Getpid())
}
