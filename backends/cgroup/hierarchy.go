package cgroup

// RootCgroupID is the id of the root of the cgroup v2 hierarchy: the
// cgroup whose hooks see every socket of the system.
const RootCgroupID = 1

// Hierarchy is the cgroup v2 hierarchy this process uses, as Find found it.
type Hierarchy struct {
	// Path is where this process reaches the root of the hierarchy: a
	// mount point, or /proc/self/fd/N for a private mount.
	Path string
	// MountPoint is the visible mount point Path is; empty when Private.
	MountPoint string
	// Visible are the cgroup2 mount points this process sees, best first.
	Visible []string
	// Private: no usable cgroup2 mount is visible (none, or read-only), so
	// tracep mounted one for itself: a detached mount that no other
	// process sees and that goes away when tracep exits.
	Private bool
	// ReadOnly: the mount is read-only (no cgroup can be made in it) and
	// no private one could be mounted (PrivateErr says why).
	ReadOnly bool
	// PrivateErr is why a private mount could not be made, when one was
	// wanted.
	PrivateErr error
	// RootID is the cgroup id of the root reached: RootCgroupID for the
	// system's, another when this process's cgroup namespace is rooted
	// below the top (or the mount shows a subtree).
	RootID uint64
}
