package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tracepBin is the real binary, built once for the package's tests and
// benchmarks.
var tracepBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tracep-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tracepBin = filepath.Join(dir, "tracep")
	out, err := exec.Command("go", "build", "-o", tracepBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
