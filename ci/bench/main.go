package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tracep/tracep/backends/testnet"
)

func main() {
	var (
		bin   = flag.String("tracep", "bin/tracep", "the tracep binary to measure")
		runs  = flag.Int("runs", 5, "runs per workload; figures are medians")
		scale = flag.Int("scale", 1, "multiply every workload's size")
		only  = flag.String("only", "", "comma-separated tracers to run (default: all)")
	)
	flag.Parse()
	if err := run(*bin, *runs, *scale, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one run of one workload.
type result struct {
	cpu      time.Duration // tracer utime+stime, start to exit
	restCPU  time.Duration // of which spent before the workload started (loading, arming)
	peakRSS  int64         // KiB
	restRSS  int64         // KiB, armed and idle
	threads  int           // at rest
	arm      time.Duration
	expected int
	captured int
	lost     uint64
	wall     time.Duration // the workload's
}

type workload struct {
	name   string // tracer
	desc   string
	run    func(b *bench, scale int) (result, error)
	inNet  bool
	oneoff bool // ca: measured per process, not as a daemon
}

type bench struct {
	bin string
	net *testnet.Net
	tmp string
	// onRelease, when set, runs as the workload is released (a flood of
	// unrelated traffic, say).
	onRelease func()
}

func run(bin string, runs, scale int, only string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "tracep-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	n, err := testnet.New(nil)
	if err != nil {
		return fmt.Errorf("hermetic network: %w", err)
	}
	defer n.Close()
	b := &bench{bin: bin, net: n, tmp: tmp}

	var want []string
	if only != "" {
		want = strings.Split(only, ",")
	}
	fmt.Printf("tracep benchmark: %s, %d CPUs, %s, kernel %s; median of %d runs (range in brackets), scale %d×\n\n",
		runtime.GOARCH, runtime.NumCPU(), cpuModel(), kernelRelease(), runs, scale)
	fmt.Println("| tracer | workload | rate | tracer CPU, whole run | of which during the workload | peak RSS | RSS at rest | threads | events captured / expected | lost | arm time |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, w := range workloads() {
		if len(want) > 0 && !slices.Contains(want, w.name) {
			continue
		}
		var rs []result
		for i := 0; i < runs; i++ {
			r, err := w.run(b, scale)
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			rs = append(rs, r)
		}
		printRow(w, rs, scale)
	}
	return nil
}

func printRow(w workload, rs []result, scale int) {
	desc := strings.ReplaceAll(w.desc, "N×", strconv.Itoa(scale)+"×")
	if w.oneoff {
		fmt.Printf("| %s | %s | – | %s per fetch | – | %s | – | – | %s | – | wall %s per fetch |\n", w.name, desc,
			spread(rs, func(r result) float64 { return r.cpu.Seconds() * 1000 }, "%.1f ms"),
			spread(rs, func(r result) float64 { return float64(r.peakRSS) / 1024 }, "%.1f MB"),
			counts(rs),
			spread(rs, func(r result) float64 { return r.wall.Seconds() * 1000 }, "%.1f ms"))
		return
	}
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w.name, desc,
		spread(rs, func(r result) float64 { return float64(r.expected) / r.wall.Seconds() }, "%.0f/s"),
		spread(rs, func(r result) float64 { return r.cpu.Seconds() }, "%.3f s"),
		spread(rs, func(r result) float64 { return (r.cpu - r.restCPU).Seconds() }, "%.3f s"),
		spread(rs, func(r result) float64 { return float64(r.peakRSS) / 1024 }, "%.1f MB"),
		spread(rs, func(r result) float64 { return float64(r.restRSS) / 1024 }, "%.1f MB"),
		spread(rs, func(r result) float64 { return float64(r.threads) }, "%.0f"),
		counts(rs),
		spread(rs, func(r result) float64 { return float64(r.lost) }, "%.0f"),
		spread(rs, func(r result) float64 { return r.arm.Seconds() * 1000 }, "%.1f ms"))
}

// spread formats the median of f over rs with the range.
func spread(rs []result, f func(result) float64, format string) string {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	s := fmt.Sprintf(format, med)
	if v[0] != v[len(v)-1] {
		s += " [" + fmt.Sprintf(format, v[0]) + "–" + fmt.Sprintf(format, v[len(v)-1]) + "]"
	}
	return s
}

func counts(rs []result) string {
	worst := rs[0]
	for _, r := range rs {
		if r.expected-r.captured > worst.expected-worst.captured {
			worst = r
		}
	}
	if worst.expected == 0 {
		return "–"
	}
	return fmt.Sprintf("%d / %d (worst run)", worst.captured, worst.expected)
}

// daemon runs `tracep args... -p PID` against a gated workload and measures
// it; count counts the workload's events in the tracer's output, which is
// the default human form (what a user runs), written to a file.
func (b *bench) daemon(args []string, script string, inNet bool, expected int, count func(out []byte) int) (result, error) {
	var r result
	r.expected = expected
	wl := exec.Command("/bin/sh", "-c", "read go; "+script)
	wl.Env = append(os.Environ(), "TRACEP="+b.bin)
	stdin, err := wl.StdinPipe()
	if err != nil {
		return r, err
	}
	wl.Stdout, wl.Stderr = io.Discard, os.Stderr
	start := b.start
	if !inNet {
		start = func(c *exec.Cmd) error { return c.Start() }
	}
	if err := start(wl); err != nil {
		return r, err
	}
	defer wl.Process.Kill()

	out := filepath.Join(b.tmp, "events.txt")
	os.Remove(out)
	targs := append(append([]string{}, args...), "-o", out, "-p", strconv.Itoa(wl.Process.Pid))
	tr := exec.Command(b.bin, targs...)
	errPipe, err := tr.StderrPipe()
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := tr.Start(); err != nil {
		return r, err
	}
	defer tr.Process.Kill()
	// The tracer says once it is armed; its first stderr line.
	line, err := bufio.NewReader(errPipe).ReadString('\n')
	if err != nil {
		return r, fmt.Errorf("tracer did not arm: %v", err)
	}
	r.arm = time.Since(t0)
	if !strings.Contains(line, "tracing") {
		return r, fmt.Errorf("tracer: %s", strings.TrimSpace(line))
	}
	go io.Copy(os.Stderr, errPipe)
	r.restRSS, r.threads = status(tr.Process.Pid)
	r.restCPU = schedCPU(tr.Process.Pid)

	w0 := time.Now()
	if b.onRelease != nil {
		b.onRelease()
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		return r, err
	}
	if err := wl.Wait(); err != nil {
		return r, fmt.Errorf("workload: %w", err)
	}
	r.wall = time.Since(w0)
	if err := tr.Process.Signal(syscall.SIGINT); err != nil {
		return r, err
	}
	werr := tr.Wait()
	ru := tr.ProcessState.SysUsage().(*syscall.Rusage)
	r.cpu = tv(ru.Utime) + tv(ru.Stime)
	r.peakRSS = ru.Maxrss
	if werr != nil {
		return r, fmt.Errorf("tracer: %w", werr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return r, err
	}
	r.captured = count(data)
	r.lost = uint64(max(0, r.expected-r.captured))
	return r, nil
}

func (b *bench) start(c *exec.Cmd) error { return b.net.Start(c) }

// schedCPU is the CPU time pid's threads have used so far, from
// /proc/PID/task/*/schedstat (nanoseconds, unlike stat's clock ticks).
func schedCPU(pid int) time.Duration {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total time.Duration
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(data)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// status reads VmRSS (KiB) and Threads of pid.
func status(pid int) (rss int64, threads int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	return rss, threads
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernelRelease() string {
	data, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(data))
}
