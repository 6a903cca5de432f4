package cgroup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/procfs"
	"github.com/tracep/tracep/tracep"
)

const prefix = "tracep."

var (
	seq          atomic.Uint64
	sweepOnce    sync.Once
	sweepOwnOnce sync.Once
)

// Cgroup is a cgroup v2 directory made for one workload.
type Cgroup struct {
	path string
	id   uint64
	fd   int

	// The watchdog kills the cgroup if this process dies without closing
	// it: a SIGKILLed tracer must not leave its command running untraced.
	watchdog *exec.Cmd
	alive    *os.File // the watchdog reads EOF when it is closed

	closeOnce sync.Once
	closeErr  error
}

// watchdogScript waits for its standard input to close (the tracer closed
// the cgroup, or died) and then kills whatever is still in the cgroup, its
// descriptor 3: a small shell process so that it needs nothing from the
// program that made the cgroup (a test binary, say), and reaches the cgroup
// through /proc/self/fd/3, which works for a private mount too. Builtins
// only: after a normal Close the cgroup is gone and the watchdog exits
// without starting a process (a cat there made every Close 7-8 ms long).
const watchdogScript = `read _; d=/proc/self/fd/3; if [ -e "$d/cgroup.kill" ]; then echo 1 >"$d/cgroup.kill"; elif [ -e "$d/cgroup.procs" ]; then while read -r p; do kill -9 "$p"; done <"$d/cgroup.procs"; fi 2>/dev/null; exit 0`

// startWatchdog starts the cgroup's watchdog: in a session of its own, so
// that a Ctrl-C for the tracer's terminal does not reach it.
func (c *Cgroup) startWatchdog() error {
	dfd, err := unix.Open(c.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	dir := os.NewFile(uintptr(dfd), c.path)
	defer dir.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript)
	cmd.Stdin = r
	cmd.ExtraFiles = []*os.File{dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("start cgroup watchdog: %w", err)
	}
	c.watchdog, c.alive = cmd, w
	return nil
}

// New makes a fresh cgroup under the root of the cgroup v2 hierarchy (see
// Find), or, when this process may not write there, under its own cgroup
// when that is a subtree delegated to its user. Making one needs
// CAP_DAC_OVERRIDE (or root) in the first case, and nothing in the second.
func New() (*Cgroup, error) {
	h, err := Find()
	if err != nil {
		return nil, err
	}
	root := h.Path
	if h.ReadOnly {
		return nil, fmt.Errorf("create cgroup: the cgroup2 mount %s is read-only, and %w", h.MountPoint, h.PrivateErr)
	}
	sweepOnce.Do(func() { sweep(root) })
	name := fmt.Sprintf("%s%s.%d", prefix, owner(), seq.Add(1))
	path := filepath.Join(root, name)
	err = os.Mkdir(path, 0o755)
	if errors.Is(err, os.ErrPermission) {
		// A subtree delegated to this user, holding this process.
		if own, ok := ownCgroup(root); ok {
			sweepOwnOnce.Do(func() { sweep(own) })
			if os.Mkdir(filepath.Join(own, name), 0o755) == nil {
				path, err = filepath.Join(own, name), nil
			}
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, &tracep.PermissionError{Op: "create cgroup " + path,
				Capability: "CAP_DAC_OVERRIDE (or a cgroup v2 subtree delegated to this user, holding tracep)", Err: err}
		}
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		_ = os.Remove(path)
		return nil, fmt.Errorf("stat cgroup: %w", err)
	}
	// On cgroup2 the cgroup id is the kernfs inode number of its directory.
	c := &Cgroup{path: path, id: st.Ino, fd: fd}
	if err := c.startWatchdog(); err != nil {
		unix.Close(fd)
		_ = os.Remove(path)
		return nil, err
	}
	return c, nil
}

