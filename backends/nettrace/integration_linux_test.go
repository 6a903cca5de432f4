package nettrace_test

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/harness/testnet"
	"github.com/tracep/tracep/tracep"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// 1,000 loopback connections, each closed right after connect, from four
// processes at once: every one is reported once, by the process that made
// it, with both ends exact.
func TestIntegrationThousandConnects(t *testing.T) {
	requirePrivileged(t)
	const workers, per = 4, 250
	cg := newCgroup(t)
	ln := tcpListener(t, "127.0.0.1:0")
	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &c)

	results := make([]helperResult, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { results[i] = runHelperIn(t, cg, "connect", ln.String(), strconv.Itoa(per)) })
	}
	wg.Wait()
	closeClean(t, s, &c)

	type key struct {
		pid  int32
		port uint16
	}
	got := map[key]int{}
	for _, ev := range c.find(func(n *tracep.Net, _ tracep.Proc) bool { return n.Op == tracep.NetOpConnect }) {
		n := ev.Net
		require.Equal(t, "tcp", n.Proto)
		require.Equal(t, tracep.DirOut, n.Dir)
		require.Equal(t, ln, n.Dst)
		require.Equal(t, loopback4, n.Src.Addr())
		require.Equal(t, cg.ID(), ev.Proc.CgroupID)
		require.Equal(t, "nettrace.test", ev.Proc.Comm)
		require.Empty(t, n.Errno)
		got[key{ev.Proc.PID, n.Src.Port()}]++
	}
	require.Len(t, got, workers*per, "connect events")
	for _, r := range results {
		require.Len(t, r.ports, per)
		for _, p := range r.ports {
			require.Equal(t, 1, got[key{r.pid, p}], "pid %d port %d", r.pid, p)
		}
	}
	// The listener is outside the scope: its side never shows.
	require.Empty(t, c.find(func(n *tracep.Net, _ tracep.Proc) bool { return n.Op == tracep.NetOpAccept }))
}

// UDP: an unconnected socket reports its first datagram to each peer, a
// connected one its connect when it first sends (with the local address
// the kernel chose), and both their close; a socket connected and closed
// without sending (getaddrinfo's source address probe) is not a flow.
func TestIntegrationUDP(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	u1, u2 := udpListener(t, "127.0.0.1:0"), udpListener(t, "127.0.0.1:0")
	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &c)
	sent := runHelperIn(t, cg, "sendto", u1.String(), u1.String(), u2.String())
	conn := runHelperIn(t, cg, "udpconnect", u1.String())
	probe := runHelperIn(t, cg, "udpprobe", u2.String())
	closeClean(t, s, &c)
	require.Empty(t, c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == probe.pid }),
		"a UDP socket that sends nothing is no flow:\n%s", c.dump())
	require.Len(t, sent.ports, 1)
	require.Len(t, conn.ports, 1)

	of := func(pid int32, op string) []tracep.Event {
		return c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == pid && n.Op == op })
	}
	sends := of(sent.pid, tracep.NetOpSend)
	require.Len(t, sends, 2, "one send per peer:\n%s", c.dump())
	unbound := netip.AddrPortFrom(netip.IPv4Unspecified(), sent.ports[0])
	for i, want := range []netip.AddrPort{u1, u2} {
		n := sends[i].Net
		require.Equal(t, "udp", n.Proto)
		require.Equal(t, tracep.DirOut, n.Dir)
		require.Equal(t, unbound, n.Src)
		require.Equal(t, want, n.Dst)
	}
	closes := of(sent.pid, tracep.NetOpClose)
	require.Len(t, closes, 1)
	require.Equal(t, unbound, closes[0].Net.Src)
	require.False(t, closes[0].Net.Dst.IsValid(), "an unconnected socket has no single peer")

	require.Empty(t, of(conn.pid, tracep.NetOpSend), "a connected socket's datagrams are its connect")
	connects := of(conn.pid, tracep.NetOpConnect)
	require.Len(t, connects, 1)
	local := netip.AddrPortFrom(loopback4, conn.ports[0])
	require.Equal(t, local, connects[0].Net.Src)
	require.Equal(t, u1, connects[0].Net.Dst)
	closes = of(conn.pid, tracep.NetOpClose)
	require.Len(t, closes, 1)
	require.Equal(t, local, closes[0].Net.Src)
	require.Equal(t, u1, closes[0].Net.Dst)
	require.Positive(t, closes[0].Net.Duration)
}

