package nettrace_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/tracep"
)

// The test binary doubles as the traced workload: run with helperEnv set,
// it does what its arguments say and exits (see runHelper), so the
// workloads are exact, need no interpreter and print what the tests check
// the events against.
const helperEnv = "TRACEP_NETTRACE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(runHelper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runHelper runs one workload, printing "pid N" first and then one line per
// flow it made, and returns the exit status.
//
// A first argument "gated" makes the helper wait for a line on stdin first.
//
//	connect ADDR N        N TCP connects to ADDR, each closed at once; prints "port P"
//	selfconnect N         N TCP connects, each closed at once, to a listener of its own
//	hold ADDR MS          one TCP connect held MS milliseconds, then closed
//	refused ADDR          one TCP connect expected to fail; prints "errno E"
//	sendto ADDR...        one unconnected UDP socket sending to each ADDR twice; prints "port P"
//	udpconnect ADDR       a connected UDP socket sending twice; prints "port P"
//	udpprobe ADDR         a UDP socket connected to ADDR and closed without sending
//	unprivileged          checks that Supported and Start name the missing capabilities
//	holdgate ADDR         one TCP connect kept open until stdin is closed; prints "port P"
//	serve                 listens on 127.0.0.1:0, prints "listen ADDR", accepts one connection, echoes until EOF
//	mapped ADDR           TCP connect from an AF_INET6 socket to the v4-mapped form of IPv4 ADDR
func runHelper(args []string) int {
	fmt.Printf("pid %d\n", os.Getpid())
	if err := helper(args); err != nil {
		fmt.Fprintf(os.Stderr, "helper %q: %v\n", args, err)
		return 1
	}
	return 0
}

func helper(args []string) error {
	if len(args) > 0 && args[0] == "gated" {
		// Wait for the test to register the pid in a scope.
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return fmt.Errorf("gate: %w", err)
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("no workload")
	}
	switch args[0] {
	case "connect":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		ap := netip.MustParseAddrPort(args[1])
		for range n {
			port, err := rawConnect(ap, 0)
			if err != nil {
				return err
			}
			fmt.Printf("port %d\n", port)
		}
	case "selfconnect":
		// N connects to a listener of its own, so that the whole
		// workload (both ends) runs outside the tracer's process.
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ap := netip.MustParseAddrPort(ln.Addr().String())
		for range n {
			if _, err := rawConnect(ap, 0); err != nil {
				return err
			}
		}
	case "hold":
		ms, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		port, err := rawConnect(netip.MustParseAddrPort(args[1]), time.Duration(ms)*time.Millisecond)
		if err != nil {
			return err
		}
		fmt.Printf("port %d\n", port)
	case "refused":
		_, err := rawConnect(netip.MustParseAddrPort(args[1]), 0)
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return fmt.Errorf("connect succeeded or failed oddly: %v", err)
		}
		fmt.Printf("errno %d\n", int(errno))
	case "sendto":
		v6 := netip.MustParseAddrPort(args[1]).Addr().Is6()
		family := syscall.AF_INET
		if v6 {
			family = syscall.AF_INET6
		}
		fd, err := syscall.Socket(family, syscall.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		for _, a := range args[1:] {
			ap := netip.MustParseAddrPort(a)
			var sa syscall.Sockaddr
			if v6 {
				sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
			} else {
				sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
			}
			for range 2 {
				if err := syscall.Sendto(fd, []byte("x"), 0, sa); err != nil {
					return err
				}
			}
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			return err
		}
		switch l := sa.(type) {
		case *syscall.SockaddrInet4:
			fmt.Printf("port %d\n", l.Port)
		case *syscall.SockaddrInet6:
			fmt.Printf("port %d\n", l.Port)
		}
	case "udpprobe":
		// What getaddrinfo does to pick a source address (RFC 6724):
		// connect a UDP socket, read its local address, close it.
		c, err := net.Dial("udp", args[1])
		if err != nil {
			return err
		}
		fmt.Printf("port %d\n", c.LocalAddr().(*net.UDPAddr).Port)
		return c.Close()
	case "unprivileged":
		// Run as an ordinary user: both calls must say which
		// capabilities are missing.
		for _, err := range []error{nettrace.Supported(), startErr()} {
			var pe *tracep.PermissionError
			if !errors.As(err, &pe) || !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
				return fmt.Errorf("want a PermissionError naming CAP_NET_ADMIN, got %v", err)
			}
		}
		fmt.Println("ok")
	case "holdgate":
		// Connect, report, and keep the connection until stdin closes.
		c, err := net.Dial("tcp", args[1])
		if err != nil {
			return err
		}
		fmt.Printf("port %d\n", c.LocalAddr().(*net.TCPAddr).Port)
		_, _ = io.Copy(io.Discard, os.Stdin)
		return c.Close()
	case "udpconnect":
		c, err := net.Dial("udp", args[1])
		if err != nil {
			return err
		}
		for range 2 {
			if _, err := c.Write([]byte("x")); err != nil {
				return err
			}
		}
		fmt.Printf("port %d\n", c.LocalAddr().(*net.UDPAddr).Port)
		return c.Close()
	case "serve":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		fmt.Printf("listen %s\n", ln.Addr())
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		_, err = io.Copy(c, c)
		c.Close()
		return err
	case "mapped":
		ap := netip.MustParseAddrPort(args[1])
		mapped := netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
		port, err := rawConnect(mapped, 0)
		if err != nil {
			return err
		}
		fmt.Printf("port %d\n", port)
	default:
		return fmt.Errorf("unknown workload %q", args[0])
	}
	return nil
}

