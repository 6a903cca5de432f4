package main

import (
	"bufio"
	"bytes"
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
		only  = flag.String("only", "", "comma-separated tracers to run, and \"startup\" (default: all)")
		mode  = flag.String("mode", "", "scoped or system: run only the workloads of that mode (default: both)")
	)
	flag.Parse()
	if err := run(*bin, *runs, *scale, *only, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one run of one workload.
type result struct {
	cpu     time.Duration // tracer utime+stime, start to exit
	restCPU time.Duration // of which spent before the workload started (loading, arming)
	// workCPU is what the tracer spent from the workload's start until it
	// had reported every expected event (its stop, which detaches and
	// frees, not included); 0 if it did not within the wait, when the
	// figure is taken at exit instead.
	workCPU  time.Duration
	peakRSS  int64 // KiB
	restRSS  int64 // KiB, armed and idle
	threads  int   // at rest
	arm      time.Duration
	expected int
	captured int
	// reported is every event in the tracer's output: more than expected
	// where one unit of the workload makes several (a TLS request is a
	// ClientHello, writes and reads, in the client and, whole-system, in
	// the server), or where other activity is traced too.
	reported int
	lost     uint64
	wall     time.Duration // the workload's
}

type workload struct {
	name string // tracer
	// system: the tracer traces the whole system, as the reference tool
	// does, rather than the workload's pid tree (-p). Other activity on
	// the machine is then traced too: its CPU is charged to the tracer,
	// its events are not counted.
	system bool
	desc   string
	run    func(b *bench, w workload, scale int) (result, error)
	inNet  bool
	oneoff bool // ca: measured per process, not as a daemon
}

// mode names the workload's scope in the table.
func (w workload) mode() string {
	if w.system {
		return "system"
	}
	return "-p"
}

type bench struct {
	bin string
	net *testnet.Net
	tmp string
	// onRelease, when set, runs as the workload is released (a flood of
	// unrelated traffic, say).
	onRelease func()
}

func run(bin string, runs, scale int, only, mode string) error {
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
	fmt.Printf("tracep benchmark: %s, %d CPUs, %s, kernel %s, load average %s; median of %d runs (range in brackets), scale %d×\n\n",
		runtime.GOARCH, runtime.NumCPU(), cpuModel(), kernelRelease(), loadAverage(), runs, scale)
	fmt.Println("Tracer CPU is utime+stime from the tracer's rusage; per event: CPU during the workload over the workload's events " +
		"(a lookup, a connect, an exec, a request line), then over every event the tracer reported (a TLS request is several). " +
		"In system mode the tracer sees the whole machine: other activity costs it CPU, and its events are reported too.")
	fmt.Println()
	fmt.Println("| tracer | scope | workload | rate | tracer CPU, whole run | of which during the workload | CPU per workload event / per reported event | peak RSS | RSS at rest | threads | events captured / expected; reported | lost | arm time |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, w := range workloads() {
		if len(want) > 0 && !slices.Contains(want, w.name) {
			continue
		}
		if mode != "" && (mode == "system") != w.system {
			continue
		}
		var rs []result
		for i := 0; i < runs; i++ {
			r, err := w.run(b, w, scale)
			if err != nil {
				return fmt.Errorf("%s (%s): %w", w.name, w.mode(), err)
			}
			rs = append(rs, r)
		}
		printRow(w, rs, scale)
	}
	if len(want) == 0 || slices.Contains(want, "startup") {
		fmt.Println()
		if err := startupTable(b, runs); err != nil {
			return fmt.Errorf("start-up: %w", err)
		}
	}
	return nil
}

func printRow(w workload, rs []result, scale int) {
	desc := strings.ReplaceAll(w.desc, "N×", strconv.Itoa(scale)+"×")
	if w.oneoff {
		fmt.Printf("| %s | – | %s | – | %s per fetch | – | – | %s | – | – | %s | – | wall %s per fetch |\n", w.name, desc,
			spread(rs, func(r result) float64 { return r.cpu.Seconds() * 1000 }, "%.1f ms"),
			spread(rs, func(r result) float64 { return float64(r.peakRSS) / 1024 }, "%.1f MB"),
			counts(rs),
			spread(rs, func(r result) float64 { return r.wall.Seconds() * 1000 }, "%.1f ms"))
		return
	}
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w.name, w.mode(), desc,
		spread(rs, func(r result) float64 { return float64(r.expected) / r.wall.Seconds() }, "%.0f/s"),
		spread(rs, func(r result) float64 { return r.cpu.Seconds() }, "%.3f s"),
		spread(rs, func(r result) float64 { return r.duringWork().Seconds() }, "%.3f s"),
		spread(rs, func(r result) float64 { return r.duringWork().Seconds() * 1e6 / float64(max(1, r.expected)) }, "%.1f µs")+
			" / "+spread(rs, func(r result) float64 { return r.duringWork().Seconds() * 1e6 / float64(max(1, r.reported)) }, "%.1f µs"),
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
	return fmt.Sprintf("%d / %d (worst run); %s reported", worst.captured, worst.expected,
		spread(rs, func(r result) float64 { return float64(r.reported) }, "%.0f"))
}

// daemon runs `tracep args... -p PID` (or, for a system workload, `tracep
// args...` tracing the whole system) against a gated workload and measures
// it; count counts the workload's events in the tracer's output, which is
// the default human form (what a user runs), written to a file.
func (b *bench) daemon(w workload, args []string, script string, expected int, count func(out []byte) int) (result, error) {
	var r result
	r.expected = expected
	inNet := w.inNet
	wl := exec.Command("/bin/bash", "-c", "read go; "+script)
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
	targs := append(append([]string{}, args...), "-o", out)
	if !w.system {
		targs = append(targs, "-p", strconv.Itoa(wl.Process.Pid))
	}
	tr := exec.Command(b.bin, targs...)
	tr.Env = append(os.Environ(), "TRACEP_STARTUP=1")
	errPipe, err := tr.StderrPipe()
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := tr.Start(); err != nil {
		return r, err
	}
	defer tr.Process.Kill()
	// The tracer says once it is armed: the first line but the start-up
	// trace's.
	lines := bufio.NewScanner(errPipe)
	armed := false
	for !armed && lines.Scan() {
		if !strings.HasPrefix(lines.Text(), "tracep startup:") {
			armed = true
		}
	}
	if !armed {
		return r, fmt.Errorf("tracer did not arm: %v", lines.Err())
	}
	r.arm = time.Since(t0)
	if line := lines.Text(); !strings.Contains(line, "tracing") {
		return r, fmt.Errorf("tracer: %s", strings.TrimSpace(line))
	}
	stderrDone := make(chan int64, 1)
	go func() { stderrDone <- peakFromStartupTrace(lines, os.Stderr) }()
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
	// The tracer reports what it batched within a tick (500 ms): the
	// workload's CPU is taken once every expected event is in the file,
	// before the stop.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(out); err == nil && count(data) >= expected {
			r.workCPU = schedCPU(tr.Process.Pid) - r.restCPU
			break
		}
	}
	if err := tr.Process.Signal(syscall.SIGINT); err != nil {
		return r, err
	}
	hwm := <-stderrDone
	werr := tr.Wait()
	ru := tr.ProcessState.SysUsage().(*syscall.Rusage)
	r.cpu = tv(ru.Utime) + tv(ru.Stime)
	r.peakRSS = hwm
	if werr != nil {
		return r, fmt.Errorf("tracer: %w", werr)
	}
	if hwm == 0 {
		return r, errNoPeak
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return r, err
	}
	r.captured = count(data)
	r.reported = reportedEvents(w.name, data)
	r.lost = uint64(max(0, r.expected-r.captured))
	return r, nil
}

