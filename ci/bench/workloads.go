package main

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/tracep/tracep/tracep"
)

func workloads() []workload {
	return []workload{
		{name: "exec", desc: "N×4,000 execs of /bin/true", run: benchExec},
		{name: "ca", desc: "N×50 fetches against the local HTTPS server", run: benchCA, oneoff: true, inNet: true},
	}
}

func benchExec(b *bench, scale int) (result, error) {
	n := 4000 * scale
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do /bin/true bench-exec; i=$((i+1)); done`, n)
	return b.daemon([]string{"exec", "-f"}, script, false, n, func(evs []tracep.Event) int {
		c := 0
		for _, ev := range evs {
			if ev.Exec != nil && ev.Exec.Op == tracep.ExecOpExec && strings.Join(ev.Exec.Argv, " ") == "/bin/true bench-exec" {
				c++
			}
		}
		return c
	})
}

// benchCA runs `tracep ca` as a process per fetch, as the reference does.
func benchCA(b *bench, scale int) (result, error) {
	var r result
	n := 50 * scale
	for i := 0; i < n; i++ {
		cmd := exec.Command(b.bin, "ca", "-o", "-", "example.test")
		t0 := time.Now()
		if err := b.net.Run(cmd); err != nil {
			return r, fmt.Errorf("tracep ca: %w", err)
		}
		r.wall += time.Since(t0)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		r.cpu += tv(ru.Utime) + tv(ru.Stime)
		r.peakRSS = max(r.peakRSS, ru.Maxrss)
	}
	r.wall /= time.Duration(n)
	r.cpu /= time.Duration(n)
	return r, nil
}
