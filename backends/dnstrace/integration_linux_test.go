package dnstrace_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

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

// A crafted response with a compression-pointer loop in its answer, sent
// by a traced process on a configured port (5353), is decoded in bounded
// time and reported with the fault and without answers, and the trace
// goes on.
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
	require.True(t, loop[0].DNS.Answered)
	require.Empty(t, loop[0].DNS.Answers)
	require.True(t, loop[0].DNS.AnswersIncomplete)
	require.Contains(t, loop[0].DNS.Malformed, "compression pointer")
	require.Contains(t, loop[0].DNS.Incomplete(), "dns answers incomplete: ")
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

// txtFill returns TXT strings that make the answer to a TXT query for
// name, with the server's OPT record, exactly size octets: header,
// question, one record per string (a compressed owner, 10 octets of
// header, the string's length octet) and the OPT record.
func txtFill(name string, size int) []string {
	rest := size - (12 + len(name) + 2 + 4 + 11)
	var out []string
	for i := 0; rest > 0; i++ {
		n := min(255, rest-13)
		if r := rest - (13 + n); r > 0 && r < 14 {
			n -= 14 - r // leave room for a last record
		}
		out = append(out, strings.Repeat(string(rune('a'+i%26)), n))
		rest -= 13 + n
	}
	return out
}

// pyEDNSQuery asks the nameserver over UDP for argv[1] (type argv[2]),
// advertising an EDNS0 buffer of argv[3] octets, and prints the size of
// the answer (dig advertises 32,767 octets at most).
const pyEDNSQuery = `
import socket, struct, sys
name, qtype, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 1)
for label in name.split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", qtype, 1) + b"\0" + struct.pack(">HHIH", 41, size, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", 53))
s.send(q)
print(len(s.recv(65535)))
`

// Answers of every size up to the protocol's limits are reported with
// every record: 300 A records over UDP with EDNS0 (beyond the 4 KiB the
// capture used to stop at), a 65,507-octet TXT answer over UDP (the most
// an IPv4 datagram holds), a 65,535-octet one over TCP (the most a length
// prefix announces), dig's TCP retry after a truncated UDP answer, and
// glibc's. A session with a snap length gets the UDP answer cut, and
// flagged as such.
func TestIntegrationLargeAnswers(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	zone := testnet.DefaultZone()
	var many []netip.Addr
	for i := range 300 {
		many = append(many, netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(1 + i%250)}))
	}
	zone["many-a.test"] = testnet.Record{Addrs: many}
	zone["txt-udp.test"] = testnet.Record{TXT: txtFill("txt-udp.test", 65507)}
	zone["txt-tcp.test"] = testnet.Record{TXT: txtFill("txt-tcp.test", 65535)}
	n := newNet(t, &testnet.Config{Zone: zone})
	tr := startTrace(t, dnstrace.Config{})
	capped := startTrace(t, dnstrace.Config{SnapLen: 4096})

	dig := func(tr *trace, args ...string) (int, string) {
		cmd := tr.cg.Command("dig", append([]string{"+tries=1"}, args...)...)
		out, err := n.CombinedOutput(cmd)
		require.NoError(t, err, "%s", out)
		return cmd.Process.Pid, string(out)
	}
	manyPID, out := dig(tr, "+bufsize=16384", "many-a.test", "A")
	require.Contains(t, out, "MSG SIZE  rcvd: 4840")
	udp := tr.cg.Command("python3", "-c", pyEDNSQuery, "txt-udp.test", "16", "65507")
	out1, err := n.CombinedOutput(udp)
	require.NoError(t, err, "%s", out1)
	require.Equal(t, "65507\n", string(out1))
	udpPID := udp.Process.Pid
	tcpPID, out := dig(tr, "+tcp", "txt-tcp.test", "TXT")
	require.Contains(t, out, "MSG SIZE  rcvd: 65535")
	retryPID, _ := dig(tr, "txt-tcp.test", "TXT")
	glibc := tr.cg.Command("python3", "-c", `import socket; print(len(socket.getaddrinfo("many-a.test", None, socket.AF_INET, socket.SOCK_STREAM)))`)
	out2, err := n.CombinedOutput(glibc)
	require.NoError(t, err, "%s", out2)
	require.Equal(t, "300\n", string(out2), "glibc got every address")
	cappedPID, _ := dig(capped, "+bufsize=16384", "many-a.test", "A")
	evs := tr.close(t)
	cappedEvs := capped.close(t)

	whole := func(ev tracep.Event, transport string, n int) {
		t.Helper()
		d := ev.DNS
		require.True(t, d.Answered, "%s", ev)
		require.Equal(t, transport, d.Transport)
		// Said first, so that a failure says why (not a 100 KiB dump).
		require.Empty(t, d.Cut)
		require.Empty(t, d.Malformed)
		require.Equal(t, n, len(d.Answers), "answers")
		require.False(t, d.AnswersIncomplete)
		require.Empty(t, d.Cut)
		require.Empty(t, d.Malformed)
		require.Empty(t, d.Incomplete())
	}
	got := lookups(evs, manyPID, "many-a.test", "A")
	require.Len(t, got, 1, "%s", tracetest.Lines(evs))
	whole(got[0], "udp", 300)
	require.Equal(t, "A 127.1.1.50", answers(got[0])[299])
	for _, c := range []struct {
		pid  int
		name string
		typ  string
		n    int
	}{{udpPID, "txt-udp.test", "udp", len(zone["txt-udp.test"].TXT)}, {tcpPID, "txt-tcp.test", "tcp", len(zone["txt-tcp.test"].TXT)}} {
		got := lookups(evs, c.pid, c.name, "TXT")
		require.Len(t, got, 1, "%s", tracetest.Lines(evs))
		whole(got[0], c.typ, c.n)
		for i, a := range got[0].DNS.Answers {
			require.Equal(t, `"`+zone[c.name].TXT[i]+`"`, a.Data)
		}
	}
	got = lookups(evs, retryPID, "txt-tcp.test", "TXT")
	require.Len(t, got, 2, "%s", tracetest.Lines(got))
	require.True(t, got[0].DNS.Truncated)
	require.Equal(t, "udp", got[0].DNS.Transport)
	whole(got[1], "tcp", len(zone["txt-tcp.test"].TXT))
	var viaTCP []tracep.Event
	for _, ev := range lookups(evs, glibc.Process.Pid, "many-a.test", "A") {
		if ev.DNS.Transport == "tcp" {
			viaTCP = append(viaTCP, ev)
		}
	}
	// glibc asks again over TCP, more than once when its buffer grows.
	require.NotEmpty(t, viaTCP, "%s", tracetest.Lines(evs))
	for _, ev := range viaTCP {
		whole(ev, "tcp", 300)
	}

	got = lookups(cappedEvs, cappedPID, "many-a.test", "A")
	require.Len(t, got, 1, "%s", tracetest.Lines(cappedEvs))
	d := got[0].DNS
	require.True(t, d.Answered)
	require.True(t, d.AnswersIncomplete)
	require.Equal(t, "4096 of 4840 octets captured (snap length)", d.Cut)
	require.Less(t, len(d.Answers), 300)
	require.Equal(t, "dns answers incomplete: 4096 of 4840 octets captured (snap length)", got[0].DNS.Incomplete())
}