// duringWork is the tracer's CPU for the workload: until it reported
// every expected event, or else until it exited.
func (r result) duringWork() time.Duration {
	if r.workCPU > 0 {
		return r.workCPU
	}
	return r.cpu - r.restCPU
}

// reportedEvents counts the events in a tracer's human output: a line
// each, but tracep tls's, whose data follows its line indented.
func reportedEvents(tracer string, out []byte) int {
	n := 0
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(line) == 0 || (tracer == "tls" && (line[0] == ' ' || line[0] == '\t')) {
			continue
		}
		n++
	}
	return n
}

// peakFromStartupTrace copies lines to w but the start-up trace's
// (TRACEP_STARTUP) and returns the peak RSS (KiB) its exit line gives, or
// 0. The rusage of the tracer is not used for it: a process started by a
// larger one (vfork, then exec) inherits the starter's peak.
func peakFromStartupTrace(lines *bufio.Scanner, w io.Writer) int64 {
	var peak int64
	for lines.Scan() {
		line := lines.Text()
		if !strings.HasPrefix(line, "tracep startup:") {
			if !strings.HasPrefix(line, "captured ") { // tracep tls's count, not news
				fmt.Fprintln(w, line)
			}
			continue
		}
		if kb, ok := peakRSS(line); ok {
			peak = kb
		}
	}
	return peak
}

// peakRSS returns N from a start-up trace's exit line, "... exit, peak
// RSS N kB, M kB allocated" (what follows N kB may change).
func peakRSS(line string) (int64, bool) {
	_, rest, ok := strings.Cut(line, "peak RSS ")
	if !ok {
		return 0, false
	}
	n, _, ok := strings.Cut(rest, " kB")
	if !ok {
		return 0, false
	}
	kb, err := strconv.ParseInt(n, 10, 64)
	return kb, err == nil && kb > 0
}

// errNoPeak is returned for a tracer whose start-up trace gave no peak
// RSS: the rusage's would be the bench's own (see peakFromStartupTrace).
var errNoPeak = errors.New("no peak RSS in the tracer's start-up trace (TRACEP_STARTUP)")

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

func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
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
