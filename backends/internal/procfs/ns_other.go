//go:build !linux

package procfs

// NSInode returns 0: namespaces exist only on Linux.
func NSInode(typ string) uint64 { return 0 }

// Namespaces reports none: namespaces exist only on Linux.
func Namespaces() (cgroupNS, pidNS, userNS bool) { return false, false, false }

// ForeignProc reports false: /proc exists only on Linux.
func ForeignProc() bool { return false }
