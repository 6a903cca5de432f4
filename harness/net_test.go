package harness_test

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

func netEvent(op, proto, dir, src, dst string) tracep.Event {
	n := &tracep.Net{Op: op, Proto: proto, Dir: dir, Src: netip.MustParseAddrPort(src)}
	if dst != "" {
		n.Dst = netip.MustParseAddrPort(dst)
	}
	return tracep.Event{Kind: tracep.KindNet, Proc: tracep.Proc{PID: 42, Comm: "curl"}, Net: n}
}

// curlCapture is what curl -4 https://example.test/ does: a DNS query over
// a connected UDP socket, then the TCP connection.
func curlCapture() *harness.Capture {
	return &harness.Capture{Events: []tracep.Event{
		{Kind: tracep.KindExec, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/usr/bin/curl"}},
		netEvent("connect", "udp", "out", "127.0.0.1:40000", "127.0.0.1:53"),
		netEvent("close", "udp", "out", "127.0.0.1:40000", "127.0.0.1:53"),
		netEvent("connect", "tcp", "out", "192.0.2.1:50000", "192.0.2.10:443"),
		netEvent("state", "tcp", "out", "192.0.2.1:50000", "192.0.2.10:443"),
		netEvent("close", "tcp", "out", "192.0.2.1:50000", "192.0.2.10:443"),
	}}
}

func TestConnections(t *testing.T) {
	c := curlCapture()
	c.Events = append(c.Events,
		netEvent("send", "udp", "out", "0.0.0.0:40001", "[::1]:53"),
		netEvent("accept", "tcp", "in", "192.0.2.99:1234", "192.0.2.1:8080"),
		netEvent("close", "udp", "out", "0.0.0.0:40001", ""))
	var ops []string
	for _, ev := range c.Connections() {
		ops = append(ops, ev.Net.Op+" "+ev.Net.Dst.String())
	}
	require.Equal(t, []string{
		"connect 127.0.0.1:53", "connect 192.0.2.10:443", "send [::1]:53", "accept 192.0.2.1:8080",
	}, ops)
}

func TestFindConnects(t *testing.T) {
	c := curlCapture()
	for _, tc := range []struct {
		dst   string
		terms []string
		want  int
	}{
		{"192.0.2.10:443", nil, 1},
		{"192.0.2.10:80", nil, 0},
		{"192.0.2.0/24", nil, 1},
		{"192.0.2.0/24:443", nil, 1},
		{"192.0.2.0/24:80", nil, 0},
		{"127.0.0.0/8:53", []string{"proto=udp"}, 1},
		{"*:53", []string{"proto=tcp"}, 0},
		{"*", nil, 2},
		{"*", []string{"comm=curl", "proto!=udp"}, 1},
		{"[2001:db8::/32]:443", nil, 0},
	} {
		found, err := c.FindConnects(tc.dst, tc.terms...)
		require.NoError(t, err)
		require.Len(t, found, tc.want, "%s %q", tc.dst, tc.terms)
	}
	_, err := c.FindConnects("*", "bad term")
	require.ErrorIs(t, err, tracep.ErrInvalid)
}

// fakeT records a failure instead of ending the test.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}
func (f *fakeT) Errorf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}
func (f *fakeT) FailNow() {}

func TestRequireConnections(t *testing.T) {
	c := curlCapture()
	ev := c.RequireConnect(t, "192.0.2.10:443")
	require.Equal(t, "tcp", ev.Net.Proto)
	c.RequireNoConnect(t, "198.51.100.0/24")
	c.RequireOnlyConnections(t, "proto=tcp dst=192.0.2.10:443", "net proto=udp dst=*:53")

	ft := &fakeT{TB: t}
	c.RequireConnect(ft, "203.0.113.5:443")
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "no connection to 203.0.113.5:443")
	require.Contains(t, ft.msg, "connect tcp 192.0.2.1:50000 → 192.0.2.10:443", "the failure lists what happened")

	ft = &fakeT{TB: t}
	c.RequireNoConnect(ft, "*:53")
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "unexpected connection to *:53")

	ft = &fakeT{TB: t}
	c.RequireOnlyConnections(ft, "proto=tcp dst=192.0.2.10:443")
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "127.0.0.1:53")
	require.NotContains(t, strings.SplitN(ft.msg, "all connections", 2)[0], "connect tcp", "only the offender is named first")

	ft = &fakeT{TB: t}
	c.RequireOnlyConnections(ft, "exec prog=curl")
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "not for net events")
}

