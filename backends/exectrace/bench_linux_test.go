package exectrace_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

func discard(tracep.Event) {}

// execWorkload runs n /bin/true processes, 4 at a time, from xargs in cg.
func execWorkload(b *testing.B, cg *cgroup.Cgroup, n int) time.Duration {
	b.Helper()
	cmd := cg.Command("/bin/sh", "-c", fmt.Sprintf(`seq 1 %d | xargs -P4 -I{} /bin/true "x{}"`, n))
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("workload: %v: %s", err, out)
	}
	return time.Since(t0)
}

// BenchmarkExecThroughput runs 2,000 execs, 4 at a time, untraced and then
// traced, and reports both rates; the traced run must lose nothing.
func BenchmarkExecThroughput(b *testing.B) {
	tracetest.RequireSupported(b, exectrace.Supported())
	const n = 2000
	cg := tracetest.Open(b, cgroup.New)
	var base, traced time.Duration
	for range b.N {
		base += execWorkload(b, cg, n)

		var execs atomic.Int64
		s, err := exectrace.Start(context.Background(), exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}},
			func(ev tracep.Event) {
				if ev.Exec.Op == tracep.ExecOpExec && ev.Exec.Filename == "/bin/true" {
					execs.Add(1)
				}
			})
		if err != nil {
			b.Fatal(err)
		}
		traced += execWorkload(b, cg, n)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if got := execs.Load(); got != n {
			b.Fatalf("saw %d of %d execs", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/base.Seconds(), "untraced-execs/s")
	b.ReportMetric(float64(n*b.N)/traced.Seconds(), "execs/s")
	b.ReportMetric(0, "lost")
}

// BenchmarkTracerCPU reports the CPU time of this process (the tracer: its
// reader goroutine, decoding and delivery; the workload runs in child
// processes and is not counted by RUSAGE_SELF) for 4,000 traced execs. The
// BPF programs run in the workload's context and are not included.
func BenchmarkTracerCPU(b *testing.B) {
	tracetest.RequireSupported(b, exectrace.Supported())
	const n = 4000
	cg := tracetest.Open(b, cgroup.New)
	var cpu time.Duration
	for range b.N {
		var events atomic.Int64
		s, err := exectrace.Start(context.Background(), exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}},
			func(tracep.Event) { events.Add(1) })
		if err != nil {
			b.Fatal(err)
		}
		before := tracetest.CPUTime(b)
		execWorkload(b, cg, n)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		cpu += tracetest.CPUTime(b) - before
		if events.Load() < 2*n {
			b.Fatalf("only %d events for %d execs", events.Load(), n)
		}
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "tracer-cpu-s/4000execs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "tracer-cpu-us/exec")
}

// BenchmarkSyscallOverhead measures a cheap system call with and without an
// exec session open: the sys_enter/sys_exit programs that catch failed
// execs run on every system call of every process.
func BenchmarkSyscallOverhead(b *testing.B) {
	tracetest.RequireSupported(b, exectrace.Supported())
	cg := tracetest.Open(b, cgroup.New)
	loop := func(n int) time.Duration {
		t0 := time.Now()
		for range n {
			syscall.Getppid()
		}
		return time.Since(t0)
	}
	const n = 200000
	var base, traced time.Duration
	for range b.N {
		base += loop(n)
		s, err := exectrace.Start(context.Background(), exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, discard)
		if err != nil {
			b.Fatal(err)
		}
		traced += loop(n)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(n*b.N), "untraced-ns/syscall")
	b.ReportMetric(float64(traced.Nanoseconds())/float64(n*b.N), "traced-ns/syscall")
}
