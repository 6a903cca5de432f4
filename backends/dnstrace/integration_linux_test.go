package dnstrace_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// lookupCase is a query and what the hermetic network answers.
type lookupCase struct {
	name, typ, rcode string
	answers          []string
}

var zoneCases = []lookupCase{
	{"example.test", "A", "NOERROR", []string{"A 192.0.2.10"}},
	{"example.test", "AAAA", "NOERROR", []string{"AAAA 2001:db8::10"}},
	{"cname.test", "A", "NOERROR", []string{"CNAME www.example.test", "CNAME example.test", "A 192.0.2.10"}},
	{"nxdomain.test", "A", "NXDOMAIN", nil},
	{"servfail.test", "A", "SERVFAIL", nil},
}

// checkLookup requires that pid asked for c.name/c.typ over UDP to server
// and got c's answer, and that nothing it asked for that was answered
// otherwise.
func checkLookup(t *testing.T, evs []tracep.Event, pid int, cgroupID uint64, server netip.AddrPort, c lookupCase) {
	t.Helper()
	found := lookups(evs, pid, c.name, c.typ)
	require.NotEmpty(t, found, "no %s %s from pid %d; events:\n%s", c.typ, c.name, pid, tracetest.Lines(evs))
	for _, ev := range found {
		d := ev.DNS
		require.True(t, d.Answered, "%s", tracetest.Lines(found))
		require.Equal(t, c.rcode, d.RCode, "%s", tracetest.Lines(found))
		require.Equal(t, c.answers, answers(ev), "%s", tracetest.Lines(found))
		require.Equal(t, "udp", d.Transport)
		require.Equal(t, server, d.Server)
		require.Equal(t, server.Addr(), d.Client.Addr())
		require.NotZero(t, d.Client.Port())
		require.Positive(t, d.Latency)
		require.Equal(t, cgroupID, ev.Proc.CgroupID)
		require.NotZero(t, ev.KTime)
		require.WithinDuration(t, time.Now(), ev.Time, time.Minute)
	}
}

const pyLookups = `
import socket, sys
fams = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}
for q in sys.argv[1:]:
    typ, name = q.split(":")
    try:
        socket.getaddrinfo(name, None, fams[typ], socket.SOCK_STREAM)
    except socket.gaierror as e:
        print(q, e)
`

// A, AAAA, a CNAME chain, NXDOMAIN and SERVFAIL, each attributed to the
// process that asked, for glibc's getaddrinfo (python3), Go's resolver and
// dig. The DNS server runs in the test process, outside the traced cgroup:
// none of its own packets are reported as the client's.
func TestIntegrationResolvers(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, nil)
	server := netip.MustParseAddrPort("127.0.0.1:53")
	var args []string
	for _, c := range zoneCases {
		args = append(args, c.typ+":"+c.name)
	}

	t.Run("glibc", func(t *testing.T) {
		tr := startTrace(t, dnstrace.Config{})
		pid := tr.run(t, n, "python3", append([]string{"-c", pyLookups}, args...)...)
		evs := tr.close(t)
		for _, c := range zoneCases {
			checkLookup(t, evs, pid, tr.cg.ID(), server, c)
		}
		for _, ev := range evs {
			require.Equal(t, pid, int(ev.Proc.PID), "%s", tracetest.Lines(evs))
			require.Equal(t, "python3", ev.Proc.Comm)
		}
	})

	t.Run("go", func(t *testing.T) {
		bin := goResolver(t)
		tr := startTrace(t, dnstrace.Config{})
		var goArgs []string
		for _, c := range zoneCases {
			network := map[string]string{"A": "ip4", "AAAA": "ip6"}[c.typ]
			goArgs = append(goArgs, network+":"+c.name+".")
		}
		cmd := tr.cg.Command(bin, goArgs...)
		cmd.Env = append(os.Environ(), "GODEBUG=netdns=go")
		out, err := n.CombinedOutput(cmd)
		require.NoError(t, err, "%s", out)
		evs := tr.close(t)
		for _, c := range zoneCases {
			checkLookup(t, evs, cmd.Process.Pid, tr.cg.ID(), server, c)
		}
	})

	t.Run("dig", func(t *testing.T) {
		tr := startTrace(t, dnstrace.Config{})
		pids := make([]int, len(zoneCases))
		for i, c := range zoneCases {
			pids[i] = tr.run(t, n, "dig", "+short", "+tries=1", c.name, c.typ)
		}
		evs := tr.close(t)
		require.Len(t, evs, len(zoneCases), "one query each; events:\n%s", tracetest.Lines(evs))
		for i, c := range zoneCases {
			checkLookup(t, evs, pids[i], tr.cg.ID(), server, c)
			require.Len(t, lookups(evs, pids[i], c.name, c.typ), 1)
		}
	})
}

