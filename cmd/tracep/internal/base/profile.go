package base

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/tracep/tracep/backends"
)

// processStart is when the package was initialized, as near to the start
// of the process as Go code gets: the origin of the start-up trace.
var processStart = time.Now()

// startProfiling starts what the environment asks for, to measure tracep
// itself, and returns what ends it, to be called before exiting:
//
//   - TRACEP_CPUPROFILE=file writes a pprof CPU profile of the run;
//   - TRACEP_MEMPROFILE=file writes what the heap holds at the end;
//   - TRACEP_STARTUP=1 prints on stderr, as they end, the phases of the
//     tracers' start-up and end (probing, loading, attaching, arming,
//     draining) with when each began since the process started and how
//     long it took, and at exit the peak RSS (VmHWM: the rusage of a
//     process started by a larger one counts the starter's memory).
func startProfiling(stderr io.Writer) (stop func()) {
	var stops []func()
	if f := os.Getenv("TRACEP_CPUPROFILE"); f != "" {
		if out, err := os.Create(f); err == nil {
			if pprof.StartCPUProfile(out) == nil {
				stops = append(stops, func() { pprof.StopCPUProfile(); out.Close() })
			} else {
				out.Close()
			}
		}
	}
	if f := os.Getenv("TRACEP_MEMPROFILE"); f != "" {
		stops = append(stops, func() {
			if out, err := os.Create(f); err == nil {
				// The profile is as of the last collection: one now
				// makes it hold every allocation of the run.
				runtime.GC()
				_ = pprof.Lookup("heap").WriteTo(out, 0)
				out.Close()
			}
		})
	}
	if v := os.Getenv("TRACEP_STARTUP"); v != "" && v != "0" {
		var mu sync.Mutex
		since := func(t time.Time) float64 { return float64(t.Sub(processStart).Microseconds()) / 1000 }
		phase := func(name string, start time.Time) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "tracep startup: %8.2f ms %7.2f ms  %s\n", since(start), float64(now.Sub(start).Microseconds())/1000, name)
		}
		phase("package init to Main", processStart)
		backends.SetStartupTrace(phase)
		stops = append(stops, func() {
			backends.SetStartupTrace(nil)
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "tracep startup: %8.2f ms            exit%s%s\n", since(time.Now()), peakRSS(), heapAllocated())
		})
	}
	return func() {
		for _, f := range stops {
			f()
		}
	}
}

// heapAllocated returns ", N kB allocated": everything the heap handed
// out since the process started, freed or not (runtime/metrics).
func heapAllocated() string {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return ""
	}
	return fmt.Sprintf(", %d kB allocated", sample[0].Value.Uint64()>>10)
}

// peakRSS returns ", peak RSS N kB" from /proc/self/status, or "".
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return ", peak RSS " + strings.TrimSpace(rest)
		}
	}
	return ""
}
