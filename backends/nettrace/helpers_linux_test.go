package nettrace_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
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
		defer tracetest.Serve(ln, nil)()
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
		cg.Enroll(cmd)
	}
	return cmd
}

// helperProc is a workload started by startHelper.
type helperProc struct {
	*exec.Cmd
	stdin io.WriteCloser
	out   tracetest.Buffer
}

// startHelper starts a workload in cg (if not nil) and returns it once it
// has printed a line starting with until. It is killed when t ends.
func startHelper(t testing.TB, cg *cgroup.Cgroup, until string, args ...string) *helperProc {
	t.Helper()
	h := &helperProc{Cmd: helperCmd(cg, args...)}
	var err error
	h.stdin, err = h.StdinPipe()
	require.NoError(t, err)
	h.Stdout, h.Stderr = &h.out, os.Stderr
	require.NoError(t, h.Start())
	t.Cleanup(func() { _ = h.Process.Kill(); _ = h.Wait() })
	h.out.WaitLine(t, until)
	return h
}

// result parses what the workload printed so far.
func (h *helperProc) result(t testing.TB) helperResult {
	t.Helper()
	return parseHelper(t, []byte(h.out.String()))
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

// find returns the events of c for which keep holds.
func find(c *tracetest.Collector, keep func(n *tracep.Net, p tracep.Proc) bool) []tracep.Event {
	return c.Select(func(ev tracep.Event) bool { return keep(ev.Net, ev.Proc) })
}