// curl inside the hermetic network: the capture shows exactly its DNS
// query and its HTTPS connection.
func TestIntegrationTraceCurlConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("tracing needs Linux")
	}
	tracetest.SkipUnlessRoot(t, "tracing curl in the fake internet")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	n, err := testnet.New(nil)
	require.NoError(t, err)
	defer n.Close()

	// A connection from this process, outside the traced tree, made while
	// the trace runs (on its first event): never in the capture.
	outside, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer outside.Close()
	outsideAddr := outside.Addr().String()
	var once sync.Once
	var dialErr error
	dialOutside := func(tracep.Event) {
		once.Do(func() {
			var c net.Conn
			if c, dialErr = net.Dial("tcp", outsideAddr); dialErr == nil {
				c.Close()
			}
		})
	}

	c := harness.Trace(t, exec.Command("curl", "-4", "-sS", "-o", "/dev/null", "https://example.test/"),
		harness.InNet(n), harness.Kinds(tracep.KindNet), harness.OnEvent(dialOutside))
	require.Zero(t, c.ExitCode, c.NetTable())
	require.NoError(t, dialErr)
	ev := c.RequireConnect(t, "192.0.2.10:443", "proto=tcp", "comm=curl")
	require.Equal(t, c.CgroupID, ev.Proc.CgroupID)
	c.RequireConnect(t, "*:53", "proto=udp")
	c.RequireNoConnect(t, "192.0.2.10:80")
	c.RequireNoConnect(t, outsideAddr)
	c.RequireOnlyConnections(t, "proto=tcp dst=192.0.2.10:443", "proto=udp dst=*:53")
	for _, ev := range c.Of(tracep.KindNet) {
		require.Equal(t, c.CgroupID, ev.Proc.CgroupID, "every event comes from the command's cgroup")
	}
}

// A failed RequireConnect lists each connection once, with its outcome:
// no state changes, no closes of their own.
func TestRequireConnectMessage(t *testing.T) {
	closed := func(proto, src, dst string, d time.Duration, tx, rx uint64) tracep.Event {
		ev := netEvent("close", proto, "out", src, dst)
		ev.Net.Duration, ev.Net.BytesSent, ev.Net.BytesReceived = d, tx, rx
		return ev
	}
	refused := netEvent("connect", "tcp", "out", "192.0.2.1:50002", "192.0.2.10:8443")
	refused.Net.Errno = "ECONNREFUSED"
	c := &harness.Capture{Events: []tracep.Event{
		netEvent("connect", "udp", "out", "127.0.0.1:40000", "127.0.0.1:53"),
		closed("udp", "127.0.0.1:40000", "127.0.0.1:53", time.Millisecond, 0, 0),
		netEvent("connect", "tcp", "out", "192.0.2.1:50000", "192.0.2.10:443"),
		netEvent("state", "tcp", "out", "192.0.2.1:50000", "192.0.2.10:443"),
		netEvent("state", "tcp", "out", "192.0.2.1:50000", "192.0.2.10:443"),
		netEvent("connect", "tcp", "out", "192.0.2.1:50001", "192.0.2.10:80"),
		netEvent("state", "tcp", "out", "192.0.2.1:50001", "192.0.2.10:80"),
		closed("tcp", "192.0.2.1:50000", "192.0.2.10:443", 12*time.Millisecond, 75, 1380),
		refused,
		netEvent("state", "tcp", "out", "192.0.2.1:50002", "192.0.2.10:8443"),
		netEvent("close", "tcp", "out", "192.0.2.1:50002", "192.0.2.10:8443"),
	}}
	ft := &fakeT{TB: t}
	c.RequireConnect(ft, "*:22")
	require.True(t, ft.failed)
	require.Equal(t, `no connection to *:22 matched; the connections were:
  curl[42] connect udp 127.0.0.1:40000 → 127.0.0.1:53: closed after 0.001s
  curl[42] connect tcp 192.0.2.1:50000 → 192.0.2.10:443: closed after 0.012s tx=75 rx=1380
  curl[42] connect tcp 192.0.2.1:50001 → 192.0.2.10:80: open at the end of the trace
  curl[42] connect tcp 192.0.2.1:50002 → 192.0.2.10:8443 ECONNREFUSED
`, ft.msg)

	ft = &fakeT{TB: t}
	c.RequireNoConnect(ft, "192.0.2.10:443")
	require.Equal(t, "unexpected connection to 192.0.2.10:443:\n  curl[42] connect tcp 192.0.2.1:50000 → 192.0.2.10:443: closed after 0.012s tx=75 rx=1380\n", ft.msg,
		"only the offending connection")
}