// A truncated UDP answer is reported with TC set, then the TCP retry with
// the whole answer, for glibc and Go.
func TestIntegrationTruncatedRetry(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, nil)
	check := func(t *testing.T, evs []tracep.Event, pid int) {
		t.Helper()
		var udp, tcp []tracep.Event
		for _, ev := range lookups(evs, pid, "tc.test", "A") {
			switch ev.DNS.Transport {
			case "udp":
				udp = append(udp, ev)
			case "tcp":
				tcp = append(tcp, ev)
			}
		}
		require.Len(t, udp, 1, "%s", tracetest.Lines(evs))
		require.True(t, udp[0].DNS.Truncated)
		require.True(t, udp[0].DNS.Answered)
		require.Equal(t, "NOERROR", udp[0].DNS.RCode)
		require.Empty(t, udp[0].DNS.Answers)
		require.Len(t, tcp, 1, "%s", tracetest.Lines(evs))
		require.False(t, tcp[0].DNS.Truncated)
		require.Equal(t, []string{"A 192.0.2.50"}, answers(tcp[0]))
		require.Equal(t, netip.MustParseAddrPort("127.0.0.1:53"), tcp[0].DNS.Server)
		require.Less(t, udp[0].KTime, tcp[0].KTime)
	}
	t.Run("glibc", func(t *testing.T) {
		tr := startTrace(t, dnstrace.Config{})
		pid := tr.run(t, n, "python3", "-c", pyLookups, "A:tc.test")
		evs := tr.close(t)
		check(t, evs, pid)
		require.Zero(t, tr.s.Stats().StreamErrors)
	})
	t.Run("go", func(t *testing.T) {
		bin := goResolver(t)
		tr := startTrace(t, dnstrace.Config{})
		cmd := tr.cg.Command(bin, "ip4:tc.test.")
		cmd.Env = append(os.Environ(), "GODEBUG=netdns=go")
		out, err := n.CombinedOutput(cmd)
		require.NoError(t, err, "%s", out)
		check(t, tr.close(t), cmd.Process.Pid)
	})
}

// A lookup to an IPv6 nameserver (::1) is reported with IPv6 addresses.
func TestIntegrationIPv6Nameserver(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, &testnet.Config{Nameserver: netip.MustParseAddr("::1")})
	server := netip.MustParseAddrPort("[::1]:53")
	tr := startTrace(t, dnstrace.Config{})
	digPID := tr.run(t, n, "dig", "+short", "v6.test", "AAAA")
	pyPID := tr.run(t, n, "python3", "-c", pyLookups, "A:example.test")
	tcpPID := tr.run(t, n, "dig", "+short", "+tcp", "example.test", "AAAA")
	evs := tr.close(t)
	checkLookup(t, evs, digPID, tr.cg.ID(), server, lookupCase{"v6.test", "AAAA", "NOERROR", []string{"AAAA 2001:db8::60"}})
	checkLookup(t, evs, pyPID, tr.cg.ID(), server, zoneCases[0])
	tcp := lookups(evs, tcpPID, "example.test", "AAAA")
	require.Len(t, tcp, 1, "%s", tracetest.Lines(evs))
	require.Equal(t, "tcp", tcp[0].DNS.Transport)
	require.Equal(t, server, tcp[0].DNS.Server)
	require.Equal(t, []string{"AAAA 2001:db8::10"}, answers(tcp[0]))
}

// pyFlood sends n small UDP datagrams to a socket of its own that never
// reads them: each is seen leaving and arriving.
const pyFlood = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
to = s.getsockname()
for i in range(int(sys.argv[1])):
    s.sendto(b"x" * 64, to)
