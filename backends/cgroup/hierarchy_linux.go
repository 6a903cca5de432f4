package cgroup

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/procfs"

	"github.com/tracep/tracep/tracep"
)

var found struct {
	once sync.Once
	h    *Hierarchy
	err  error
}

// Find returns the cgroup v2 hierarchy this process uses, found once: the
// best visible cgroup2 mount (read-write, showing the root of this cgroup
// namespace), wherever it is mounted; when none is visible or usable (under
// `ip netns exec`, which remounts /sys; in a container with no or a
// read-only cgroup mount), a private mount of its own, which needs
// CAP_SYS_ADMIN. Without either it fails with an error wrapping
// tracep.ErrNotSupported, or a *tracep.PermissionError when only the
// privilege to mount one is missing.
func Find() (*Hierarchy, error) {
	found.once.Do(func() { found.h, found.err = findHierarchy() })
	return found.h, found.err
}

func findHierarchy() (*Hierarchy, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	h := &Hierarchy{}
	var readOnly string
	for _, m := range parseMounts(b) {
		if !isCgroup2(m.point) {
			continue // covered by a later mount
		}
		h.Visible = append(h.Visible, m.point)
		if m.readOnly || unix.Access(m.point, unix.W_OK) == unix.EROFS {
			if readOnly == "" {
				readOnly = m.point
			}
			continue
		}
		if h.Path == "" {
			h.Path, h.MountPoint = m.point, m.point
		}
	}
	if h.Path == "" {
		fd, err := mountPrivate()
		switch {
		case err == nil:
			h.Path, h.Private = fdPath(fd), true
		case readOnly != "":
			h.Path, h.MountPoint, h.ReadOnly, h.PrivateErr = readOnly, readOnly, true, err
		default:
			return nil, err
		}
	}
	if h.RootID, err = ID(h.Path); err != nil {
		return nil, err
	}
	return h, nil
}

// Mount returns the path of the root of the cgroup v2 hierarchy (see Find).
func Mount() (string, error) {
	h, err := Find()
	if err != nil {
		return "", err
	}
	return h.Path, nil
}

var system struct {
	once sync.Once
	path string
	id   uint64
	err  error
}

// System returns a path to the root of the whole system's cgroup v2
// hierarchy, where hooks see every socket of the system, and its id,
// RootCgroupID. When this process's cgroup namespace is rooted below the
// top and the initial one cannot be entered (another pid namespace hides
// it, or CAP_SYS_ADMIN is missing there), it returns the root it can reach
// and that root's id instead: hooks there see only the processes below it.
func System() (path string, id uint64, err error) {
	system.once.Do(func() {
		h, err := Find()
		if err != nil {
			system.err = err
			return
		}
		system.path, system.id = h.Path, h.RootID
		if h.RootID == RootCgroupID {
			return
		}
		// The visible mount shows a subtree: a mount of our own shows the
		// root of our cgroup namespace; in another cgroup namespace, the
		// namespace of this pid namespace's init may be the system's.
		tries := []func() (int, error){mountPrivate}
		if procfs.NSInodeOf("/proc/1/ns/cgroup") != procfs.NSInode("cgroup") {
			tries = append(tries, func() (int, error) { return mountIn("/proc/1/ns/cgroup") })
		}
		for _, try := range tries {
			fd, err := try()
			if err != nil {
				continue
			}
			p := fdPath(fd)
			if id, err := ID(p); err == nil && id == RootCgroupID {
				system.path, system.id = p, id
				return
			}
			unix.Close(fd)
		}
	})
	return system.path, system.id, system.err
}

// isCgroup2 reports whether path is the root of a cgroup2 file system
// this process can reach.
func isCgroup2(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// fdPath is the path through which this process reaches the directory fd.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// mountPrivate mounts the cgroup2 hierarchy (the root of this thread's
// cgroup namespace) without attaching it anywhere: the mount is reached
// only through the descriptor returned, and vanishes with it.
func mountPrivate() (int, error) {
	fsfd, err := unix.Fsopen("cgroup2", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, mountErr("fsopen", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, mountErr("fsconfig", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, mountErr("fsmount", err)
	}
	return fd, nil
}

// mountErr explains why no cgroup2 hierarchy could be mounted.
func mountErr(op string, err error) error {
	if errors.Is(err, unix.EPERM) {
		return &tracep.PermissionError{Op: "no cgroup2 mount visible, and mounting one for tracep", Capability: "CAP_SYS_ADMIN", Err: err}
	}
	return fmt.Errorf("no cgroup2 mount visible, and mounting one failed: %s: %w: %w", op, tracep.ErrNotSupported, err)
}

// mountIn is mountPrivate in the cgroup namespace ns (a /proc/PID/ns/cgroup
// file), on a thread of its own that ends afterwards, so that no other
// thread changes namespace.
func mountIn(ns string) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		nsfd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{-1, err}
			return
		}
		err = unix.Setns(nsfd, unix.CLONE_NEWCGROUP)
		unix.Close(nsfd)
		if err != nil {
			ch <- result{-1, err}
			return
		}
		fd, err := mountPrivate()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}