// withoutAdditional drops the testnet server's OPT record (the only
// additional record it sends), so that records can be appended after the
// answers.
func withoutAdditional(resp []byte) []byte {
	if binary.BigEndian.Uint16(resp[10:]) == 0 {
		return resp
	}
	binary.BigEndian.PutUint16(resp[10:], 0)
	return resp[:len(resp)-11] // the OPT record: root name, 10 octets, no data
}

// misbehaving is a zone whose server sends malformed and late answers.
func misbehaving() testnet.Zone {
	a := netip.MustParseAddr
	zone := testnet.DefaultZone()
	// An additional record whose data length overruns the message.
	zone["bad-additional.test"] = testnet.Record{Addrs: []netip.Addr{a("127.1.1.1")}, Mangle: func(resp []byte, _ string) []byte {
		resp = withoutAdditional(resp)
		binary.BigEndian.PutUint16(resp[10:], 1)
		return append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 1, 0xf4, 1, 2, 3, 4)
	}}
	// An authority record whose owner name is a pointer to itself.
	zone["loop-authority.test"] = testnet.Record{Addrs: []netip.Addr{a("127.1.1.2")}, Mangle: func(resp []byte, _ string) []byte {
		resp = withoutAdditional(resp)
		binary.BigEndian.PutUint16(resp[8:], 1)
		self := len(resp)
		return append(resp, 0xc0|byte(self>>8), byte(self), 0, 2, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12)
	}}
	// A FORMERR without a question.
	zone["no-question.test"] = testnet.Record{Addrs: []netip.Addr{a("127.1.1.3")}, Mangle: func(resp []byte, _ string) []byte {
		resp[3] = resp[3]&0xf0 | 1
		clear(resp[4:12])
		return resp[:12]
	}}
	zone["cut-tcp.test"] = testnet.Record{Addrs: []netip.Addr{a("127.1.1.4"), a("127.1.1.5")}, CutTCP: 40}
	// The AAAA answer comes over UDP when glibc has given up on UDP.
	zone["late.test"] = testnet.Record{Addrs: []netip.Addr{a("127.1.1.6"), a("::1")}, TruncateUDP: true,
		HoldUDP: []dnsmessage.Type{dnsmessage.TypeAAAA}}
	zone["late-tcp.test"] = testnet.Record{Addrs: []netip.Addr{a("127.1.1.7")}, HoldTCP: true}
	return zone
}

