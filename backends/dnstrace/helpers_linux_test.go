package dnstrace_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// newNet starts a hermetic network for t.
func newNet(t testing.TB, cfg *testnet.Config) *testnet.Net {
	t.Helper()
	return tracetest.Open(t, func() (*testnet.Net, error) { return testnet.New(cfg) })
}

// trace is one DNS session, scoped to a cgroup of its own by startTrace.
type trace struct {
	tracetest.Collector
	cg *cgroup.Cgroup
	s  *dnstrace.Session
}

// startTrace starts a session for a fresh cgroup; cfg.Scope is set to it.
func startTrace(t testing.TB, cfg dnstrace.Config) *trace {
	t.Helper()
	tr := &trace{cg: tracetest.Open(t, cgroup.New)}
	cfg.Scope = tracep.Scope{CgroupID: tr.cg.ID()}
	tr.s = tracetest.Start(t, dnstrace.Start, cfg, tr.Emit)
	return tr
}

// run runs a command in the trace's cgroup inside n and returns its pid.
func (tr *trace) run(t testing.TB, n *testnet.Net, name string, args ...string) int {
	t.Helper()
	cmd := tr.cg.Command(name, args...)
	out, err := n.CombinedOutput(cmd)
	require.NoError(t, err, "%s: %s", name, out)
	return cmd.Process.Pid
}

// close closes the session, requiring no loss, and returns the events.
func (tr *trace) close(t testing.TB) []tracep.Event {
	t.Helper()
	tr.CloseSession(t, tr.s)
	return tr.Events()
}

// lookups returns the events for name (lower case, no trailing dot) and
// type asked by pid.
func lookups(evs []tracep.Event, pid int, name, typ string) []tracep.Event {
	var out []tracep.Event
	for _, ev := range evs {
		if int(ev.Proc.PID) == pid && tracep.CanonicalName(ev.DNS.Name) == name && ev.DNS.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// answers renders an event's answers as "TYPE data" strings.
func answers(ev tracep.Event) []string {
	var out []string
	for _, a := range ev.DNS.Answers {
		out = append(out, a.Type+" "+a.Data)
	}
	return out
}

// goResolver builds a program that looks names up with Go's own resolver:
// each argument is network:name (ip4:example.test).
func goResolver(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte(`package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	r := &net.Resolver{PreferGo: true}
	for _, q := range os.Args[1:] {
		network, name, _ := strings.Cut(q, ":")
		ips, err := r.LookupIP(context.Background(), network, name)
		fmt.Println(q, ips, err)
	}
}
`), 0o644))
	bin := filepath.Join(dir, "goresolve")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}
