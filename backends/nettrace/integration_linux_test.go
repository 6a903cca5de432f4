package nettrace_test

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// 1,000 loopback connections, each closed right after connect, from four
// processes at once: every one is reported once, by the process that made
// it, with both ends exact.
func TestIntegrationThousandConnects(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	const workers, per = 4, 250
	cg := tracetest.Open(t, cgroup.New)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)

	results := make([]helperResult, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { results[i] = runHelperIn(t, cg, "connect", ln.String(), strconv.Itoa(per)) })
	}
	wg.Wait()
	c.CloseSession(t, s)

	type key struct {
		pid  int32
		port uint16
	}
	got := map[key]int{}
	for _, ev := range find(&c, func(n *tracep.Net, _ tracep.Proc) bool { return n.Op == tracep.NetOpConnect }) {
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
	require.Empty(t, find(&c, func(n *tracep.Net, _ tracep.Proc) bool { return n.Op == tracep.NetOpAccept }))
}

// UDP: an unconnected socket reports its first datagram to each peer, a
// connected one its connect when it first sends (with the local address
// the kernel chose), and both their close; a socket connected and closed
// without sending (getaddrinfo's source address probe) is not a flow.
func TestIntegrationUDP(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	u1, u2 := tracetest.ListenUDP(t, "127.0.0.1:0", false), tracetest.ListenUDP(t, "127.0.0.1:0", false)
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)
	sent := runHelperIn(t, cg, "sendto", u1.String(), u1.String(), u2.String())
	conn := runHelperIn(t, cg, "udpconnect", u1.String())
	probe := runHelperIn(t, cg, "udpprobe", u2.String())
	c.CloseSession(t, s)
	require.Empty(t, find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == probe.pid }),
		"a UDP socket that sends nothing is no flow:\n%s", &c)
	require.Len(t, sent.ports, 1)
	require.Len(t, conn.ports, 1)

	of := func(pid int32, op string) []tracep.Event {
		return find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == pid && n.Op == op })
	}
	sends := of(sent.pid, tracep.NetOpSend)
	require.Len(t, sends, 2, "one send per peer:\n%s", &c)
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
	tracetest.RequireSupported(t, nettrace.Supported())
	if _, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	cg := tracetest.Open(t, cgroup.New)
	ln6 := tracetest.ListenTCP(t, "[::1]:0", nil)
	ln4 := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	u6 := tracetest.ListenUDP(t, "[::1]:0", false)
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)
	r6 := runHelperIn(t, cg, "connect", ln6.String(), "1")
	rm := runHelperIn(t, cg, "mapped", ln4.String())
	ru := runHelperIn(t, cg, "sendto", u6.String())
	c.CloseSession(t, s)

	connect := func(pid int32) tracep.Event {
		evs := find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == pid && n.Op == tracep.NetOpConnect })
		require.Len(t, evs, 1, "pid %d:\n%s", pid, &c)
		return evs[0]
	}
	ev := connect(r6.pid)
	require.Equal(t, netip.AddrPortFrom(netip.IPv6Loopback(), r6.ports[0]), ev.Net.Src)
	require.Equal(t, ln6, ev.Net.Dst)

	ev = connect(rm.pid)
	require.Equal(t, netip.AddrPortFrom(loopback4, rm.ports[0]), ev.Net.Src, "v4-mapped source is unmapped")
	require.Equal(t, ln4, ev.Net.Dst, "v4-mapped destination is unmapped")

	sends := find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == ru.pid && n.Op == tracep.NetOpSend })
	require.Len(t, sends, 1)
	require.Equal(t, netip.AddrPortFrom(netip.IPv6Unspecified(), ru.ports[0]), sends[0].Net.Src)
	require.Equal(t, u6, sends[0].Net.Dst)
}

// A refused connect: reported when the SYN leaves, then closed with
// ECONNREFUSED, all attributed to the process that called connect.
func TestIntegrationRefused(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	dst := tracetest.ClosedPort(t)
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)
	r := runHelperIn(t, cg, "refused", dst.String())
	c.CloseSession(t, s)
	require.Equal(t, int(syscall.ECONNREFUSED), r.errno)

	evs := find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == r.pid })
	require.Len(t, evs, 2, "%s", &c)
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
	tracetest.RequireSupported(t, nettrace.Supported())
	n, err := testnet.New(nil)
	require.NoError(t, err)
	defer n.Close()
	cg := tracetest.Open(t, cgroup.New)
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)

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
	c.CloseSession(t, s)
	require.Equal(t, int(syscall.ENETUNREACH), unreach.errno)

	evs := find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == unreach.pid })
	require.Len(t, evs, 1, "%s", &c)
	require.Equal(t, tracep.NetOpConnect, evs[0].Net.Op)
	require.Equal(t, "ENETUNREACH", evs[0].Net.Errno)
	require.Equal(t, netip.MustParseAddrPort("198.51.100.7:80"), evs[0].Net.Dst)

	evs = find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == site.pid && n.Op == tracep.NetOpConnect })
	require.Len(t, evs, 1, "%s", &c)
	require.Equal(t, netip.MustParseAddrPort("192.0.2.10:443"), evs[0].Net.Dst)
	require.Equal(t, site.ports[0], evs[0].Net.Src.Port())
}

