package nettrace_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// counter counts a session's events without keeping them.
type counter struct {
	connects, all atomic.Int64
}

func (c *counter) emit(ev tracep.Event) {
	c.all.Add(1)
	if ev.Net.Op == tracep.NetOpConnect {
		c.connects.Add(1)
	}
}

// BenchmarkConnects1000 measures the tracer's CPU for 1,000 loopback
// connections made back to back by a child process (to a listener of its
// own, closed at once on both ends), and requires that none is lost. Each
// connection gives four events: connect, accept and both closes.
func BenchmarkConnects1000(b *testing.B) {
	tracetest.RequireSupported(b, nettrace.Supported())
	// The workload alone, for its wall time (ns/op) without tracing.
	b.Run("untraced", func(b *testing.B) {
		cg := tracetest.Open(b, cgroup.New)
		for range b.N {
			if out, err := helperCmd(cg, "selfconnect", "1000").CombinedOutput(); err != nil {
				b.Fatalf("workload: %v: %s", err, out)
			}
		}
	})
	for _, scope := range []string{"cgroup", "system"} {
		b.Run(scope, func(b *testing.B) {
			const n = 1000
			cg := tracetest.Open(b, cgroup.New)
			var cpu time.Duration
			var events int64
			for range b.N {
				var c counter
				cfg := nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}
				if scope == "system" {
					cfg.Scope = tracep.Scope{}
				}
				s, err := nettrace.Start(context.Background(), cfg, c.emit)
				if err != nil {
					b.Fatal(err)
				}
				cmd := helperCmd(cg, "selfconnect", strconv.Itoa(n))
				c0 := tracetest.CPUTime(b)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("workload: %v: %s", err, out)
				}
				err = s.Close()
				cpu += tracetest.CPUTime(b) - c0
				if err != nil {
					b.Fatal(err)
				}
				if got := c.connects.Load(); got < n {
					b.Fatalf("%d of %d connects reported", got, n)
				}
				events += c.all.Load()
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N), "tracer-cpu-s/1000conn")
			b.ReportMetric(float64(events)/float64(b.N), "events/1000conn")
		})
	}
}

// BenchmarkMaxRate drives loopback connections from more and more
// processes at once and reports the highest rate reached with no event
// lost, with the tracer's CPU per connection at that rate.
func BenchmarkMaxRate(b *testing.B) {
	tracetest.RequireSupported(b, nettrace.Supported())
	const per = 5000
	cg := tracetest.Open(b, cgroup.New)
	best, bestCPU := 0.0, 0.0
	for range b.N {
		for _, workers := range []int{1, 2, 4, 8} {
			var c counter
			s, err := nettrace.Start(context.Background(), nettrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.emit)
			if err != nil {
				b.Fatal(err)
			}
			c0 := tracetest.CPUTime(b)
			t0 := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, workers)
			for i := range workers {
				wg.Go(func() {
					out, err := helperCmd(cg, "selfconnect", strconv.Itoa(per)).CombinedOutput()
					if err != nil {
						errs[i] = fmt.Errorf("%v: %s", err, out)
					}
				})
			}
			wg.Wait()
			wall := time.Since(t0)
			err = s.Close()
			cpu := tracetest.CPUTime(b) - c0
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			total := workers * per
			rate := float64(total) / wall.Seconds()
			var lost *tracep.LostError
			switch {
			case errors.As(err, &lost):
				b.Logf("%d workers: %.0f conn/s, %d events lost", workers, rate, lost.Count)
				continue
			case err != nil:
				b.Fatal(err)
			}
			if got := c.connects.Load(); got != int64(total) {
				b.Fatalf("%d workers: %d of %d connects reported", workers, got, total)
			}
			b.Logf("%d workers: %.0f conn/s, no loss, tracer %.1f µs CPU per connection", workers, rate, cpu.Seconds()*1e6/float64(total))
			if rate > best {
				best, bestCPU = rate, cpu.Seconds()*1e6/float64(total)
			}
		}
	}
	b.ReportMetric(best, "conn/s-lossless")
	b.ReportMetric(bestCPU, "tracer-µs/conn")
}
