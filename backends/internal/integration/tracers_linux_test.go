package integration_test

import (
	"context"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// tracer is one kernel tracer, with a workload it must see.
type tracer struct {
	kind      tracep.Kind
	caps      bpfcore.Caps // what it needs
	supported func() error
	start     func(context.Context, tracep.Scope, func(tracep.Event)) (tracep.Session, error)
	// workload returns a command for the tracer to see, run by (or inside)
	// the process of pid, and whether ev is that process's activity. It
	// runs in the hermetic network when inNet is set.
	workload func(t testing.TB) (argv []string, seen func(ev tracep.Event, pid int) bool)
	inNet    bool
}

// session adapts a tracer's Start.
func session[C any, S tracep.Session](start func(context.Context, C, func(tracep.Event)) (S, error), cfg func(tracep.Scope) C) func(context.Context, tracep.Scope, func(tracep.Event)) (tracep.Session, error) {
	return func(ctx context.Context, scope tracep.Scope, emit func(tracep.Event)) (tracep.Session, error) {
		s, err := start(ctx, cfg(scope), emit)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

var tracers = []tracer{
	{
		kind: tracep.KindExec, caps: bpfcore.TracingCaps, supported: exectrace.Supported,
		start: session(exectrace.Start, func(s tracep.Scope) exectrace.Config { return exectrace.Config{Scope: s} }),
		workload: func(t testing.TB) ([]string, func(tracep.Event, int) bool) {
			token := "tracep-" + t.Name()
			return []string{"/bin/true", token}, func(ev tracep.Event, pid int) bool {
				return int(ev.Proc.PID) == pid && ev.Exec.Op == tracep.ExecOpExec && slices.Contains(ev.Exec.Argv, token)
			}
		},
	},
	{
		kind: tracep.KindNet, caps: bpfcore.TracingCaps | bpfcore.CapNetAdmin, supported: nettrace.Supported,
		start: session(nettrace.Start, func(s tracep.Scope) nettrace.Config { return nettrace.Config{Scope: s} }),
		workload: func(t testing.TB) ([]string, func(tracep.Event, int) bool) {
			ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
			return pyConnect(ln), func(ev tracep.Event, pid int) bool {
				return int(ev.Proc.PID) == pid && ev.Net.Op == tracep.NetOpConnect && ev.Net.Dst == ln
			}
		},
	},
	{
		kind: tracep.KindDNS, caps: bpfcore.TracingCaps | bpfcore.CapNetAdmin, supported: dnstrace.Supported,
		start: session(dnstrace.Start, func(s tracep.Scope) dnstrace.Config { return dnstrace.Config{Scope: s} }),
		workload: func(t testing.TB) ([]string, func(tracep.Event, int) bool) {
			return []string{"getent", "hosts", "example.test"}, func(ev tracep.Event, pid int) bool {
				return int(ev.Proc.PID) == pid && ev.DNS.Name == "example.test" && ev.DNS.Answered
			}
		},
		inNet: true,
	},
	{
		kind: tracep.KindTLS, caps: bpfcore.TracingCaps | bpfcore.CapKill | bpfcore.CapSysPtrace | bpfcore.CapCheckpointRestore,
		supported: tlstrace.Supported,
		start:     session(tlstrace.Start, func(s tracep.Scope) tlstrace.Config { return tlstrace.Config{Scope: s} }),
		workload: func(t testing.TB) ([]string, func(tracep.Event, int) bool) {
			curl := tracetest.RequireTool(t, "curl")
			return []string{curl, "-sS", "-o", "/dev/null", "https://example.test/"}, func(ev tracep.Event, pid int) bool {
				return int(ev.Proc.PID) == pid && ev.TLS.Op == tracep.TLSOpWrite && ev.TLS.Library == tlstrace.LibOpenSSL
			}
		},
		inNet: true,
	},
}

// pyConnect is a command that connects to ap and closes the connection.
func pyConnect(ap netip.AddrPort) []string {
	return []string{"python3", "-c", "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2]))).close()",
		ap.Addr().String(), strconv.Itoa(int(ap.Port()))}
}

// forEach runs f as a subtest for every tracer the host supports.
func forEach(t *testing.T, f func(t *testing.T, tr tracer)) {
	for _, tr := range tracers {
		t.Run(string(tr.kind), func(t *testing.T) {
			tracetest.RequireSupported(t, tr.supported())
			f(t, tr)
		})
	}
}

// starter returns how to start tr's workload: inside a hermetic network
// made for t when it needs one, else plainly.
func (tr tracer) starter(t testing.TB) func(*exec.Cmd) error {
	if !tr.inNet {
		return (*exec.Cmd).Start
	}
	return tracetest.Open(t, func() (*testnet.Net, error) { return testnet.New(nil) }).Start
}
