package dnstrace_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// benchTracerEnv makes the test binary a tracer process for the benchmark
// (TestBenchTracerProcess): its value is the cgroup id to trace.
const benchTracerEnv = "TRACEP_DNS_BENCH_TRACER_CGROUP"

// tracerResult is what the tracer process reports on stdout.
type tracerResult struct {
	CPU    time.Duration // user+system CPU from armed to closed
	Arm    time.Duration // CPU to arm (load, attach, register)
	Events int
	Err    string
}

func rusageCPU(who int) time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBenchTracerProcess is not a test: with benchTracerEnv set, it is the
// tracer process of BenchmarkLookupsUnderFlood, so that the tracer's CPU
// is measured apart from everything else. It says "armed" on stdout, traces
// until stdin closes, then reports a tracerResult.
func TestBenchTracerProcess(t *testing.T) {
	cg := os.Getenv(benchTracerEnv)
	if cg == "" {
		t.Skip("the tracer process of BenchmarkLookupsUnderFlood")
	}
	id, err := strconv.ParseUint(cg, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var events atomic.Int64
	s, err := dnstrace.Start(context.Background(), dnstrace.Config{Scope: tracep.Scope{CgroupID: id}},
		func(tracep.Event) { events.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	armed := rusageCPU(unix.RUSAGE_SELF)
	fmt.Println("armed")
	_, _ = io.Copy(io.Discard, os.Stdin)
	res := tracerResult{}
	if err := s.Close(); err != nil {
		res.Err = err.Error()
	}
	res.CPU = rusageCPU(unix.RUSAGE_SELF) - armed
	res.Arm = armed
	res.Events = int(events.Load())
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

// floodWorkload runs 1,200 lookups (glibc, one A query each) in cg while a
// process outside it floods 50,000 UDP datagrams on the same loopback, and
// returns the wall time and the CPU of both processes.
func floodWorkload(b *testing.B, n *testnet.Net, cg *cgroup.Cgroup) (wall, cpu time.Duration) {
	b.Helper()
	before := rusageCPU(unix.RUSAGE_CHILDREN)
	start := time.Now()
	flood := n.Command("python3", "-c", pyFlood, "50000")
	if err := n.Start(flood); err != nil {
		b.Fatal(err)
	}
	look := n.Command("python3", "-c", pyUnique, "1200", "bench.test")
	cg.Enroll(look)
	if out, err := n.CombinedOutput(look); err != nil {
		b.Fatalf("lookups: %v: %s", err, out)
	}
	if err := flood.Wait(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), rusageCPU(unix.RUSAGE_CHILDREN) - before
}

// BenchmarkLookupsUnderFlood measures the DNS tracer's CPU, as a process of
// its own, for 1,200 lookups in the traced cgroup while another process
// floods 50,000 unrelated UDP datagrams on loopback; next to it, the same
// workload without a tracer. Run with -benchtime 1x.
func BenchmarkLookupsUnderFlood(b *testing.B) {
	tracetest.RequireSupported(b, dnstrace.Supported())
	n := newNet(b, nil)
	cg := tracetest.Open(b, cgroup.New)
	var tracerCPU, armCPU, baseWall, baseCPU, wall, cpu time.Duration
	events := 0
	for range b.N {
		w, c := floodWorkload(b, n, cg)
		baseWall += w
		baseCPU += c

		tracer := exec.Command(os.Args[0], "-test.run=^TestBenchTracerProcess$", "-test.count=1")
		tracer.Env = append(os.Environ(), benchTracerEnv+"="+strconv.FormatUint(cg.ID(), 10))
		stdin, err := tracer.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := tracer.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		tracer.Stderr = os.Stderr
		if err := tracer.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		if !lines.Scan() || lines.Text() != "armed" {
			b.Fatalf("tracer: %q %v", lines.Text(), lines.Err())
		}
		w, c = floodWorkload(b, n, cg)
		wall += w
		cpu += c
		stdin.Close()
		var res tracerResult
		got := false
		for lines.Scan() {
			if l := lines.Bytes(); len(l) > 0 && l[0] == '{' && !got {
				got = json.Unmarshal(l, &res) == nil
			}
		}
		if !got {
			b.Fatal("tracer: no result")
		}
		if err := tracer.Wait(); err != nil {
			b.Fatalf("tracer: %v", err)
		}
		if res.Err != "" {
			b.Fatalf("tracer: %s", res.Err)
		}
		tracerCPU += res.CPU
		armCPU += res.Arm
		events += res.Events
	}
	perRun := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(perRun(tracerCPU), "tracer-cpu-s")
	b.ReportMetric(perRun(armCPU), "tracer-arm-cpu-s")
	b.ReportMetric(float64(events)/float64(b.N), "events")
	b.ReportMetric(perRun(wall), "traced-wall-s")
	b.ReportMetric(perRun(cpu), "traced-workload-cpu-s")
	b.ReportMetric(perRun(baseWall), "untraced-wall-s")
	b.ReportMetric(perRun(baseCPU), "untraced-workload-cpu-s")
}
