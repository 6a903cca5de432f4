package integration_test

import (
	"testing"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// BenchmarkArm measures each tracer's Start and Close for a cgroup scope:
// "first" when no session of the process is open and the programs are
// detached (the first run also loads them and parses kernel BTF, see
// bpfcore.Linger), "later" while another session keeps them attached (a
// ring buffer and the scope's registration).
func BenchmarkArm(b *testing.B) {
	for _, tr := range tracers {
		b.Run(string(tr.kind), func(b *testing.B) {
			tracetest.RequireSupported(b, tr.supported())
			scope := tracep.Scope{CgroupID: tracetest.Open(b, cgroup.New).ID()}
			b.Run("first", func(b *testing.B) {
				tracetest.BenchStart(b, bpfcore.DetachIdle, tr.start, scope)
			})
			b.Run("later", func(b *testing.B) {
				tracetest.Start(b, tr.start, scope, func(tracep.Event) {})
				tracetest.BenchStart(b, nil, tr.start, scope)
			})
		})
	}
}
