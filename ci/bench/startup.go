package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// startupRuns is how many times each start-up is measured per run asked:
// single start-ups are short and noisy.
const startupRuns = 5

// startupTable prints the start-up table: wall time from start to exit,
// CPU and peak RSS of `tracep X -- true`, next to `true` untraced.
func startupTable(b *bench, runs int) error {
	fmt.Printf("Start-up of `tracep X -- true`: %d runs each, after one untimed run.\n\n", runs*startupRuns)
	fmt.Println("| command | wall, start to exit | CPU | peak RSS |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, argv := range [][]string{
		{"/bin/true"},
		{b.bin, "exec", "--", "true"},
		{b.bin, "net", "--", "true"},
		{b.bin, "dns", "--", "true"},
		{b.bin, "tls", "--", "true"},
		{b.bin, "run", "--", "true"},
	} {
		// One untimed run first: the page cache, the first-ever start.
		if _, err := startOnce(argv); err != nil {
			return err
		}
		var rs []result
		for i := 0; i < runs*startupRuns; i++ {
			r, err := startOnce(argv)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		// true's rusage peak is the bench's own (it inherits the peak of
		// the process it was forked from): not shown.
		name, peak := "true (untraced)", "–"
		if len(argv) > 1 {
			name = "tracep " + argv[1] + " -- true"
			peak = spread(rs, func(r result) float64 { return float64(r.peakRSS) / 1024 }, "%.1f MB")
		}
		fmt.Printf("| %s | %s | %s | %s |\n", name,
			spread(rs, func(r result) float64 { return r.wall.Seconds() * 1000 }, "%.1f ms"),
			spread(rs, func(r result) float64 { return r.cpu.Seconds() * 1000 }, "%.1f ms"),
			peak)
	}
	return nil
}

// startOnce runs argv and measures it.
func startOnce(argv []string) (result, error) {
	var r result
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TRACEP_STARTUP=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	r.wall = time.Since(t0)
	if err != nil {
		return r, fmt.Errorf("%s: %w: %s", argv, err, stderr.Bytes())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r.cpu = tv(ru.Utime) + tv(ru.Stime)
	// true's rusage peak is the bench's own; a tracer's is in its trace.
	r.peakRSS = peakFromStartupTrace(bufio.NewScanner(&stderr), io.Discard)
	if r.peakRSS == 0 && len(argv) > 1 {
		return r, fmt.Errorf("%s: %w", argv, errNoPeak)
	}
	return r, nil
}
