package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tracepBin is the real binary, built once for the package's tests and
// benchmarks; with the race detector when the tests have it. tracep-full
// is built beside it, as make build and go install place them, so that
// the command lines tracep hands over (ca, -net, -web) run for real.
var tracepBin string

// plainBin is the binary without the race detector, for the tests that
// start and kill tracep hundreds of times: what they check is the cleanup
// by the kernel and the watchdogs, and a race-built start costs a second.
var plainBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tracep-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tracepBin, plainBin = filepath.Join(dir, "tracep"), filepath.Join(dir, "tracep")
	builds := [][]string{{"build", "-o", tracepBin, "."}, {"build", "-o", filepath.Join(dir, "tracep-full"), "./tracep-full"}}
	if raceBuild {
		tracepBin = filepath.Join(dir, "race", "tracep")
		builds = append(builds, []string{"build", "-race", "-o", tracepBin, "."},
			[]string{"build", "-race", "-o", filepath.Join(dir, "race", "tracep-full"), "./tracep-full"})
	}
	for _, args := range builds {
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %v: %v\n%s", args, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