// ownCgroup returns the directory, below root, of this process's cgroup v2
// when it is not root itself.
func ownCgroup(root string) (string, bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok && rel != "/" && !strings.HasPrefix(rel, "/..") {
			return filepath.Join(root, rel), true
		}
	}
	return "", false
}

// owner is the part of a cgroup's name that says which process made it:
// its pid, and in a pid namespace other than the initial one, the
// namespace's inode too (tracep.PID-NS.N), so that a tracer never mistakes
// another namespace's pids for its own.
func owner() string {
	pid := strconv.Itoa(os.Getpid())
	if ns := procfs.NSInode("pid"); ns != procfs.InitPidNS {
		return pid + "-" + strconv.FormatUint(ns, 10)
	}
	return pid
}

// ID is the cgroup id that bpf_get_current_cgroup_id returns for its members.
func (c *Cgroup) ID() uint64 { return c.id }

// Path is the cgroup's directory.
func (c *Cgroup) Path() string { return c.path }

// FD is an O_PATH descriptor of the directory, for SysProcAttr.CgroupFD.
// It is valid until Close.
func (c *Cgroup) FD() int { return c.fd }

// Enroll makes cmd start inside the cgroup (clone3 with
// CLONE_INTO_CGROUP), so that it is in it from its first instruction. The
// rest of cmd.SysProcAttr is kept.
func (c *Cgroup) Enroll(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = c.fd
}

// Command returns exec.Command(name, args...) enrolled in the cgroup.
func (c *Cgroup) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	c.Enroll(cmd)
	return cmd
}

// Kill kills every process in the cgroup and waits until it is empty.
func (c *Cgroup) Kill(timeout time.Duration) error {
	return killAndWait(c.path, timeout)
}

// WaitEmpty waits until no process is left in the cgroup, or ctx is done.
func (c *Cgroup) WaitEmpty(ctx context.Context) error {
	fd, err := unix.Open(filepath.Join(c.path, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup.events: %w", err)
	}
	defer unix.Close(fd)
	// ctx cannot interrupt poll(2), so wake it through an eventfd.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(efd)
	stop := context.AfterFunc(ctx, func() {
		unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	})
	defer stop()
	for {
		populated, err := readPopulated(fd)
		if err != nil || !populated {
			return err
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}, {Fd: int32(efd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll cgroup.events: %w", err)
		}
		if fds[1].Revents != 0 {
			return ctx.Err()
		}
	}
}

// Close kills what is left in the cgroup, waits for it to empty and removes
// it. It is idempotent.
func (c *Cgroup) Close() error {
	c.closeOnce.Do(func() {
		err := killAndWait(c.path, 10*time.Second)
		unix.Close(c.fd)
		if rerr := os.Remove(c.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove cgroup: %w", rerr))
		}
		// The cgroup is gone: the watchdog wakes, finds nothing, exits.
		c.alive.Close()
		_ = c.watchdog.Wait()
		c.closeErr = err
	})
	return c.closeErr
}

// killAndWait writes cgroup.kill (Linux 5.14+) and waits for cgroup.events
// to say "populated 0". The kernel notifies writers of cgroup.events with
// POLLPRI, so this waits on the real signal rather than polling a file.
func killAndWait(path string, timeout time.Duration) error {
	events := filepath.Join(path, "cgroup.events")
	fd, err := unix.Open(events, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("open cgroup.events: %w", err)
	}
	defer unix.Close(fd)
	if populated, err := readPopulated(fd); err != nil || !populated {
		return err
	}
	if err := os.WriteFile(filepath.Join(path, "cgroup.kill"), []byte("1"), 0); err != nil {
		if err := killProcs(path); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		populated, err := readPopulated(fd)
		if err != nil || !populated {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("cgroup %s still populated after %v", path, timeout)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll cgroup.events: %w", err)
		}
	}
}

func readPopulated(fd int) (bool, error) {
	buf := make([]byte, 256)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		return false, fmt.Errorf("read cgroup.events: %w", err)
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return v == "1", nil
		}
	}
	return false, nil
}