// IPv6 TCP and UDP; an IPv4 connection made through a dual-stack IPv6
// socket (a v4-mapped destination) is reported with IPv4 addresses.
func TestIntegrationIPv6(t *testing.T) {
	requirePrivileged(t)
	if _, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	cg := newCgroup(t)
	ln6 := tcpListener(t, "[::1]:0")
	ln4 := tcpListener(t, "127.0.0.1:0")
	u6 := udpListener(t, "[::1]:0")
	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &c)
	r6 := runHelperIn(t, cg, "connect", ln6.String(), "1")
	rm := runHelperIn(t, cg, "mapped", ln4.String())
	ru := runHelperIn(t, cg, "sendto", u6.String())
	closeClean(t, s, &c)

	connect := func(pid int32) tracep.Event {
		evs := c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == pid && n.Op == tracep.NetOpConnect })
		require.Len(t, evs, 1, "pid %d:\n%s", pid, c.dump())
		return evs[0]
	}
	ev := connect(r6.pid)
	require.Equal(t, netip.AddrPortFrom(netip.IPv6Loopback(), r6.ports[0]), ev.Net.Src)
	require.Equal(t, ln6, ev.Net.Dst)

	ev = connect(rm.pid)
	require.Equal(t, netip.AddrPortFrom(loopback4, rm.ports[0]), ev.Net.Src, "v4-mapped source is unmapped")
	require.Equal(t, ln4, ev.Net.Dst, "v4-mapped destination is unmapped")

	sends := c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == ru.pid && n.Op == tracep.NetOpSend })
	require.Len(t, sends, 1)
	require.Equal(t, netip.AddrPortFrom(netip.IPv6Unspecified(), ru.ports[0]), sends[0].Net.Src)
	require.Equal(t, u6, sends[0].Net.Dst)
}

// A refused connect: reported when the SYN leaves, then closed with
// ECONNREFUSED, all attributed to the process that called connect.
func TestIntegrationRefused(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	dst := closedPort(t)
	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &c)
	r := runHelperIn(t, cg, "refused", dst.String())
	closeClean(t, s, &c)
	require.Equal(t, int(syscall.ECONNREFUSED), r.errno)

	evs := c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == r.pid })
	require.Len(t, evs, 2, "%s", c.dump())
	require.Equal(t, tracep.NetOpConnect, evs[0].Net.Op)
	require.Equal(t, dst, evs[0].Net.Dst)
	require.Empty(t, evs[0].Net.Errno)
	require.Equal(t, tracep.NetOpClose, evs[1].Net.Op)
	require.Equal(t, dst, evs[1].Net.Dst)
	require.Equal(t, evs[0].Net.Src, evs[1].Net.Src)
	require.Equal(t, "ECONNREFUSED", evs[1].Net.Errno)
}

// Inside the hermetic network, where only lo exists: a connect that fails
// before any packet (no route) is one connect event with its errno, and a
// connection to a fake site works, attributed to the process in the
// namespace.
func TestIntegrationNetns(t *testing.T) {
	requirePrivileged(t)
	n, err := testnet.New(nil)
	require.NoError(t, err)
	defer n.Close()
	cg := newCgroup(t)
	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &c)

	run := func(args ...string) helperResult {
		cmd := helperCmd(cg, args...)
		var out strings.Builder
		cmd.Stdout = &out
		cmd.Stderr = os.Stderr
		require.NoError(t, n.Run(cmd))
		return parseHelper(t, []byte(out.String()))
	}
	unreach := run("refused", "198.51.100.7:80")
	site := run("connect", "192.0.2.10:443", "1")
	closeClean(t, s, &c)
	require.Equal(t, int(syscall.ENETUNREACH), unreach.errno)

	evs := c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == unreach.pid })
	require.Len(t, evs, 1, "%s", c.dump())
	require.Equal(t, tracep.NetOpConnect, evs[0].Net.Op)
	require.Equal(t, "ENETUNREACH", evs[0].Net.Errno)
	require.Equal(t, netip.MustParseAddrPort("198.51.100.7:80"), evs[0].Net.Dst)

	evs = c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == site.pid && n.Op == tracep.NetOpConnect })
	require.Len(t, evs, 1, "%s", c.dump())
	require.Equal(t, netip.MustParseAddrPort("192.0.2.10:443"), evs[0].Net.Dst)
	require.Equal(t, site.ports[0], evs[0].Net.Src.Port())
}

