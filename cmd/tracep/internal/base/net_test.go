package base

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// netPrinted renders events as tracep net with the given flags does.
func netPrinted(t *testing.T, color bool, flags []string, evs ...tracep.Event) string {
	t.Helper()
	c := newNetCmd()
	t.Cleanup(c.close)
	return printed(t, c, "net", color, flags, evs...)
}

func netEv(pid int32, comm string, n tracep.Net) tracep.Event {
	return tracep.Event{Kind: tracep.KindNet, Proc: tracep.Proc{PID: pid, Comm: comm}, Net: &n}
}

var (
	curlConnect = netEv(930, "curl", tracep.Net{Op: "connect", Proto: "tcp", Dir: "out",
		Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("192.0.2.10:443")})
	dnsSend = netEv(930, "curl", tracep.Net{Op: "send", Proto: "udp", Dir: "out",
		Src: netip.MustParseAddrPort("0.0.0.0:55189"), Dst: netip.MustParseAddrPort("127.0.0.1:53")})
	serverAccept = netEv(77, "server", tracep.Net{Op: "accept", Proto: "tcp", Dir: "in",
		Src: netip.MustParseAddrPort("192.0.2.99:51000"), Dst: netip.MustParseAddrPort("10.0.0.1:8080")})
	orphanAccept = netEv(0, "", tracep.Net{Op: "accept", Proto: "tcp", Dir: "in",
		Src: netip.MustParseAddrPort("192.0.2.99:51001"), Dst: netip.MustParseAddrPort("10.0.0.1:8080")})
	v6Connect = netEv(930, "curl", tracep.Net{Op: "connect", Proto: "tcp", Dir: "out",
		Src: netip.MustParseAddrPort("[2001:db8::1]:40000"), Dst: netip.MustParseAddrPort("[2001:db8::10]:443")})
	stateEv = netEv(930, "curl", tracep.Net{Op: "state", Proto: "tcp", Dir: "out", State: "ESTABLISHED",
		Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("192.0.2.10:443")})
	closeEv = netEv(930, "curl", tracep.Net{Op: "close", Proto: "tcp", Dir: "out", Duration: 1234 * time.Millisecond,
		BytesSent: 120, BytesReceived: 4096,
		Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("192.0.2.10:443")})
	refusedEv = netEv(930, "curl", tracep.Net{Op: "close", Proto: "tcp", Dir: "out", Errno: "ECONNREFUSED",
		Src: netip.MustParseAddrPort("127.0.0.1:40001"), Dst: netip.MustParseAddrPort("127.0.0.1:1")})
	udpCloseEv = netEv(930, "curl", tracep.Net{Op: "close", Proto: "udp", Dir: "out", Duration: time.Millisecond,
		Src: netip.MustParseAddrPort("0.0.0.0:55189")})
)

