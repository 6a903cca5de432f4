package testnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep"
)

// dirPrefix starts the names of temporary directories; the creator's pid
// follows, so New can remove the ones a killed process left behind.
const dirPrefix = "tracep-testnet-"

// caBundles are the system trust bundles clients read (Go's list); the
// fake one is mounted over each that exists.
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// namespace is a goroutine locked to a thread that lives in a new network
// and mount namespace. The namespaces are anonymous: nothing refers to
// them but the thread, a file descriptor kept for dialing and what was
// created inside, so they go away when those do, even if the process is
// killed.
type namespace struct {
	dir    string
	caFile string

	reqs  chan func()
	stop  chan struct{}
	done  chan struct{} // closed when the goroutine returns
	tid   int           // of the namespace thread
	pidfd int           // of the thread, to wait for its exit; -1 if none

	mu    sync.RWMutex
	netfd int // the network namespace, for dial; -1 once closed

	closeOnce sync.Once
	closeErr  error
}

func startNamespace(cfg nsConfig) (*namespace, error) {
	removeLeftovers()
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	ns := &namespace{
		dir:    dir,
		caFile: filepath.Join(dir, "ca-certificates.crt"),
		reqs:   make(chan func()),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		pidfd:  -1,
		netfd:  -1,
	}
	mounts, err := ns.writeFiles(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ready := make(chan error, 1)
	go throwawayThread(func() { ns.run(cfg.addrs, mounts, ready) })
	if err := <-ready; err != nil {
		ns.close()
		return nil, err
	}
	return ns, nil
}

type bindMount struct{ source, target string }

// writeFiles writes the generated files and returns where to mount them.
func (ns *namespace) writeFiles(cfg nsConfig) ([]bindMount, error) {
	// Processes inside may run as other users and read SSL_CERT_FILE.
	if err := os.Chmod(ns.dir, 0o755); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	var mounts []bindMount
	add := func(name string, data []byte, targets ...string) error {
		source := filepath.Join(ns.dir, name)
		if err := os.WriteFile(source, data, 0o644); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
		for _, t := range targets {
			mounts = append(mounts, bindMount{source, t})
		}
		return nil
	}
	err := errors.Join(
		add("resolv.conf", cfg.resolvConf, "/etc/resolv.conf"),
		add("hosts", cfg.hosts, "/etc/hosts"),
		add("nsswitch.conf", cfg.nsswitch, "/etc/nsswitch.conf"),
		add(filepath.Base(ns.caFile), cfg.caBundle, caBundles...),
	)
	if err != nil {
		return nil, err
	}
	// A running nscd would answer host lookups from outside: hide its
	// socket behind an empty directory.
	empty := filepath.Join(ns.dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	return append(mounts, bindMount{empty, "/run/nscd"}, bindMount{empty, "/var/run/nscd"}), nil
}

// throwawayThread calls f on the current goroutine locked to its thread
// and does not unlock it: whatever f does to the thread (entering
// namespaces) cannot leak to other goroutines, and the thread exits when
// the goroutine does, unless f undid its changes and unlocked. Start it
// with the go statement.
func throwawayThread(f func()) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The runtime parks the main thread instead of ending it, so it
		// must not be changed. While it stays locked here, the new
		// goroutine cannot start on it.
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			throwawayThread(f)
		}()
		<-exited
		runtime.UnlockOSThread()
		return
	}
	f()
}

// run is the namespace goroutine, on a throwaway thread.
func (ns *namespace) run(addrs []netip.Addr, mounts []bindMount, ready chan<- error) {
	defer close(ns.done)
	ns.tid = unix.Gettid()
	if fd, err := unix.PidfdOpen(ns.tid, unix.PIDFD_THREAD); err == nil {
		ns.pidfd = fd
	}
	if err := enter(addrs, mounts); err != nil {
		ready <- err
		return
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		ready <- fmt.Errorf("testnet: open network namespace: %w", err)
		return
	}
	ns.netfd = fd
	ready <- nil
	for {
		select {
		case f := <-ns.reqs:
			f()
		case <-ns.stop:
			return
		}
	}
}