// An inbound connection is attributed to the process that accepts it, with
// the remote peer as the source; the client, outside the scope, is not seen.
func TestIntegrationInbound(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &c)

	cmd := helperCmd(cg, "serve")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	var server helperResult
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if f[0] == "pid" {
			pid, _ := strconv.Atoi(f[1])
			server.pid = int32(pid)
		}
		if f[0] == "listen" {
			server.listen = netip.MustParseAddrPort(f[1])
			break
		}
	}
	require.True(t, server.listen.IsValid())

	client, err := net.Dial("tcp", server.listen.String())
	require.NoError(t, err)
	_, err = client.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = client.Read(buf)
	require.NoError(t, err)
	clientAddr := netip.MustParseAddrPort(client.LocalAddr().String())
	require.NoError(t, client.Close())
	require.NoError(t, cmd.Wait())
	closeClean(t, s, &c)

	evs := c.events()
	require.Len(t, evs, 2, "accept and close only:\n%s", c.dump())
	acc, cls := evs[0], evs[1]
	require.Equal(t, tracep.NetOpAccept, acc.Net.Op)
	require.Equal(t, tracep.DirIn, acc.Net.Dir)
	require.Equal(t, server.pid, acc.Proc.PID)
	require.Equal(t, clientAddr, acc.Net.Src)
	require.Equal(t, server.listen, acc.Net.Dst)
	require.Equal(t, tracep.NetOpClose, cls.Net.Op)
	require.Equal(t, server.pid, cls.Proc.PID)
	require.Equal(t, uint64(4), cls.Net.BytesSent)
	require.Equal(t, uint64(4), cls.Net.BytesReceived)
}

// A pid scope follows the process and what it forks; connections made by
// processes outside the scope (the test itself, a sibling) are not seen.
func TestIntegrationPIDScopeAndOutsiders(t *testing.T) {
	requirePrivileged(t)
	ln := tcpListener(t, "127.0.0.1:0")
	cmd := helperCmd(nil, "gated", "connect", ln.String(), "3")
	gate, err := cmd.StdinPipe()
	require.NoError(t, err)
	var out strings.Builder
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())

	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{PIDs: []int{cmd.Process.Pid}}}, &c)
	outsider := runHelperIn(t, nil, "connect", ln.String(), "2")
	own, err := net.Dial("tcp", ln.String())
	require.NoError(t, err)
	own.Close()
	_, err = gate.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	closeClean(t, s, &c)

	r := parseHelper(t, []byte(out.String()))
	connects := c.find(func(n *tracep.Net, _ tracep.Proc) bool { return n.Op == tracep.NetOpConnect })
	require.Len(t, connects, 3, "%s", c.dump())
	for i, ev := range connects {
		require.Equal(t, r.pid, ev.Proc.PID)
		require.Equal(t, r.ports[i], ev.Net.Src.Port())
	}
	for _, ev := range c.events() {
		require.NotEqual(t, outsider.pid, ev.Proc.PID)
		require.NotEqual(t, int32(os.Getpid()), ev.Proc.PID)
	}
}

