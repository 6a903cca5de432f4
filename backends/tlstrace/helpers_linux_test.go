package tlstrace_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// newNet starts the hermetic fake internet for one test.
func newNet(t testing.TB) *testnet.Net {
	t.Helper()
	return tracetest.Open(t, func() (*testnet.Net, error) { return testnet.New(nil) })
}

// scoped is a cgroup with a TLS session on it.
type scoped struct {
	tracetest.Collector
	t       testing.TB
	cg      *cgroup.Cgroup
	s       *tlstrace.Session
	started time.Time
}

// startScoped opens a session for a new cgroup; cfg.Scope is set.
func startScoped(t testing.TB, cfg tlstrace.Config) *scoped {
	t.Helper()
	sc := &scoped{t: t, cg: tracetest.Open(t, cgroup.New), started: time.Now()}
	cfg.Scope = tracep.Scope{CgroupID: sc.cg.ID()}
	sc.s = tracetest.Start(t, tlstrace.Start, cfg, sc.Emit)
	return sc
}

// run runs cmd inside n (and the cgroup, if cmd was made by command) and
// returns its standard output; it fails t when cmd fails.
func run(t testing.TB, n *testnet.Net, cmd *exec.Cmd, stdin string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	require.NoError(t, n.Run(cmd), "%s: %s", cmd.Args, errb.String())
	return out.Bytes()
}

// close ends the session once the cgroup is empty, requires that nothing
// was lost, and returns the events.
func (sc *scoped) close() []tracep.Event {
	sc.t.Helper()
	require.NoError(sc.t, sc.cg.Kill(10*time.Second))
	sc.CloseSession(sc.t, sc.s)
	evs := sc.Events()
	for _, ev := range evs {
		require.Equal(sc.t, sc.cg.ID(), ev.Proc.CgroupID, "event from outside the scope: %s", ev)
		require.False(sc.t, ev.Time.Before(sc.started.Add(-time.Second)) || ev.Time.After(time.Now().Add(time.Second)),
			"wall-clock time %v outside the test's run", ev.Time)
	}
	return evs
}

// ops returns the events of one operation (and pid, when non-zero).
func ops(evs []tracep.Event, op string, pid int) []tracep.Event {
	var out []tracep.Event
	for _, ev := range evs {
		if ev.TLS.Op == op && (pid == 0 || int(ev.Proc.PID) == pid) {
			out = append(out, ev)
		}
	}
	return out
}

// stream concatenates the data of events, in order.
func stream(evs []tracep.Event) []byte {
	var b []byte
	for _, ev := range evs {
		b = append(b, ev.TLS.Data...)
	}
	return b
}

// exchange is one HTTPS request a test expects to see.
type exchange struct {
	pid      int
	lib      string // the library whose calls carry the plaintext
	host     string // the server name of the ClientHello
	request  string // in the written plaintext
	response string // in the read plaintext
}

// check requires the events of x: a ClientHello naming the host, and the
// request and the response in plaintext from the library, each event
// naming the host and carrying the connection's socket (cookie and
// addresses) and nothing missing; all from x.pid, on one connection.
func (x exchange) check(t testing.TB, evs []tracep.Event) {
	t.Helper()
	all := tracetest.Lines(evs)
	hs := ops(evs, tracep.TLSOpHandshake, x.pid)
	require.NotEmpty(t, hs, "no handshake by pid %d:\n%s", x.pid, all)
	require.Equal(t, x.host, hs[0].TLS.SNI, all)
	require.Equal(t, tlstrace.LibWire, hs[0].TLS.Library)
	require.Equal(t, uint16(443), hs[0].TLS.Dst.Port(), all)
	require.NotZero(t, hs[0].TLS.Cookie, all)
	for _, op := range []string{tracep.TLSOpWrite, tracep.TLSOpRead} {
		got := ops(evs, op, x.pid)
		require.NotEmpty(t, got, "no %s by pid %d:\n%s", op, x.pid, all)
		for _, ev := range got {
			require.Equal(t, x.lib, ev.TLS.Library, all)
			require.False(t, ev.TLS.Truncated, all)
			require.Equal(t, len(ev.TLS.Data), ev.TLS.Len)
			require.Equal(t, x.host, ev.TLS.SNI, "event without the server name:\n%s", all)
			require.Equal(t, hs[0].TLS.Dst, ev.TLS.Dst, all)
			require.Equal(t, hs[0].TLS.Src, ev.TLS.Src, all)
			require.Equal(t, hs[0].TLS.Cookie, ev.TLS.Cookie, all)
			require.Empty(t, ev.TLS.Incomplete(), all)
		}
	}
	require.Contains(t, string(stream(ops(evs, tracep.TLSOpWrite, x.pid))), x.request, all)
	require.Contains(t, string(stream(ops(evs, tracep.TLSOpRead, x.pid))), x.response, all)
	for _, ev := range evs {
		if int(ev.Proc.PID) != x.pid {
			t.Fatalf("event from pid %d, not %d:\n%s", ev.Proc.PID, x.pid, all)
		}
	}
}

// goClient returns the path of one build of the test's Go client.
func goClient(t testing.TB, variant string) string {
	t.Helper()
	return tlstrace.BuildGoClient(t) + "/" + variant
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