// errGone means the namespace thread ended while a request was pending.
var errGone = errors.New("testnet: namespace thread exited (runtime.Goexit in Do?)")

// doResult carries the outcome of f from the namespace goroutine.
type doResult struct {
	err      error
	returned bool
	panicked bool
	value    any
	stack    []byte
}

func (ns *namespace) do(f func() error) error {
	select {
	case <-ns.done:
		return fmt.Errorf("testnet: %w", tracep.ErrClosed)
	default:
	}
	// Only the namespace goroutine runs on its thread: this is a call from
	// inside f (Start in Do, say), which would otherwise deadlock.
	if unix.Gettid() == ns.tid {
		return f()
	}
	resc := make(chan doResult, 1)
	call := func() {
		var r doResult
		defer func() { resc <- r }() // also on runtime.Goexit
		defer func() {
			if !r.returned {
				if v := recover(); v != nil {
					r.panicked, r.value, r.stack = true, v, debug.Stack()
				}
			}
		}()
		r.err = f()
		r.returned = true
	}
	select {
	case ns.reqs <- call:
	case <-ns.done:
		return fmt.Errorf("testnet: %w", tracep.ErrClosed)
	}
	r := <-resc
	switch {
	case r.panicked:
		panic(fmt.Sprintf("%v\n\ngoroutine on the namespace thread:\n%s", r.value, r.stack))
	case !r.returned:
		return errGone
	}
	return r.err
}

// dial connects from a thread that joins only the network namespace for
// the call, so dials neither wait for nor block the namespace goroutine
// (Go's resolver dials from several goroutines at once, maybe while Do
// runs). The thread is back outside before dial returns.
func (ns *namespace) dial(ctx context.Context, network, address string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	resc := make(chan result, 1)
	go throwawayThread(func() {
		host, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			resc <- result{nil, fmt.Errorf("testnet: open network namespace: %w", err)}
			return
		}
		defer unix.Close(host)
		ns.mu.RLock()
		err = fmt.Errorf("testnet: %w", tracep.ErrClosed)
		if ns.netfd >= 0 {
			err = unix.Setns(ns.netfd, unix.CLONE_NEWNET)
		}
		ns.mu.RUnlock()
		if err != nil {
			resc <- result{nil, fmt.Errorf("testnet: enter network namespace: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		if unix.Setns(host, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // back outside: the thread may be reused
		}
		resc <- result{c, err}
	})
	r := <-resc
	return r.c, r.err
}

// close ends the namespace thread, waits until it has exited and removes
// the temporary directory.
func (ns *namespace) close() error {
	ns.closeOnce.Do(func() {
		ns.mu.Lock()
		if ns.netfd >= 0 {
			unix.Close(ns.netfd)
			ns.netfd = -1
		}
		ns.mu.Unlock()
		close(ns.stop)
		<-ns.done
		if ns.pidfd >= 0 {
			// The thread drops its namespaces before it can be seen
			// exiting: after this nothing of the process holds them.
			fds := []unix.PollFd{{Fd: int32(ns.pidfd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
					break
				}
			}
			unix.Close(ns.pidfd)
		}
		if err := os.RemoveAll(ns.dir); err != nil {
			ns.closeErr = fmt.Errorf("testnet: %w", err)
		}
	})
	return ns.closeErr
}

// enter moves the calling thread into new network and mount namespaces
// and sets them up.
func enter(addrs []netip.Addr, mounts []bindMount) error {
	if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWNS); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("testnet: %w", &tracep.PermissionError{
				Op:         "create network and mount namespaces",
				Capability: "CAP_SYS_ADMIN",
				Err:        err,
			})
		}
		return fmt.Errorf("testnet: unshare: %w", err)
	}
	// Keep the bind mounts below from propagating to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("testnet: make mounts private: %w", err)
	}
	index, err := loUp()
	if err != nil {
		return err
	}
	if err := addAddrs(index, addrs); err != nil {
		return err
	}
	mounted := make(map[string]bool)
	for _, m := range mounts {
		// Mount only over what exists: creating a mount point would
		// change the host. Symlinked targets are mounted once.
		target, err := filepath.EvalSymlinks(m.target)
		if err != nil || mounted[target] {
			continue
		}
		src, err1 := os.Stat(m.source)
		dst, err2 := os.Stat(target)
		if err1 != nil || err2 != nil || src.IsDir() != dst.IsDir() {
			continue
		}
		if err := unix.Mount(m.source, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("testnet: bind mount over %s: %w", target, err)
		}
		mounted[target] = true
	}
	return nil
}