// The close of a connection held for a while carries a plausible duration.
func TestIntegrationCloseDuration(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	ln := tcpListener(t, "127.0.0.1:0")
	var c collector
	s := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &c)
	t0 := time.Now()
	r := runHelperIn(t, cg, "hold", ln.String(), "200")
	wall := time.Since(t0)
	closeClean(t, s, &c)

	closes := c.find(func(n *tracep.Net, p tracep.Proc) bool { return p.PID == r.pid && n.Op == tracep.NetOpClose })
	require.Len(t, closes, 1, "%s", c.dump())
	d := closes[0].Net.Duration
	require.GreaterOrEqual(t, d, 200*time.Millisecond)
	require.Less(t, d, wall)
	require.Equal(t, ln, closes[0].Net.Dst)
	require.Equal(t, r.ports[0], closes[0].Net.Src.Port())
}

// State changes are events only when asked for.
func TestIntegrationStates(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	ln := tcpListener(t, "127.0.0.1:0")
	var with, without collector
	s1 := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}, States: true}, &with)
	s2 := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &without)
	r := runHelperIn(t, cg, "connect", ln.String(), "1")
	closeClean(t, s1, &with)
	closeClean(t, s2, &without)

	var states []string
	for _, ev := range with.find(func(n *tracep.Net, p tracep.Proc) bool { return n.Op == tracep.NetOpState }) {
		require.Equal(t, r.pid, ev.Proc.PID)
		states = append(states, ev.Net.State)
	}
	require.NotEmpty(t, states)
	require.Equal(t, "ESTABLISHED", states[0])
	require.Empty(t, without.find(func(n *tracep.Net, p tracep.Proc) bool { return n.Op == tracep.NetOpState }))
	require.Len(t, without.find(func(n *tracep.Net, p tracep.Proc) bool { return n.Op == tracep.NetOpConnect }), 1)
}

// Traced system-wide, both ends of a loopback connection are reported; an
// inbound connection no process accepted is reported too, with no owner.
func TestIntegrationSystemScope(t *testing.T) {
	requirePrivileged(t)
	var c collector
	s := start(t, nettrace.Config{}, &c)

	// Accepted by a helper, connected from the test process.
	cmd := helperCmd(nil, "serve")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	var server helperResult
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if f[0] == "pid" {
			pid, _ := strconv.Atoi(f[1])
			server.pid = int32(pid)
		}
		if f[0] == "listen" {
			server.listen = netip.MustParseAddrPort(f[1])
			break
		}
	}
	client, err := net.Dial("tcp", server.listen.String())
	require.NoError(t, err)
	clientAddr := netip.MustParseAddrPort(client.LocalAddr().String())
	require.NoError(t, client.Close())
	require.NoError(t, cmd.Wait())

	// Never accepted: the listener closes with the connection queued.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lnAddr := netip.MustParseAddrPort(ln.Addr().String())
	orphan, err := net.Dial("tcp", lnAddr.String())
	require.NoError(t, err)
	orphanAddr := netip.MustParseAddrPort(orphan.LocalAddr().String())
	require.NoError(t, ln.Close())
	orphan.Close()
	closeClean(t, s, &c)

	me := int32(os.Getpid())
	got := c.find(func(n *tracep.Net, p tracep.Proc) bool {
		return n.Op == tracep.NetOpConnect && n.Src == clientAddr
	})
	require.Len(t, got, 1, "%s", c.dump())
	require.Equal(t, me, got[0].Proc.PID)
	got = c.find(func(n *tracep.Net, p tracep.Proc) bool {
		return n.Op == tracep.NetOpAccept && n.Src == clientAddr
	})
	require.Len(t, got, 1)
	require.Equal(t, server.pid, got[0].Proc.PID)

	got = c.find(func(n *tracep.Net, p tracep.Proc) bool { return n.Src == orphanAddr && n.Dir == tracep.DirIn })
	require.Len(t, got, 2, "unowned accept and close:\n%s", c.dump())
	require.Equal(t, tracep.NetOpAccept, got[0].Net.Op)
	require.Equal(t, tracep.Proc{}, got[0].Proc)
	require.Equal(t, lnAddr, got[0].Net.Dst)
	require.Equal(t, tracep.NetOpClose, got[1].Net.Op)
	require.Equal(t, tracep.Proc{}, got[1].Proc)
}