// pyTCPGiveUp sends a query for argv[1] over TCP and closes the
// connection without waiting for the answer.
const pyTCPGiveUp = `
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x4343, 0x0100, 1, 0, 0, 0)
for label in sys.argv[1].split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\x00" + struct.pack(">HH", 1, 1)
s = socket.create_connection(("127.0.0.1", 53))
s.sendall(struct.pack(">H", len(q)) + q)
s.close()
`

// Answers glibc used are reported whole, with the fault, when a later
// section is malformed; a response without a question answers nothing; a
// TCP answer cut short is flagged; answers that reached the host after
// the client closed its socket are reported as not delivered, apart from
// no answer at all.
func TestIntegrationMisbehavingServer(t *testing.T) {
	tracetest.RequireSupported(t, dnstrace.Supported())
	n := newNet(t, &testnet.Config{Zone: misbehaving()})
	tr := startTrace(t, dnstrace.Config{})
	run := func(name string, args ...string) (int, string) {
		cmd := tr.cg.Command(name, args...)
		out, err := n.CombinedOutput(cmd)
		if name != "dig" { // it may fail, and says so
			require.NoError(t, err, "%s", out)
		}
		return cmd.Process.Pid, string(out)
	}
	getaddrinfo := `import socket, sys; print(" ".join(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], None, type=socket.SOCK_STREAM)})))`
	addPID, out := run("python3", "-c", getaddrinfo, "bad-additional.test")
	require.Equal(t, "127.1.1.1\n", out, "glibc used the answer")
	loopPID, out := run("python3", "-c", getaddrinfo, "loop-authority.test")
	require.Equal(t, "127.1.1.2\n", out, "glibc used the answer")
	noqPID, _ := run("dig", "+tries=1", "+timeout=1", "no-question.test", "A")
	cutPID, _ := run("dig", "+tcp", "+tries=1", "cut-tcp.test", "A")
	latePID, out := run("python3", "-c", getaddrinfo, "late.test")
	require.Equal(t, "127.1.1.6 ::1\n", out)
	tcpLatePID, _ := run("python3", "-c", pyTCPGiveUp, "late-tcp.test")
	evs := tr.close(t)
	all := tracetest.Lines(evs)

	for _, c := range []struct {
		pid             int
		name, malformed string
	}{
		{addPID, "bad-additional.test", "record data overruns the message at offset 63 in additional record 1"},
		{loopPID, "loop-authority.test", "compression pointer loop at offset 53 in authority record 1"},
	} {
		got := lookups(evs, c.pid, c.name, "A")
		require.Len(t, got, 1, all)
		d := got[0].DNS
		require.True(t, d.Answered, all)
		require.Equal(t, "NOERROR", d.RCode)
		require.Len(t, d.Answers, 1)
		require.Equal(t, c.malformed, d.Malformed)
		require.False(t, d.AnswersIncomplete)
		require.Empty(t, d.Incomplete(), "the answers glibc used are whole")
		require.Contains(t, got[0].Text(), "malformed: "+c.malformed)
	}

	got := lookups(evs, noqPID, "no-question.test", "A")
	require.Len(t, got, 1, all)
	require.False(t, got[0].DNS.Answered, "never paired by its ID alone")
	require.Positive(t, tr.s.Stats().NoQuestion)

	got = lookups(evs, cutPID, "cut-tcp.test", "A")
	require.Len(t, got, 1, all)
	d := got[0].DNS
	require.Equal(t, "tcp", d.Transport)
	require.True(t, d.AnswersIncomplete, all)
	require.Regexp(t, `^connection (closed|reset) 40 octets into a 73-octet message$`, d.Cut)
	require.Contains(t, d.Incomplete(), "dns answers incomplete: connection")

	byTransport := map[string]*tracep.DNS{}
	for _, ev := range lookups(evs, latePID, "late.test", "AAAA") {
		byTransport[ev.DNS.Transport] = ev.DNS
	}
	require.Len(t, byTransport, 2, all)
	require.True(t, byTransport["udp"].Undelivered, all)
	require.False(t, byTransport["udp"].Answered)
	require.Equal(t, "NOERROR", byTransport["udp"].RCode)
	require.Contains(t, byTransport["udp"].Outcome(), "not delivered")
	require.True(t, byTransport["tcp"].Answered, all)
	require.Positive(t, tr.s.Stats().Undelivered)

	got = lookups(evs, tcpLatePID, "late-tcp.test", "A")
	require.Len(t, got, 1, all)
	require.True(t, got[0].DNS.Undelivered, all)
	require.Equal(t, []string{"A 127.1.1.7"}, answers(got[0]))
}