// loUp brings lo up and returns its index.
func loUp() (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("testnet: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return 0, fmt.Errorf("testnet: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return 0, fmt.Errorf("testnet: get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return 0, fmt.Errorf("testnet: set lo up: %w", err)
	}
	ifr, _ = unix.NewIfreq("lo")
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("testnet: get lo index: %w", err)
	}
	return ifr.Uint32(), nil
}

// addAddrs adds each address to lo as a /32 or /128 with RTM_NEWADDR, so
// exactly those addresses are local and nothing else becomes routable.
func addAddrs(index uint32, addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("testnet: netlink socket: %w", err)
	}
	defer unix.Close(fd)
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("testnet: netlink bind: %w", err)
	}
	buf := make([]byte, 8192)
	for i, a := range addrs {
		seq := uint32(i + 1)
		if err := unix.Sendto(fd, newAddrRequest(seq, index, a), 0, kernel); err != nil {
			return fmt.Errorf("testnet: add %s to lo: %w", a, err)
		}
		if err := readAck(fd, seq, buf); err != nil {
			return fmt.Errorf("testnet: add %s to lo: %w", a, err)
		}
	}
	return nil
}

// newAddrRequest builds nlmsghdr + ifaddrmsg + IFA_LOCAL + IFA_ADDRESS.
func newAddrRequest(seq, index uint32, a netip.Addr) []byte {
	family, bits := unix.AF_INET, 32
	if a.Is6() {
		family, bits = unix.AF_INET6, 128
	}
	ne := binary.NativeEndian
	b := make([]byte, unix.SizeofNlMsghdr, 64)
	b = append(b, byte(family), byte(bits), unix.IFA_F_NODAD, unix.RT_SCOPE_UNIVERSE)
	b = ne.AppendUint32(b, index)
	for _, typ := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		b = ne.AppendUint16(b, uint16(unix.SizeofRtAttr+len(a.AsSlice())))
		b = ne.AppendUint16(b, typ)
		b = append(b, a.AsSlice()...) // 4 or 16 bytes: already aligned
	}
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.RTM_NEWADDR)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	ne.PutUint32(b[8:], seq)
	return b
}

// readAck waits for the NLMSG_ERROR answering seq and returns its errno.
func readAck(fd int, seq uint32, buf []byte) error {
	ne := binary.NativeEndian
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			size := int(ne.Uint32(b[0:]))
			if size < unix.SizeofNlMsghdr || size > len(b) {
				return errors.New("malformed netlink message")
			}
			if ne.Uint32(b[8:]) == seq && ne.Uint16(b[4:]) == unix.NLMSG_ERROR {
				if size < unix.SizeofNlMsghdr+4 {
					return errors.New("short netlink error message")
				}
				if errno := int32(ne.Uint32(b[unix.SizeofNlMsghdr:])); errno != 0 {
					return unix.Errno(-errno)
				}
				return nil
			}
			b = b[min(len(b), (size+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		}
	}
}

// removeLeftovers removes temporary directories of processes that no
// longer exist, such as a test binary killed by a timeout.
func removeLeftovers() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, m := range matches {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(m), dirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			os.RemoveAll(m)
		}
	}
}

// nsArg is the nsenter option that joins the namespace thread's namespace
// of kind (net, mnt). A thread's, not a file descriptor's: a number of a
// closed descriptor is soon reused, a thread id is not.
func (ns *namespace) nsArg(kind string) string { return nsArgFor(kind, ns.tid) }
