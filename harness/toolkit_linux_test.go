package harness

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep/tracetest"
)

func newNet(t *testing.T) *testnet.Net {
	t.Helper()
	tracetest.SkipUnlessRoot(t, "the hermetic network")
	n, err := testnet.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// A program that resolves one name more than its policy allows fails the
// test with the name, the process chain and the rule; the fixed policy
// passes.
func TestIntegrationPolicyCatchesExtraName(t *testing.T) {
	n := newNet(t)
	c := Trace(t, exec.Command("sh", "-c", "getent hosts example.test; getent hosts v6.test"), InNet(n))
	require.Zero(t, c.ExitCode)

	tight, err := ParsePolicy(strings.NewReader("allow exec prog=sh\nallow exec prog=getent\nallow dns name=example.test\nallow net proto=udp dst=*:53\n"))
	require.NoError(t, err)
	ft := &fakeT{}
	c.RequirePolicy(ft, tight)
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "dns AAAA v6.test")
	require.Contains(t, ft.msg, "reason: no rule allows this dns event")
	require.Regexp(t, `process: getent\[[0-9]+\] ← sh\[[0-9]+\]`, ft.msg)
	require.NotContains(t, ft.msg, "all exec events", "only the kinds involved are shown")

	fixed, err := ParsePolicy(strings.NewReader("allow exec prog=sh\nallow exec prog=getent\nallow dns name=example.test\nallow dns name=v6.test\nallow net proto=udp dst=*:53\n"))
	require.NoError(t, err)
	c.RequirePolicy(t, fixed)
}

// A program that connects to a hard-coded address is caught by
// connect-from-dns; one that resolved the name first is not.
func TestIntegrationConnectFromDNS(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl")
	}
	n := newNet(t)
	p, err := ParsePolicy(strings.NewReader("require connect-from-dns\n"))
	require.NoError(t, err)

	good := Trace(t, exec.Command("curl", "-4", "-sS", "-o", "/dev/null", "http://example.test/"), InNet(n))
	require.Zero(t, good.ExitCode)
	good.RequirePolicy(t, p)
	conns, err := good.FindConnects("192.0.2.10:80")
	require.NoError(t, err)
	require.NotEmpty(t, conns)
	ans, ok := good.AnswerFor(conns[0])
	require.True(t, ok, "the connection is linked to the answer that gave its address")
	require.Equal(t, "example.test", ans.DNS.Name)

	bad := Trace(t, exec.Command("curl", "-4", "-sS", "-o", "/dev/null", "http://192.0.2.10/"), InNet(n))
	require.Zero(t, bad.ExitCode)
	vs := p.Check(bad.Events)
	require.Len(t, vs, 1, "%v", vs)
	require.Contains(t, vs[0].String(), "no DNS answer in this trace gave 192.0.2.10")
}

// Two runs of the same networked program normalise to the same golden
// text, whatever their pids, ports and DNS ids; -update writes the file and
// a changed behaviour shows as a diff.
func TestIntegrationGoldenAcrossRuns(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl")
	}
	n := newNet(t)
	run := func(url string) *Capture {
		c := Trace(t, exec.Command("curl", "-4", "-sS", "-o", "/dev/null", url), InNet(n))
		require.Zero(t, c.ExitCode)
		return c
	}
	golden := filepath.Join(t.TempDir(), "curl.golden")
	first := run("http://example.test/")
	t.Setenv(UpdateGoldenEnv, "1")
	first.RequireGolden(t, golden)
	t.Setenv(UpdateGoldenEnv, "")

	second := run("http://example.test/")
	require.NotEqual(t, first.Events[0].Proc.PID, second.Events[0].Proc.PID)
	second.RequireGolden(t, golden)
	require.Equal(t, Normalize(first.Events), Normalize(second.Events))

	changed := run("http://www.example.test/")
	ft := &fakeT{TB: t}
	changed.RequireGolden(ft, golden)
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "+ p1 exec /usr/bin/curl: curl -4 -sS -o /dev/null http://www.example.test/")
	require.Contains(t, ft.msg, "- p1 exec /usr/bin/curl: curl -4 -sS -o /dev/null http://example.test/")
}