func TestNetFormat(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		evs   []tracep.Event
		want  string
	}{
		{"connect", nil, []tracep.Event{curlConnect},
			"  930 curl         TCP  10.0.0.1:40000           → 192.0.2.10:443\n"},
		{"udp send", nil, []tracep.Event{dnsSend},
			"  930 curl         UDP  0.0.0.0:55189            → 127.0.0.1:53\n"},
		{"inbound: the peer is the source", nil, []tracep.Event{serverAccept},
			"   77 server       TCP  192.0.2.99:51000         ← 10.0.0.1:8080\n"},
		{"no owner", nil, []tracep.Event{orphanAccept},
			"    ? ?            TCP  192.0.2.99:51001         ← 10.0.0.1:8080\n"},
		{"ipv6 in brackets", nil, []tracep.Event{v6Connect},
			"  930 curl         TCP  [2001:db8::1]:40000      → [2001:db8::10]:443\n"},
		{"states need -U", nil, []tracep.Event{stateEv}, ""},
		{"state", []string{"-U"}, []tracep.Event{stateEv},
			"  930 curl         TCP  10.0.0.1:40000           ⇒ 192.0.2.10:443           ESTABLISHED\n"},
		{"closes need -t", nil, []tracep.Event{closeEv}, ""},
		{"close", []string{"-t"}, []tracep.Event{closeEv},
			"  930 curl         TCP  10.0.0.1:40000           × 192.0.2.10:443           1.234s tx=120 rx=4096\n"},
		{"a failed connect's close shows without -t", nil, []tracep.Event{refusedEv},
			"  930 curl         TCP  127.0.0.1:40001          × 127.0.0.1:1              0.000s ECONNREFUSED\n"},
		{"unconnected udp close", []string{"-t"}, []tracep.Event{udpCloseEv},
			"  930 curl         UDP  0.0.0.0:55189            × ?                        0.001s\n"},
		{"-O hides inbound", []string{"-O"}, []tracep.Event{serverAccept, orphanAccept, curlConnect},
			"  930 curl         TCP  10.0.0.1:40000           → 192.0.2.10:443\n"},
		{"-4", []string{"-4"}, []tracep.Event{v6Connect, curlConnect},
			"  930 curl         TCP  10.0.0.1:40000           → 192.0.2.10:443\n"},
		{"-6", []string{"-6"}, []tracep.Event{v6Connect, curlConnect},
			"  930 curl         TCP  [2001:db8::1]:40000      → [2001:db8::10]:443\n"},
		{"-4 -6 shows nothing", []string{"-46"}, []tracep.Event{v6Connect, curlConnect}, ""},
		{"control characters in comm are escaped", nil,
			[]tracep.Event{netEv(5, "a\x1b[31mb", *curlConnect.Net)},
			"    5 a\\x1b[31mb   TCP  10.0.0.1:40000           → 192.0.2.10:443\n"},
		{"a long address widens its column for good", []string{"-t"}, []tracep.Event{
			netEv(1, "x", tracep.Net{Op: "close", Proto: "tcp", Dir: "out",
				Src: netip.MustParseAddrPort("[2001:db8:1111:2222:3333:4444:5555:6666]:40000"), Dst: netip.MustParseAddrPort("[2001:db8::10]:443")}),
			closeEv},
			"    1 x            TCP  [2001:db8:1111:2222:3333:4444:5555:6666]:40000 × [2001:db8::10]:443       0.000s\n" +
				"  930 curl         TCP  10.0.0.1:40000                                 × 192.0.2.10:443           1.234s tx=120 rx=4096\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, netPrinted(t, false, tt.flags, tt.evs...))
		})
	}
}

func TestNetFormatColour(t *testing.T) {
	out := netPrinted(t, true, []string{"-t"}, curlConnect, orphanAccept, closeEv)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, "\x1b[33m  930\x1b[0m \x1b[96mcurl        \x1b[0m \x1b[2mTCP \x1b[0m \x1b[32m10.0.0.1:40000          \x1b[0m \x1b[36m→\x1b[0m \x1b[33m192.0.2.10:443\x1b[0m", lines[0])
	require.Equal(t, "\x1b[2m    ?\x1b[0m \x1b[2m?           \x1b[0m", lines[1][:len("\x1b[2m    ?\x1b[0m \x1b[2m?           \x1b[0m")])
	require.Contains(t, lines[2], "\x1b[31m×\x1b[0m")
	require.Contains(t, lines[2], "\x1b[36m1.234s tx=120 rx=4096\x1b[0m")
	// Without colour, the plain text is the same line.
	require.Equal(t, "  930 curl         TCP  10.0.0.1:40000           → 192.0.2.10:443", stripANSI(lines[0]))
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

func TestNetUser(t *testing.T) {
	lines := strings.Split(netPrinted(t, false, []string{"-u"}, curlConnect, orphanAccept), "\n")
	require.Equal(t, "  930 curl         root TCP  10.0.0.1:40000           → 192.0.2.10:443", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "    ? ?            TCP"), "no user without an owner: %q", lines[1])
}

// JSON lines carry the events as the backend decoded them and read back
// with the project's decoder.
func TestNetJSON(t *testing.T) {
	evs := []tracep.Event{curlConnect, dnsSend, orphanAccept, closeEv, udpCloseEv, stateEv}
	back, err := tracep.ReadAll(strings.NewReader(netPrinted(t, false, []string{"-j", "-t"}, evs...)))
	require.NoError(t, err)
	require.Len(t, back, 5, "the state change needs -U")
	for i, ev := range back {
		require.Equal(t, uint64(i+1), ev.Seq)
		want := evs[i]
		want.Seq, want.Schema = ev.Seq, tracep.SchemaVersion
		require.Equal(t, want, ev)
	}
}

