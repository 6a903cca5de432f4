package harness

import (
	"flag"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// Two runs of the same program with other pids, ports, ids, times and
// interleavings normalise to the same text.
func TestNormalizeStable(t *testing.T) {
	run := func(base int32, port uint16, swap bool) []tracep.Event {
		sh := execEvent(base, 1, "/bin/sh", "sh", "-c", "a & b")
		a := execEvent(base+1, base, "/usr/bin/curl", "curl", "-s", "https://example.test/")
		b := execEvent(base+2, base, "/usr/bin/uname", "uname")
		dnsA := dnsEvent(base+1, "example.test", "192.0.2.10")
		dnsAAAA := dnsEvent(base+1, "example.test", "2001:db8::10")
		dnsAAAA.DNS.Type = "AAAA"
		dnsAAAA.DNS.ID = uint16(port)
		conn := connEvent(base+1, "192.0.2.10:443")
		conn.Net.Src = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), port)
		exitA := tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: base + 1, PPID: base}, Exec: &tracep.Exec{Op: tracep.ExecOpExit}}
		if swap {
			return numbered(sh, b, a, dnsAAAA, dnsA, dnsA, conn, exitA)
		}
		return numbered(sh, a, dnsA, dnsAAAA, conn, b, exitA)
	}
	one := Normalize(run(100, 40000, false))
	two := Normalize(run(5000, 51234, true))
	require.Equal(t, one, two)
	require.Equal(t, `p1 exec /bin/sh: sh -c 'a & b'
p2 exec /usr/bin/curl: curl -s https://example.test/
p2 dns A example.test → NOERROR [A 192.0.2.10]
p2 dns AAAA example.test → NOERROR [A 2001:db8::10]
p2 connect tcp → 192.0.2.10:443
p2 exit status 0
p3 exec /usr/bin/uname: uname
`, one)
}

func TestNormalizeReplace(t *testing.T) {
	evs := numbered(execEvent(7, 1, "/tmp/work123/prog", "prog", "/tmp/work123/in"))
	require.Equal(t, "p1 exec $WORK/prog: prog $WORK/in\n", Normalize(evs, "/tmp/work123", "$WORK"))
}

func TestLineDiff(t *testing.T) {
	require.Empty(t, LineDiff("a\nb\n", "a\nb\n"))
	d := LineDiff("a\nb\nc\n", "a\nx\nc\n")
	require.Equal(t, "  a\n- b\n+ x\n  c\n", d)
	require.Equal(t, "- \n+ new\n", LineDiff("", "new\n"))
}

func TestRequireGolden(t *testing.T) {
	c := &Capture{Events: numbered(execEvent(7, 1, "/bin/true", "true"))}
	path := t.TempDir() + "/trace.golden"
	t.Setenv(UpdateGoldenEnv, "1")
	c.RequireGolden(t, path)
	t.Setenv(UpdateGoldenEnv, "")
	c.RequireGolden(t, path) // matches what was written

	other := &Capture{Events: numbered(execEvent(9, 1, "/bin/false", "false"))}
	ft := &fakeT{TB: t}
	other.RequireGolden(ft, path)
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "- p1 exec /bin/true: true")
	require.Contains(t, ft.msg, "+ p1 exec /bin/false: false")
}

// udpFlow is a UDP socket's events: its connect, its DNS query and its
// close, as a resolver makes them; the query may come before the connect
// in kernel time.
func udpFlow(pid int32, port uint16, name, typ string, answers ...string) []tracep.Event {
	src := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	dst := netip.MustParseAddrPort("127.0.0.1:53")
	proc := tracep.Proc{PID: pid, PPID: 1, Comm: "prog"}
	d := &tracep.DNS{ID: port, Name: name, Type: typ, Transport: "udp", Client: src, Server: dst, RCode: "NOERROR", Answered: true}
	for _, a := range answers {
		d.Answers = append(d.Answers, tracep.DNSRecord{Name: name, Type: typ, Data: a})
	}
	conn := &tracep.Net{Op: tracep.NetOpConnect, Proto: "udp", Dir: tracep.DirOut, Src: src, Dst: dst}
	closed := *conn
	closed.Op = tracep.NetOpClose
	return []tracep.Event{
		{Kind: tracep.KindDNS, Proc: proc, DNS: d},
		{Kind: tracep.KindNet, Proc: proc, Net: conn},
		{Kind: tracep.KindNet, Proc: proc, Net: &closed},
	}
}