// An inbound connection is attributed to the process that accepts it, with
// the remote peer as the source; the client, outside the scope, is not seen.
func TestIntegrationInbound(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)

	cmd := startHelper(t, cg, "listen ", "serve")
	server := cmd.result(t)
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
	c.CloseSession(t, s)

	evs := c.Events()
	require.Len(t, evs, 2, "accept and close only:\n%s", &c)
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
	tracetest.RequireSupported(t, nettrace.Supported())
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	cmd := startHelper(t, nil, "pid ", "gated", "connect", ln.String(), "3")

	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{PIDs: []int{cmd.Process.Pid}}}, c.Emit)
	outsider := runHelperIn(t, nil, "connect", ln.String(), "2")
	own, err := net.Dial("tcp", ln.String())
	require.NoError(t, err)
	own.Close()
	_, err = cmd.stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	c.CloseSession(t, s)

	r := cmd.result(t)
	connects := find(&c, func(n *tracep.Net, _ tracep.Proc) bool { return n.Op == tracep.NetOpConnect })
	require.Len(t, connects, 3, "%s", &c)
	for i, ev := range connects {
		require.Equal(t, r.pid, ev.Proc.PID)
		require.Equal(t, r.ports[i], ev.Net.Src.Port())
	}
	for _, ev := range c.Events() {
		require.NotEqual(t, outsider.pid, ev.Proc.PID)
		require.NotEqual(t, int32(os.Getpid()), ev.Proc.PID)
	}
}

// The close of a connection held for a while carries a plausible duration.
func TestIntegrationCloseDuration(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)
	t0 := time.Now()
	r := runHelperIn(t, cg, "hold", ln.String(), "200")
	wall := time.Since(t0)
	c.CloseSession(t, s)

	closes := find(&c, func(n *tracep.Net, p tracep.Proc) bool { return p.PID == r.pid && n.Op == tracep.NetOpClose })
	require.Len(t, closes, 1, "%s", &c)
	d := closes[0].Net.Duration
	require.GreaterOrEqual(t, d, 200*time.Millisecond)
	require.Less(t, d, wall)
	require.Equal(t, ln, closes[0].Net.Dst)
	require.Equal(t, r.ports[0], closes[0].Net.Src.Port())
}

// State changes are events only when asked for.
func TestIntegrationStates(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	var with, without tracetest.Collector
	s1 := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}, States: true}, with.Emit)
	s2 := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, without.Emit)
	r := runHelperIn(t, cg, "connect", ln.String(), "1")
	with.CloseSession(t, s1)
	without.CloseSession(t, s2)

	var states []string
	for _, ev := range find(&with, func(n *tracep.Net, p tracep.Proc) bool { return n.Op == tracep.NetOpState }) {
		require.Equal(t, r.pid, ev.Proc.PID)
		states = append(states, ev.Net.State)
	}
	require.NotEmpty(t, states)
	require.Equal(t, "ESTABLISHED", states[0])
	require.Empty(t, find(&without, func(n *tracep.Net, p tracep.Proc) bool { return n.Op == tracep.NetOpState }))
	require.Len(t, find(&without, func(n *tracep.Net, p tracep.Proc) bool { return n.Op == tracep.NetOpConnect }), 1)
}

// Traced system-wide, both ends of a loopback connection are reported; an
// inbound connection no process accepted is reported too, with no owner.
func TestIntegrationSystemScope(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	var c tracetest.Collector
	s := tracetest.Start(t, nettrace.Start, nettrace.Config{}, c.Emit)

	// Accepted by a helper, connected from the test process.
	cmd := startHelper(t, nil, "listen ", "serve")
	server := cmd.result(t)
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
	c.CloseSession(t, s)

	me := int32(os.Getpid())
	got := find(&c, func(n *tracep.Net, p tracep.Proc) bool {
		return n.Op == tracep.NetOpConnect && n.Src == clientAddr
	})
	require.Len(t, got, 1, "%s", &c)
	require.Equal(t, me, got[0].Proc.PID)
	got = find(&c, func(n *tracep.Net, p tracep.Proc) bool {
		return n.Op == tracep.NetOpAccept && n.Src == clientAddr
	})
	require.Len(t, got, 1)
	require.Equal(t, server.pid, got[0].Proc.PID)

	got = find(&c, func(n *tracep.Net, p tracep.Proc) bool { return n.Src == orphanAddr && n.Dir == tracep.DirIn })
	require.Len(t, got, 2, "unowned accept and close:\n%s", &c)
	require.Equal(t, tracep.NetOpAccept, got[0].Net.Op)
	require.Equal(t, tracep.Proc{}, got[0].Proc)
	require.Equal(t, lnAddr, got[0].Net.Dst)
	require.Equal(t, tracep.NetOpClose, got[1].Net.Op)
	require.Equal(t, tracep.Proc{}, got[1].Proc)
}

// A flow that a closed session owned never reaches the next session of the
// same slot, even when the flow ends while that session runs.
func TestIntegrationSlotReuse(t *testing.T) {
	tracetest.RequireSupported(t, nettrace.Supported())
	cg1, cg2 := tracetest.Open(t, cgroup.New), tracetest.Open(t, cgroup.New)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	var first, second tracetest.Collector
	s1 := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg1.ID()}}, first.Emit)
	cmd := startHelper(t, cg1, "port ", "holdgate", ln.String())
	first.CloseSession(t, s1)
	require.Len(t, first.Events(), 1, "%s", &first)

	// The second session watches cg1 too: the open connection began
	// before it, so its close is not the second session's.
	s2 := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg1.ID()}}, second.Emit)
	s3 := tracetest.Start(t, nettrace.Start, nettrace.Config{Scope: tracep.Scope{CgroupID: cg2.ID()}}, second.Emit)
	cmd.stdin.Close()
	require.NoError(t, cmd.Wait())
	runHelperIn(t, cg2, "connect", ln.String(), "1")
	second.CloseSession(t, s2)
	second.CloseSession(t, s3)
	for _, ev := range second.Events() {
		require.Equal(t, cg2.ID(), ev.Proc.CgroupID, "%s", &second)
	}
}