// -r never delays a line: a slow lookup's answer shows on later lines.
func TestNetReverseDNS(t *testing.T) {
	release := make(chan struct{})
	var calls sync.Map
	lookup := func(ctx context.Context, addr string) ([]string, error) {
		calls.Store(addr, true)
		select {
		case <-release:
			return []string{"example.test."}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r := newReverseDNS(lookup)
	a := netip.MustParseAddr("192.0.2.10")
	require.Empty(t, r.name(a), "the first sight starts a lookup and returns at once")
	require.Empty(t, r.name(a), "pending")
	close(release)
	r.wg.Wait()
	require.Equal(t, "example.test", r.name(a))
	require.Empty(t, r.name(netip.IPv4Unspecified()))
	_, asked := calls.Load("0.0.0.0")
	require.False(t, asked)
	r.close()
	r.close()

	// Lookups in flight are bounded; an address refused for that is asked
	// again later; close cancels what runs.
	block := func(ctx context.Context, addr string) ([]string, error) { <-ctx.Done(); return nil, ctx.Err() }
	r = newReverseDNS(block)
	for i := range rdnsMaxInFlight + 5 {
		r.name(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	require.Len(t, r.names, rdnsMaxInFlight)
	r.close()
	require.Empty(t, r.name(netip.MustParseAddr("10.9.9.9")), "nothing starts after close")
}

// The live tests: tracep net as a user runs it, as root.

func requireNetTracing(t *testing.T) {
	t.Helper()
	tracetest.SkipUnlessRoot(t, "tracing the network")
	if err := nettrace.Supported(); err != nil {
		tracetest.SkipIfUnprivileged(t, err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
}

// netClient is a python3 program connecting to the address in argv[1] once
// per remaining argument's count, printing its pid and local ports.
const netClient = `
import os, socket, sys
print("pid", os.getpid(), flush=True)
host, port = sys.argv[1].rsplit(":", 1)
for _ in range(int(sys.argv[2])):
    c = socket.create_connection((host, int(port)))
    print("port", c.getsockname()[1], flush=True)
    c.close()
`

// CMD mode: the command's connects are printed with its pid, closes with a
// duration under -t, and its exit status is passed on.
func TestIntegrationNetCommand(t *testing.T) {
	requireNetTracing(t)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	var out, errOut tracetest.Buffer // the command writes to them too
	code := Run(context.Background(), []string{"net", "-t", "python3", "-c", netClient + "sys.exit(3)", ln.String(), "2"},
		strings.NewReader(""), &out, &errOut)
	require.Equal(t, 3, code, "stderr: %s", errOut.String())
	pid, ports := parseClient(t, errOut.String()) // the command's output, moved off the trace's
	require.Len(t, ports, 2)
	for _, port := range ports {
		src := fmt.Sprintf("127.0.0.1:%d", port)
		require.Regexp(t, fmt.Sprintf(`(?m)^ *%d python3 +TCP +%s +→ %s$`, pid, regexp.QuoteMeta(src), regexp.QuoteMeta(ln.String())), out.String())
		require.Regexp(t, fmt.Sprintf(`(?m)^ *%d python3 +TCP +%s +× %s +[0-9]+\.[0-9]{3}s`, pid, regexp.QuoteMeta(src), regexp.QuoteMeta(ln.String())), out.String())
	}
	require.NotContains(t, out.String(), "\x1b[", "no colour into a buffer")
}

// -j output reads back with the project's decoder; a refused connect is
// reported with its errno.
func TestIntegrationNetJSON(t *testing.T) {
	requireNetTracing(t)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	closed := tracetest.ClosedPort(t)
	var out, errOut tracetest.Buffer
	code := Run(context.Background(), []string{"net", "-j", "python3", "-c", netClient + `
try:
    socket.create_connection(("127.0.0.1", ` + strconv.Itoa(int(closed.Port())) + `))
except ConnectionRefusedError:
    pass
`, ln.String(), "1"}, strings.NewReader(""), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	// The trace is all of standard output, the command's output on stderr.
	pid, ports := parseClient(t, errOut.String())
	evs, err := tracep.ReadAll(strings.NewReader(out.String()))
	require.NoError(t, err)
	var connected, refused bool
	for _, ev := range evs {
		require.Equal(t, tracep.KindNet, ev.Kind)
		require.Equal(t, pid, ev.Proc.PID)
		n := ev.Net
		if n.Op == tracep.NetOpConnect && n.Dst == ln && n.Src.Port() == ports[0] {
			connected = true
		}
		if n.Op == tracep.NetOpClose && n.Dst == closed && n.Errno == "ECONNREFUSED" {
			refused = true
		}
	}
	require.True(t, connected, "%s", out.String())
	require.True(t, refused, "%s", out.String())
}

// -p traces a running process (and what it forks) and nothing else; an
// inbound connection shows ← with the accepting server's pid.
func TestIntegrationNetPID(t *testing.T) {
	requireNetTracing(t)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	// A server that waits for a line on stdin, then connects to ln from a
	// child process and accepts one connection of its own.
	server := exec.Command("python3", "-c", `
import os, socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print("listen", s.getsockname()[1], flush=True)
sys.stdin.readline()
subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', `+strconv.Itoa(int(ln.Port()))+`)).close()"], check=True)
a, _ = s.accept(); a.close()
`)
	gate, err := server.StdinPipe()
	require.NoError(t, err)
	stdout, err := server.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, server.Start())
	defer server.Process.Kill()
	var word string
	var port int
	_, err = fmt.Fscan(stdout, &word, &port)
	require.NoError(t, err)

	var ownSrc, clientSrc string
	text, _ := traceUntil(t, []string{"net", "-p", strconv.Itoa(server.Process.Pid)}, func() {
		// Not traced: a connection from this test process.
		own, err := net.Dial("tcp", ln.String())
		require.NoError(t, err)
		ownSrc = own.LocalAddr().String()
		own.Close()
		// Traced: the server's child connecting, then a client connecting to the server.
		_, err = gate.Write([]byte("go\n"))
		require.NoError(t, err)
		client, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		require.NoError(t, err)
		clientSrc = client.LocalAddr().String()
		require.NoError(t, server.Wait())
		client.Close()
	})
	require.Regexp(t, fmt.Sprintf(`(?m)^ *[0-9]+ python3 +TCP +127\.0\.0\.1:[0-9]+ +→ %s$`, regexp.QuoteMeta(ln.String())), text)
	require.Regexp(t, fmt.Sprintf(`(?m)^ *%d python3 +TCP +%s +← 127\.0\.0\.1:%d$`, server.Process.Pid, regexp.QuoteMeta(clientSrc), port), text)
	require.NotContains(t, text, ownSrc, "a connection from outside the traced tree")
	require.Len(t, strings.Split(strings.TrimSpace(text), "\n"), 2, "%s", text)
}

func parseClient(t *testing.T, out string) (int32, []uint16) {
	t.Helper()
	var pid int32
	var ports []uint16
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch f[0] {
		case "pid":
			pid = int32(n)
		case "port":
			ports = append(ports, uint16(n))
		}
	}
	require.NotZero(t, pid, "no pid in %q", out)
	return pid, ports
}

// BenchmarkNetCLI1000 measures tracep net -t as a user runs it, writing to
// a file, while a python3 process makes 1,000 loopback connections to a
// listener of its own (four lines each: connect, accept, two closes): the
// CPU this process spends (the tracer: decoding, formatting, writing),
// children excluded.
func BenchmarkNetCLI1000(b *testing.B) {
	tracetest.SkipUnlessRoot(b, "tracing the network")
	if _, err := exec.LookPath("python3"); err != nil {
		b.Skip("python3 not installed")
	}
	const workload = `
import socket, sys, threading
sys.stdin.readline()
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4096)
def serve():
    while True:
        a, _ = s.accept(); a.close()
threading.Thread(target=serve, daemon=True).start()
for _ in range(1000):
    socket.create_connection(s.getsockname()).close()
`
	out := filepath.Join(b.TempDir(), "net.log")
	var cpu time.Duration
	for range b.N {
		cmd := exec.Command("python3", "-c", workload)
		gate, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var c0 time.Duration
		traceUntil(b, []string{"net", "-t", "-o", out, "-p", strconv.Itoa(cmd.Process.Pid)}, func() {
			c0 = tracetest.CPUTime(b)
			if _, err := gate.Write([]byte("go\n")); err != nil {
				b.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
		})
		cpu += tracetest.CPUTime(b) - c0
	}
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	if n := strings.Count(string(data), " → "); n < 1000*b.N {
		b.Fatalf("%d connect lines for %d connections", n, 1000*b.N)
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "tracer-cpu-s/1000conn")
}