// killProcs is the fallback for kernels without cgroup.kill.
func killProcs(path string) error {
	b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("read cgroup.procs: %w", err)
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	return nil
}

// sweep removes the cgroups of tracep processes that no longer exist: of
// this pid namespace, the only one whose pids this process can check.
func sweep(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	ns := procfs.NSInode("pid")
	if ns == procfs.InitPidNS {
		ns = 0
	}
	for _, e := range ents {
		pid, pidNS, ok := ownerOf(e.Name())
		if !ok || pidNS != ns || !e.IsDir() || pid == os.Getpid() || processExists(pid) {
			continue
		}
		path := filepath.Join(root, e.Name())
		_ = killAndWait(path, 5*time.Second)
		_ = os.Remove(path)
	}
}

// ownerOf parses the pid, and the pid namespace (0 for the initial one), out
// of a name made by New.
func ownerOf(name string) (pid int, pidNS uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, 0, false
	}
	p, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, 0, false
	}
	if pp, n, two := strings.Cut(p, "-"); two {
		pidNS, err := strconv.ParseUint(n, 10, 64)
		if err != nil || pidNS == 0 {
			return 0, 0, false
		}
		pid, err := strconv.Atoi(pp)
		return pid, pidNS, err == nil && pid > 0
	}
	pid, err := strconv.Atoi(p)
	return pid, 0, err == nil && pid > 0
}

func processExists(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// fileidKernfs is the file handle type of kernfs (cgroup2) inodes.
const fileidKernfs = 0xfe

// ID returns the id of the cgroup v2 directory at path: the value
// bpf_get_current_cgroup_id reports for its members.
func ID(path string) (uint64, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err == nil && h.Type() == fileidKernfs && len(h.Bytes()) == 8 {
		return binary.NativeEndian.Uint64(h.Bytes()), nil
	}
	// Without file handles, the id is the directory's inode number.
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup id of %s: %w", path, err)
	}
	return st.Ino, nil
}

// OpenByID returns an O_RDONLY descriptor of the cgroup v2 directory with
// id, for BPF_MAP_TYPE_CGROUP_ARRAY. A cgroup that does not exist fails
// with an error matching fs.ErrNotExist. Without CAP_DAC_READ_SEARCH
// (open_by_handle_at) the hierarchy is searched for the id instead.
func OpenByID(id uint64) (int, error) {
	mnt, err := Mount()
	if err != nil {
		return -1, err
	}
	mfd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", mnt, err)
	}
	defer unix.Close(mfd)

	raw := binary.NativeEndian.AppendUint64(nil, id)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(fileidKernfs, raw), unix.O_RDONLY|unix.O_CLOEXEC)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("cgroup %d: %w", id, fs.ErrNotExist)
	}
	path, err := find(mnt, id)
	if err != nil {
		return -1, fmt.Errorf("cgroup %d: %w", id, err)
	}
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	return fd, nil
}

// find returns the directory below root whose cgroup id is id.
func find(root string, id uint64) (string, error) {
	var found string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if got, err := ID(p); err == nil && got == id {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	switch {
	case found != "":
		return found, nil
	case err != nil:
		return "", err
	}
	return "", fs.ErrNotExist
}

// Procs returns the processes in the cgroup and the cgroups below it, with
// their comm and parent as /proc has them now; a process that exits while
// they are read is left out.
func (c *Cgroup) Procs() ([]tracep.Proc, error) {
	var out []tracep.Proc
	err := filepath.WalkDir(c.path, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return fmt.Errorf("read cgroup.procs: %w", err)
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			comm, err := os.ReadFile(filepath.Join("/proc", f, "comm"))
			if err != nil {
				continue // gone
			}
			ppid, _ := procfs.PPID(pid)
			out = append(out, tracep.Proc{PID: int32(pid), PPID: int32(ppid), Comm: strings.TrimSuffix(string(comm), "\n"), CgroupID: c.id})
		}
		return nil
	})
	return out, err
}