func startErr() error {
	s, err := nettrace.Start(context.Background(), nettrace.Config{}, func(tracep.Event) {})
	if err == nil {
		s.Close()
	}
	return err
}

// rawConnect makes one blocking TCP connect to ap with plain system calls,
// keeps it hold, closes it, and returns the local port. An IPv6 ap (v4-mapped
// included) uses an AF_INET6 socket.
func rawConnect(ap netip.AddrPort, hold time.Duration) (int, error) {
	var (
		fd  int
		err error
		sa  syscall.Sockaddr
	)
	if ap.Addr().Is4() {
		fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		fd, err = syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	if err := syscall.Connect(fd, sa); err != nil {
		return 0, err
	}
	local, err := syscall.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	if hold > 0 {
		time.Sleep(hold) // the workload: a connection that lives this long
	}
	switch l := local.(type) {
	case *syscall.SockaddrInet4:
		return l.Port, nil
	case *syscall.SockaddrInet6:
		return l.Port, nil
	}
	return 0, fmt.Errorf("local address %T", local)
}

// helperResult is what a helper printed.
type helperResult struct {
	pid    int32
	ports  []uint16
	listen netip.AddrPort
	errno  int
}

func parseHelper(t testing.TB, out []byte) helperResult {
	t.Helper()
	var r helperResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "pid":
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			r.pid = int32(n)
		case "port":
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			r.ports = append(r.ports, uint16(n))
		case "listen":
			r.listen = netip.MustParseAddrPort(f[1])
		case "errno":
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			r.errno = n
		}
	}
	require.NotZero(t, r.pid, "helper printed no pid: %s", out)
	return r
}

// helperCmd returns the test binary as a workload, started in cg when cg
// is not nil.
func helperCmd(cg *cgroup.Cgroup, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	if cg != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
	}
	return cmd
}

// runHelperIn runs a workload to completion and parses its output.
func runHelperIn(t testing.TB, cg *cgroup.Cgroup, args ...string) helperResult {
	t.Helper()
	out, err := helperCmd(cg, args...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("helper %q: %v: %s", args, err, ee.Stderr)
	}
	require.NoError(t, err)
	return parseHelper(t, out)
}

// requirePrivileged skips t when network tracing is unavailable, or fails
// it when TRACEP_REQUIRE_PRIVILEGED=1.
func requirePrivileged(t testing.TB) {
	t.Helper()
	err := nettrace.Supported()
	if err == nil && os.Geteuid() != 0 {
		err = fmt.Errorf("not root")
	}
	if err == nil {
		return
	}
	if os.Getenv("TRACEP_REQUIRE_PRIVILEGED") == "1" {
		t.Fatalf("net tracing unavailable: %v", err)
	}
	t.Skipf("net tracing unavailable (TRACEP_REQUIRE_PRIVILEGED=1 makes this fail): %v", err)
}

func newCgroup(t testing.TB) *cgroup.Cgroup {
	t.Helper()
	cg, err := cgroup.New()
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := cg.Close(); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	return cg
}

// collector records the events of one session.
type collector struct {
	mu     sync.Mutex
	evs    []tracep.Event
	closed atomic.Bool
	late   atomic.Int64 // events emitted after markClosed
}

func (c *collector) emit(ev tracep.Event) {
	if c.closed.Load() {
		c.late.Add(1)
	}
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
}

func (c *collector) events() []tracep.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// find returns the events for which keep holds.
func (c *collector) find(keep func(n *tracep.Net, p tracep.Proc) bool) []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.events() {
		if ev.Net != nil && keep(ev.Net, ev.Proc) {
			out = append(out, ev)
		}
	}
	return out
}

func (c *collector) dump() string {
	var b strings.Builder
	for _, ev := range c.events() {
		n := ev.Net
		fmt.Fprintf(&b, "  pid=%d %s %s %s %s %s -> %s state=%s errno=%s dur=%v\n",
			ev.Proc.PID, ev.Proc.Comm, n.Op, n.Proto, n.Dir, n.Src, n.Dst, n.State, n.Errno, n.Duration)
	}
	return b.String()
}

func start(t testing.TB, cfg nettrace.Config, c *collector) *nettrace.Session {
	t.Helper()
	s, err := nettrace.Start(context.Background(), cfg, c.emit)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// closeClean closes s and requires no loss and no event after Close.
func closeClean(t testing.TB, s *nettrace.Session, c *collector) {
	t.Helper()
	require.NoError(t, s.Close())
	c.closed.Store(true)
}

// tcpListener listens on addr ("127.0.0.1:0", "[::1]:0") in the test
// process, outside every test cgroup, accepting and closing connections
// until the test ends.
func tcpListener(t testing.TB, addr string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// closedPort returns a loopback TCP port nothing listens on.
func closedPort(t testing.TB) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ap := netip.MustParseAddrPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	return ap
}

// udpListener binds a UDP socket on addr in the test process, reading and
// dropping datagrams until the test ends.
func udpListener(t testing.TB, addr string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}
