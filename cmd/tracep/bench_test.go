package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep/tracetest"
)

// BenchmarkCAFetch runs `tracep ca` as a process against the hermetic
// network's HTTPS server, as the reference tool's benchmark does, and
// reports wall and CPU time per fetch (CPU from the children's rusage).
func BenchmarkCAFetch(b *testing.B) {
	tracetest.SkipUnlessRoot(b, "the hermetic network")
	bin := tracepBin
	n, err := testnet.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var cpu time.Duration
	var maxRSS int64
	run := func() {
		cmd := n.Command(bin, "ca", "example.test", "-o", "-")
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := n.Run(cmd); err != nil {
			b.Fatalf("tracep ca: %v", err)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += tv(ru.Utime) + tv(ru.Stime)
		maxRSS = max(maxRSS, ru.Maxrss)
	}
	run() // warm the page cache and the server's certificate cache
	cpu = 0

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		run()
	}
	wall := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "wall-ms/fetch")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/fetch")
	b.ReportMetric(float64(maxRSS)/1024, "peak-rss-MB")
}

// BenchmarkStartup runs `tracep exec -- true` and `tracep run -- true`
// (the binary without the race detector) and reports the wall time from
// start to exit, the CPU and the peak RSS of each, the latter from the
// start-up trace (TRACEP_STARTUP): the rusage of a process started by a
// larger one counts the starter's peak.
func BenchmarkStartup(b *testing.B) {
	tracetest.SkipUnlessRoot(b, "tracing")
	for _, kind := range []string{"exec", "run"} {
		b.Run(kind, func(b *testing.B) {
			var cpu, wall time.Duration
			var peak int64
			for range b.N {
				cmd := exec.Command(plainBin, kind, "--", "true")
				cmd.Env = append(os.Environ(), "TRACEP_STARTUP=1")
				var stderr strings.Builder
				cmd.Stderr = &stderr
				t0 := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("tracep %s -- true: %v\n%s", kind, err, stderr.String())
				}
				wall += time.Since(t0)
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				cpu += tv(ru.Utime) + tv(ru.Stime)
				if _, rest, ok := strings.Cut(stderr.String(), "peak RSS "); ok {
					kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
					peak = max(peak, kb)
				}
			}
			b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "wall-ms")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms")
			b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
		})
	}
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

// BenchmarkRSSFlat runs tracep on an exec storm for TRACEP_RSS_SECONDS
// (default 60) and reports its RSS after the first 5 s, at the end and at
// its highest: a long trace in command mode must not grow (issue: every
// event kept). Also the same with a slow reader: 20,000 execs printed to a
// pipe nobody reads until the end, with the events lost (none wanted).
func BenchmarkRSSFlat(b *testing.B) {
	tracetest.SkipUnlessRoot(b, "tracing")
	secs := 60
	if s, err := strconv.Atoi(os.Getenv("TRACEP_RSS_SECONDS")); err == nil && s > 5 {
		secs = s
	}
	for _, args := range [][]string{{"exec", "-o", "/dev/null"}, {"run", "-o", "/dev/null"}} {
		b.Run(args[0], func(b *testing.B) {
			for range b.N {
				cmd := exec.Command(tracepBin, append(args, "--", "sh", "-c", "while :; do /bin/true; done")...)
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				pid := cmd.Process.Pid
				var at5, peak, last int64
				tick := time.NewTicker(250 * time.Millisecond) // sampling, not synchronisation
				start := time.Now()
				for now := range tick.C {
					last = vmRSS(pid)
					peak = max(peak, last)
					if at5 == 0 && now.Sub(start) >= 5*time.Second {
						at5 = last
					}
					if now.Sub(start) >= time.Duration(secs)*time.Second {
						break
					}
				}
				tick.Stop()
				_ = cmd.Process.Signal(syscall.SIGINT)
				_ = cmd.Wait()
				b.ReportMetric(float64(at5)/1024, "rss-at-5s-MB")
				b.ReportMetric(float64(last)/1024, "rss-at-end-MB")
				b.ReportMetric(float64(peak-at5)/1024, "growth-after-5s-MB")
			}
		})
	}
}

// vmRSS reads a process's resident set in KiB.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
