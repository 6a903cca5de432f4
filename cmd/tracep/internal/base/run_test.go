package base

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// tracep run with every tracer at once over a workload that execs,
// resolves, connects and speaks TLS: one stream, one consumer (this test
// runs under the race detector in make test).
func TestIntegrationRunEveryKind(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep run")
	script := "(getent hosts example.test; dig +short www.example.test; curl -sS https://example.test/; " +
		"python3 -c 'import socket; socket.create_connection((\"192.0.2.10\", 80)).close()') >/dev/null"
	for _, format := range []string{"-j", "-c"} {
		t.Run(format, func(t *testing.T) {
			var stdout, stderr tracetest.Buffer
			code := Run(tracetest.Context(t), []string{"run", format, "-net", "--", "sh", "-c", script}, strings.NewReader(""), &stdout, &stderr)
			out := stdout.String()
			require.Equal(t, 0, code, stderr.String())
			if format != "-j" {
				require.Contains(t, out, "\x1b[", "colour forced")
				require.Contains(t, out, "dns A example.test → NOERROR")
				return
			}
			evs, err := tracep.ReadAll(strings.NewReader(out))
			require.NoError(t, err)
			seen := map[tracep.Kind]int{}
			for i, ev := range evs {
				require.Equal(t, uint64(i+1), ev.Seq, "numbered in output order")
				seen[ev.Kind]++
			}
			for _, k := range []tracep.Kind{tracep.KindExec, tracep.KindDNS, tracep.KindNet, tracep.KindTLS} {
				require.NotZero(t, seen[k], "%s events in %s", k, out)
			}
		})
	}
}

// -p with several processes: both are traced, each with its descendants,
// and every option of the command applies (here -T and -j).
func TestIntegrationDNSSeveralPIDs(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep dns")
	n := newTestNet(t)
	var pids []string
	var gates []func()
	for _, name := range []string{"example.test", "v6.test"} {
		pid, gate := gatedShell(t, n, "getent ahosts "+name+" >/dev/null")
		pids = append(pids, strconv.Itoa(pid))
		gates = append(gates, gate)
	}
	out, errOut := traceUntil(t, []string{"dns", "-j", "-T", "A", "-p", strings.Join(pids, ",")}, func() {
		for _, gate := range gates {
			gate()
		}
	})
	evs, err := tracep.ReadAll(strings.NewReader(out))
	require.NoError(t, err, errOut)
	names := map[string]bool{}
	for _, ev := range evs {
		require.Equal(t, "A", ev.DNS.Type, "-T A")
		names[ev.DNS.Name] = true
	}
	require.Equal(t, map[string]bool{"example.test": true, "v6.test": true}, names)
}

// -as runs the command as another user: the process, and what it execs,
// have that uid.
func TestIntegrationRunAs(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep run")
	var stdout, stderr tracetest.Buffer
	code := Run(tracetest.Context(t), []string{"run", "-j", "-kinds", "exec", "-as", "nobody", "--", "sh", "-c", "id -u >/dev/null"},
		strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	evs, err := tracep.ReadAll(strings.NewReader(stdout.String()))
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	for _, ev := range evs {
		require.Equal(t, uint32(65534), ev.Proc.UID, "%s", ev)
	}
	code = Run(tracetest.Context(t), []string{"run", "-as", "no-such-user-x", "--", "true"}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, ExitError, code)
	require.Contains(t, stderr.String(), "-as no-such-user-x: ")
}