// tcpFlow is a TCP connection with TLS on it: connect, state changes,
// handshake, request, response, close.
func tcpFlow(pid int32, port uint16, dst, sni, request string) []tracep.Event {
	src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port)
	d := netip.MustParseAddrPort(dst)
	proc := tracep.Proc{PID: pid, PPID: 1, Comm: "prog"}
	netEv := func(op, state string) tracep.Event {
		return tracep.Event{Kind: tracep.KindNet, Proc: proc, Net: &tracep.Net{Op: op, Proto: "tcp", Dir: tracep.DirOut, Src: src, Dst: d, State: state}}
	}
	tlsEv := func(op, data string) tracep.Event {
		return tracep.Event{Kind: tracep.KindTLS, Proc: proc, TLS: &tracep.TLS{Op: op, Library: "go", SNI: sni, Data: []byte(data), Len: len(data), Src: src, Dst: d}}
	}
	return []tracep.Event{
		netEv(tracep.NetOpConnect, ""),
		netEv(tracep.NetOpState, "ESTABLISHED"),
		tlsEv(tracep.TLSOpHandshake, ""),
		tlsEv(tracep.TLSOpWrite, request),
		tlsEv(tracep.TLSOpRead, "HTTP/1.1 200 OK\r\n"),
		netEv(tracep.NetOpClose, ""),
	}
}

// interleave merges the sequences at random, keeping each one's order: one
// of the ways a scheduler may run them in parallel.
func interleave(r *rand.Rand, seqs ...[]tracep.Event) []tracep.Event {
	var out []tracep.Event
	seqs = slices.Clone(seqs)
	for {
		var live []int
		for i, s := range seqs {
			if len(s) > 0 {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return out
		}
		i := live[r.IntN(len(live))]
		out = append(out, seqs[i][0])
		seqs[i] = seqs[i][1:]
	}
}

// A program that looks names up in parallel and connects in parallel: its
// sockets, queries and connections interleaved in any way, with other
// pids and ports, give one normal form. The sockets of the queries are
// folded into them; each connection is one block.
func TestNormalizeParallelFlows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	run := func(pid int32, port uint16) []tracep.Event {
		exec := execEvent(pid, 1, "/tmp/TestX123456/001/prog", "prog")
		exit := tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: pid, PPID: 1}, Exec: &tracep.Exec{Op: tracep.ExecOpExit}}
		body := interleave(r,
			udpFlow(pid, port, "example.test", "A", "192.0.2.10"),
			udpFlow(pid, port+1, "example.test", "AAAA", "2001:db8::10"),
			udpFlow(pid, port+2, "V4.test.", "A", "192.0.2.60"),
			udpFlow(pid, port+3, "v4.test", "AAAA"),
			tcpFlow(pid, port+4, "192.0.2.10:443", "example.test", "GET /a HTTP/1.1\r\n"),
			tcpFlow(pid, port+5, "192.0.2.60:443", "v4.test", "GET /b HTTP/1.1\r\n"),
		)
		return numbered(slices.Concat([]tracep.Event{exec}, body, []tracep.Event{exit})...)
	}
	want := `p1 exec $TMPDIR/TestX*/001/prog: prog
p1 dns A example.test → NOERROR [A 192.0.2.10]
p1 dns AAAA example.test → NOERROR [AAAA 2001:db8::10]
p1 dns A v4.test → NOERROR [A 192.0.2.60]
p1 dns AAAA v4.test → NOERROR []
p1 connect tcp → 192.0.2.10:443
p1 tls handshake go sni=example.test
p1 tls write go sni=example.test "GET /a HTTP/1.1"
p1 tls read go sni=example.test "HTTP/1.1 200 OK"
p1 close tcp → 192.0.2.10:443
p1 connect tcp → 192.0.2.60:443
p1 tls handshake go sni=v4.test
p1 tls write go sni=v4.test "GET /b HTTP/1.1"
p1 tls read go sni=v4.test "HTTP/1.1 200 OK"
p1 close tcp → 192.0.2.60:443
p1 exit status 0
`
	t.Setenv("TMPDIR", "/tmp")
	for i := range 200 {
		got := Normalize(run(int32(100+i), uint16(30000+7*i)))
		require.Equal(t, want, got, "interleaving %d", i)
	}
}

