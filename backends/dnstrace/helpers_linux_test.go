package dnstrace_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/harness/testenv"
	"github.com/tracep/tracep/harness/testnet"
	"github.com/tracep/tracep/tracep"
)

// requirePrivileged skips t when DNS tracing is unavailable, or fails it
// when TRACEP_REQUIRE_PRIVILEGED=1.
func requirePrivileged(t testing.TB) {
	t.Helper()
	testenv.SkipUnlessRoot(t, "DNS tracing")
	testenv.SkipIfUnprivileged(t, dnstrace.Supported())
}

// newNet starts a hermetic network for t.
func newNet(t testing.TB, cfg *testnet.Config) *testnet.Net {
	t.Helper()
	n, err := testnet.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

// trace is one DNS session scoped to a cgroup of its own.
type trace struct {
	cg *cgroup.Cgroup
	s  *dnstrace.Session

	mu     sync.Mutex
	evs    []tracep.Event
	closed bool
	late   int // events emitted after Close returned
	notify chan tracep.Event
}

// startTrace starts a session for a fresh cgroup; cfg.Scope is set to it.
func startTrace(t testing.TB, cfg dnstrace.Config) *trace {
	t.Helper()
	cg, err := cgroup.New()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cg.Close()) })
	tr := &trace{cg: cg, notify: make(chan tracep.Event, 16)}
	cfg.Scope = tracep.Scope{CgroupID: cg.ID()}
	tr.s, err = dnstrace.Start(context.Background(), cfg, tr.emit)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.s.Close() })
	return tr
}

func (tr *trace) emit(ev tracep.Event) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.closed {
		tr.late++
	}
	tr.evs = append(tr.evs, ev)
	select {
	case tr.notify <- ev:
	default:
	}
}

// command returns cmd set up to start in the trace's cgroup.
func (tr *trace) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: tr.cg.FD()}
	return cmd
}

// run runs a command in the trace's cgroup inside n and returns its pid.
func (tr *trace) run(t testing.TB, n *testnet.Net, name string, args ...string) int {
	t.Helper()
	cmd := tr.command(name, args...)
	out, err := n.CombinedOutput(cmd)
	require.NoError(t, err, "%s: %s", name, out)
	return cmd.Process.Pid
}

// close closes the session, requiring no loss, and returns the events.
func (tr *trace) close(t testing.TB) []tracep.Event {
	t.Helper()
	require.NoError(t, tr.s.Close())
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.closed = true
	return slices.Clone(tr.evs)
}

func (tr *trace) events() []tracep.Event {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.evs)
}

// lookups returns the events for name (lower case, no trailing dot) and
// type asked by pid.
func lookups(evs []tracep.Event, pid int, name, typ string) []tracep.Event {
	var out []tracep.Event
	for _, ev := range evs {
		if int(ev.Proc.PID) == pid && harness.MatchName(name, ev.DNS.Name) && ev.DNS.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func describe(evs []tracep.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %s→%s\n", harness.DescribeDNS(ev), ev.DNS.Client, ev.DNS.Server)
	}
	return b.String()
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
