package harness

import (
	"net/netip"
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
	ft := &fakeT{}
	other.RequireGolden(ft, path)
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "- p1 exec /bin/true: true")
	require.Contains(t, ft.msg, "+ p1 exec /bin/false: false")
}
