package main_test

import (
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

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}