// Without DNS events (the net tracer alone) a resolver's sockets are flows
// like any other; identical ones fold into one.
func TestNormalizeSocketsWithoutDNS(t *testing.T) {
	var evs []tracep.Event
	for i, typ := range []string{"A", "AAAA", "A"} {
		f := udpFlow(7, uint16(40000+i), "example.test", typ)
		evs = append(evs, f[1], f[2])
	}
	require.Equal(t, "p1 connect udp → 127.0.0.1:53\np1 close udp → 127.0.0.1:53\n", Normalize(numbered(evs...)))
}

// A query sent on an unconnected socket (bound to the wildcard) is folded
// into its socket too; a socket to port 53 that carried no traced query
// stays.
func TestNormalizeUnconnectedDNSSocket(t *testing.T) {
	f := udpFlow(7, 40000, "example.test", "A", "192.0.2.10")
	send := *f[1].Net
	send.Op, send.Src = tracep.NetOpSend, netip.MustParseAddrPort("0.0.0.0:40000")
	f[1].Net = &send
	other := udpFlow(7, 40001, "x.test", "A")
	evs := numbered(f[1], f[0], other[1], other[2])
	require.Equal(t, `p1 dns A example.test → NOERROR [A 192.0.2.10]
p1 connect udp → 127.0.0.1:53
p1 close udp → 127.0.0.1:53
`, Normalize(evs))
}

// A process's lines are cut at each exec: what it did before and after
// keeps that order; its exit comes last even when its sockets' closes
// were seen after it; failed execs keep their order.
func TestNormalizeSegments(t *testing.T) {
	proc := tracep.Proc{PID: 9, PPID: 1}
	fail := func(file string) tracep.Event {
		return tracep.Event{Kind: tracep.KindExec, Proc: proc, Exec: &tracep.Exec{Op: tracep.ExecOpFail, Filename: file, Errno: "ENOENT"}}
	}
	exit := tracep.Event{Kind: tracep.KindExec, Proc: proc, Exec: &tracep.Exec{Op: tracep.ExecOpExit}}
	conn := tcpFlow(9, 50000, "192.0.2.10:80", "", "")
	evs := numbered(
		execEvent(9, 1, "/bin/sh", "sh", "-c", "exec prog"),
		connEvent(9, "192.0.2.99:80"),
		fail("/usr/local/bin/prog"),
		fail("/usr/local/sbin/prog"),
		execEvent(9, 1, "/usr/bin/prog", "prog"),
		conn[0], exit, conn[5],
	)
	require.Equal(t, `p1 exec /bin/sh: sh -c 'exec prog'
p1 exec /usr/local/bin/prog failed: ENOENT
p1 exec /usr/local/sbin/prog failed: ENOENT
p1 connect tcp → 192.0.2.99:80
p1 exec /usr/bin/prog: prog
p1 connect tcp → 192.0.2.10:80
p1 close tcp → 192.0.2.10:80
p1 exit status 0
`, Normalize(evs))
}