// A flow that a closed session owned never reaches the next session of the
// same slot, even when the flow ends while that session runs.
func TestIntegrationSlotReuse(t *testing.T) {
	requirePrivileged(t)
	cg1, cg2 := newCgroup(t), newCgroup(t)
	ln := tcpListener(t, "127.0.0.1:0")
	var first, second collector
	s1 := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg1.ID()}}, &first)
	cmd := helperCmd(cg1, "holdgate", ln.String())
	gate, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "port ") {
	}
	closeClean(t, s1, &first)
	require.Len(t, first.events(), 1, "%s", first.dump())

	// The second session watches cg1 too: the open connection began
	// before it, so its close is not the second session's.
	s2 := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg1.ID()}}, &second)
	s3 := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg2.ID()}}, &second)
	gate.Close()
	require.NoError(t, cmd.Wait())
	runHelperIn(t, cg2, "connect", ln.String(), "1")
	closeClean(t, s2, &second)
	closeClean(t, s3, &second)
	for _, ev := range second.events() {
		require.Equal(t, cg2.ID(), ev.Proc.CgroupID, "%s", second.dump())
	}
}

// Closing the last session detaches every hook (after DetachIdle), ends
// the reader goroutines, delivers nothing after Close, and Close is
// idempotent.
func TestIntegrationNothingLeaks(t *testing.T) {
	requirePrivileged(t)
	bpfcore.DetachIdle()
	require.Empty(t, bpfcore.LinkIDs(), "a session of another test is still open")
	require.Zero(t, readers(), "reader goroutines before the test")

	cg := newCgroup(t)
	ln := tcpListener(t, "127.0.0.1:0")
	var first, second collector
	s1 := start(t, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, &first)
	s2 := start(t, nettrace.Config{}, &second)
	ids := bpfcore.LinkIDs()
	require.Len(t, ids, 10, "the fork follower, three tracepoints and six cgroup hooks")
	require.Equal(t, 2, readers())

	// Keep connections coming while the sessions close.
	busy := helperCmd(cg, "connect", ln.String(), "100000")
	require.NoError(t, busy.Start())
	defer func() {
		_ = busy.Process.Kill()
		_ = busy.Wait()
	}()

	require.NoError(t, s1.Close())
	first.closed.Store(true)
	require.NoError(t, s1.Close(), "second Close")
	for _, id := range ids {
		l, err := link.NewFromID(id)
		require.NoError(t, err, "link %d detached while a session is open", id)
		l.Close()
	}
	require.NoError(t, s2.Close())
	second.closed.Store(true)
	require.NoError(t, s2.Close())
	require.ElementsMatch(t, ids, bpfcore.LinkIDs(), "links linger for the next session")
	bpfcore.DetachIdle()
	for _, id := range ids {
		_, err := link.NewFromID(id)
		require.ErrorIs(t, err, os.ErrNotExist, "link %d still attached", id)
	}
	require.Empty(t, bpfcore.LinkIDs())
	require.Zero(t, first.late.Load(), "events after Close")
	require.Zero(t, second.late.Load(), "events after Close")
	require.Zero(t, readers(), "reader goroutines left behind")
}

// readers counts the sessions' reader goroutines, by the line naming their
// creator.
func readers() int { return bpfcore.Readers() }

func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Without privileges, Supported and Start fail with a PermissionError that
// names the capabilities, network administration included.
func TestIntegrationUnprivileged(t *testing.T) {
	requirePrivileged(t) // root is needed to become someone else
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	bin := filepath.Join(dir, "nettrace.test")
	data, err := os.ReadFile(exe)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	cmd := exec.Command(bin, "unprivileged")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "ok")
}

// Start fails cleanly on bad input.
func TestStartInvalid(t *testing.T) {
	_, err := nettrace.Start(context.Background(), nettrace.Config{}, nil)
	require.ErrorIs(t, err, tracep.ErrInvalid)
	_, err = nettrace.Start(context.Background(), nettrace.Config{RingBytes: -1}, func(tracep.Event) {})
	require.ErrorIs(t, err, tracep.ErrInvalid)
}