`

// pyUnique looks up n distinct names, q<i>.<suffix>, one A query each.
const pyUnique = `
import socket, sys
n, suffix = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    try:
        socket.getaddrinfo("q%d.%s" % (i, suffix), None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        pass
`

// 1,200 lookups while a process outside the traced tree floods 50,000
// unrelated UDP datagrams on the same loopback and another one looks names
// up: every lookup is captured and attributed, nothing from outside
// appears, nothing is lost.
func TestIntegrationLookupsUnderFlood(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	const lookupsN, floodN = 1200, 50000
	n := newNet(t, nil)
	tr := startTrace(t, dnstrace.Config{})

	flood := n.Command("python3", "-c", pyFlood, strconv.Itoa(floodN))
	outsider := n.Command("sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do dig +short +tries=1 outsider$i.test; done")
	require.NoError(t, n.Start(flood))
	require.NoError(t, n.Start(outsider))
	pid := tr.run(t, n, "python3", "-c", pyUnique, strconv.Itoa(lookupsN), "flood.test")
	require.NoError(t, flood.Wait())
	require.NoError(t, outsider.Wait())
	evs := tr.close(t)

	seen := map[string]int{}
	for _, ev := range evs {
		require.Equal(t, pid, int(ev.Proc.PID), "an event from outside the traced tree: %s", ev.String())
		require.Equal(t, tr.cg.ID(), ev.Proc.CgroupID)
		require.Equal(t, "A", ev.DNS.Type)
		require.True(t, ev.DNS.Answered)
		require.Equal(t, "NXDOMAIN", ev.DNS.RCode)
		seen[ev.DNS.Name]++
	}
	require.Len(t, seen, lookupsN)
	for i := range lookupsN {
		require.Equal(t, 1, seen[fmt.Sprintf("q%d.flood.test", i)], "q%d", i)
	}
	st := tr.s.Stats()
	require.Equal(t, uint64(lookupsN), st.Answered)
	require.Zero(t, st.Unanswered)
	require.Zero(t, st.Malformed)
}

// pyCrafted plays client and server on port 5353 in one process: the
// client asks for loop.test, the server answers with a record whose owner
// name is a compression pointer to itself. The client then asks for
// ok.test and gets a good answer, so the trace goes on.
const pyCrafted = `
import socket, struct
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("127.0.0.1", 5353))
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def ask(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    cli.sendto(q, ("127.0.0.1", 5353))
    data, peer = srv.recvfrom(512)
    return data, peer
q, peer = ask(0x1234, "loop.test")
loop = bytearray(q)
loop[2:4] = b"\x81\x80"
loop[6:8] = b"\x00\x01"
self = len(loop)
loop += struct.pack(">H", 0xC000 | self) + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
srv.sendto(bytes(loop), peer)
cli.recvfrom(512)
q, peer = ask(0x1235, "ok.test")
ok = bytearray(q)
ok[2:4] = b"\x81\x80"
ok[6:8] = b"\x00\x01"
ok += struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([192, 0, 2, 2])
srv.sendto(bytes(ok), peer)
cli.recvfrom(512)
`

// A crafted response with a compression-pointer loop, sent by a traced
// process on a configured port (5353), is rejected where it is decoded:
// counted, not reported, in bounded time, and the trace goes on.
func TestIntegrationCraftedPointerLoop(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, nil)
	tr := startTrace(t, dnstrace.Config{Ports: []uint16{53, 5353}})
	start := time.Now()
	pid := tr.run(t, n, "python3", "-c", pyCrafted)
	evs := tr.close(t)
	require.Less(t, time.Since(start), 10*time.Second)
	st := tr.s.Stats()
	// The loop response is seen leaving the server socket and arriving at
	// the client socket, both the process's own.
	require.Equal(t, uint64(2), st.Malformed, "%+v", st)
	ok := lookups(evs, pid, "ok.test", "A")
	require.Len(t, ok, 1, "%s", tracetest.Lines(evs))
	require.Equal(t, []string{"A 192.0.2.2"}, answers(ok[0]))
	require.Equal(t, netip.MustParseAddrPort("127.0.0.1:5353"), ok[0].DNS.Server)
	loop := lookups(evs, pid, "loop.test", "A")
	require.Len(t, loop, 1, "%s", tracetest.Lines(evs))
	require.False(t, loop[0].DNS.Answered, "its only answer was malformed")
	require.Equal(t, uint64(2), st.Duplicates, "each query seen leaving and arriving: the server socket's owner is known from its bind")
}

// A query nobody answers is reported once the timeout passes, while the
// session runs.
func TestIntegrationUnanswered(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, nil)
	// A socket on the hermetic network's 127.0.0.1:5353 that reads nothing.
	var sink net.PacketConn
	require.NoError(t, n.Do(func() (err error) {
		sink, err = net.ListenPacket("udp4", "127.0.0.1:5353")
		return err
	}))
	defer sink.Close()
	tr := startTrace(t, dnstrace.Config{Ports: []uint16{5353}, Timeout: 100 * time.Millisecond})
	dig := tr.cg.Command("dig", "+tries=1", "+timeout=1", "-p", "5353", "@127.0.0.1", "silent.test")
	out, err := n.CombinedOutput(dig)
	require.Error(t, err, "dig got an answer: %s", out)
	pid := dig.Process.Pid
	ev := tr.WaitFor(t, func(tracep.Event) bool { return true })
	require.Equal(t, pid, int(ev.Proc.PID))
	require.Equal(t, "silent.test", ev.DNS.Name)
	require.False(t, ev.DNS.Answered)
	require.Empty(t, ev.DNS.RCode)
	require.Equal(t, netip.MustParseAddrPort("127.0.0.1:5353"), ev.DNS.Server)
	require.Len(t, tr.close(t), 1)
	require.Equal(t, uint64(1), tr.s.Stats().Unanswered)
}

// A whole-system session sees both ends of the loopback (the client's
// socket and the in-process server's): each message is reported once, for
// the process that asked.
func TestIntegrationSystemWideOnce(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, nil)
	name := fmt.Sprintf("once-%d-%d.test", os.Getpid(), time.Now().UnixNano())
	tr := &trace{}
	tr.s = tracetest.Start(t, dnstrace.Start, dnstrace.Config{}, tr.Emit)
	cmd := n.Command("dig", "+short", "+tries=1", name)
	out, err := n.CombinedOutput(cmd)
	require.NoError(t, err, "%s", out)
	evs := tr.close(t)
	var mine []tracep.Event
	for _, ev := range evs {
		require.NotEqual(t, os.Getpid(), int(ev.Proc.PID), "the test process's server socket is not the client: %s", ev.String())
		if ev.DNS.Name == name {
			mine = append(mine, ev)
		}
	}
	require.Len(t, mine, 1, "%s", tracetest.Lines(evs))
	require.Equal(t, cmd.Process.Pid, int(mine[0].Proc.PID))
	require.Equal(t, "NXDOMAIN", mine[0].DNS.RCode)
	st := tr.s.Stats()
	require.Positive(t, st.Duplicates, "%+v", st)
	require.Positive(t, st.Unmatched, "%+v", st)
}

// A pid scope follows the children the traced process starts after the
// trace begins, and nothing else.
func TestIntegrationPIDScope(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, nil)
	sh := n.Command("sh", "-c", "read x; getent hosts example.test; getent hosts v4.test")
	stdin, err := sh.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, n.Start(sh))
	tr := &trace{}
	tr.s = tracetest.Start(t, dnstrace.Start, dnstrace.Config{Scope: tracep.Scope{PIDs: []int{sh.Process.Pid}}}, tr.Emit)
	outsider := n.Command("getent", "hosts", "pki.test")
	require.NoError(t, n.Run(outsider))
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, stdin.Close())
	require.NoError(t, sh.Wait())
	evs := tr.close(t)
	names := map[string]bool{}
	for _, ev := range evs {
		require.Equal(t, int32(sh.Process.Pid), ev.Proc.PPID, "%s", tracetest.Lines(evs))
		require.Equal(t, "getent", ev.Proc.Comm)
		names[ev.DNS.Name] = true
	}
	require.Equal(t, map[string]bool{"example.test": true, "v4.test": true}, names, "%s", tracetest.Lines(evs))
}