// Siblings that did the same thing themselves are ordered by what their
// children did, whichever started first.
func TestNormalizeSiblingsBySubtree(t *testing.T) {
	run := func(swap bool) []tracep.Event {
		sh := execEvent(10, 1, "/bin/sh", "sh")
		exitOf := func(pid, ppid int32) tracep.Event {
			return tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: pid, PPID: ppid}, Exec: &tracep.Exec{Op: tracep.ExecOpExit}}
		}
		a := []tracep.Event{exitOf(11, 10), execEvent(13, 11, "/bin/echo", "echo", "b")}
		b := []tracep.Event{exitOf(12, 10), execEvent(14, 12, "/bin/echo", "echo", "a")}
		if swap {
			a, b = b, a
		}
		return numbered(slices.Concat([]tracep.Event{sh}, a, b)...)
	}
	want := `p1 exec /bin/sh: sh
p2 exit status 0
p3 exec /bin/echo: echo a
p4 exit status 0
p5 exec /bin/echo: echo b
`
	require.Equal(t, want, Normalize(run(false)))
	require.Equal(t, want, Normalize(run(true)))
}

// Notes about the trace come last, without counts or pids.
func TestNormalizeNotes(t *testing.T) {
	evs := numbered(
		execEvent(7, 1, "/bin/true", "true"),
		tracep.Event{Kind: tracep.KindTrace, Trace: &tracep.Note{Op: tracep.NoteLost, Of: tracep.KindNet, Count: 3, Total: 3}},
		tracep.Event{Kind: tracep.KindTrace, Trace: &tracep.Note{Op: tracep.NoteLeftover, Action: tracep.LeftoverKilled,
			Procs: []tracep.Proc{{PID: 8, Comm: "sleep"}}}},
	)
	require.Equal(t, "p1 exec /bin/true: true\ntrace leftover, killed: sleep\ntrace lost net events\n", Normalize(evs))
}

func TestTempNames(t *testing.T) {
	t.Setenv("TMPDIR", "/tmp")
	for _, tc := range []struct{ in, want string }{
		{"exec /tmp/TestFetch3358346779/001/prog: prog", "exec $TMPDIR/TestFetch*/001/prog: prog"},
		{"exec /tmp/go-build2882031/b001/exe/x: x", "exec $TMPDIR/go-build*/b001/exe/x: x"},
		{"cat /tmp/tmp.Xa81qZk0Pc/in", "cat $TMPDIR/tmp.*/in"},
		{"python3 /tmp/tmpk3j_9zq1/w.py", "python3 $TMPDIR/tmp*/w.py"},
		{"prog '--dir=/tmp/x-123456' /var/tmp/y98765", "prog '--dir=$TMPDIR/x-*' /var/tmp/y*"},
		{"cat /tmp/hosts /etc/123456", "cat $TMPDIR/hosts /etc/123456"},
		{"cat /x/tmp/a123456 /tmpx/a123456", "cat /x/tmp/a123456 /tmpx/a123456"},
		{"cat /tmp/b001", "cat $TMPDIR/b001"},
		{"no paths here 123456", "no paths here 123456"},
	} {
		require.Equal(t, tc.want, TempNames(tc.in), tc.in)
	}

	t.Setenv("TMPDIR", "/tmp/ci")
	require.Equal(t, "a $TMPDIR/run*/x /tmp/run*/x", TempNames("a /tmp/ci/run4242/x /tmp/run4242/x"))
}

// go test -update works in any test binary that imports harness, as does
// TRACEP_UPDATE_GOLDEN=1; the failure says how to use them for the test.
func TestUpdateFlag(t *testing.T) {
	f := flag.Lookup("update")
	require.NotNil(t, f, "harness registers -update")
	require.False(t, Updating())
	require.NoError(t, f.Value.Set("true"))
	require.True(t, Updating())
	require.NoError(t, f.Value.Set("false"))
	t.Setenv(UpdateGoldenEnv, "1")
	require.True(t, Updating())

	require.Equal(t, "^TestA$/^sub\\.1$", runPattern("TestA/sub.1"))
	t.Setenv(UpdateGoldenEnv, "")
	c := &Capture{Events: numbered(execEvent(7, 1, "/bin/true", "true"))}
	ft := &fakeT{TB: t}
	c.RequireGolden(ft, filepath.Join(t.TempDir(), "missing.golden"))
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "to create it: go test -run '^TestUpdateFlag$' -update (or TRACEP_UPDATE_GOLDEN=1)")
}
