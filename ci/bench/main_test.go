package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestPeakRSS(t *testing.T) {
	for _, tc := range []struct {
		line string
		kb   int64
		ok   bool
	}{
		{"tracep startup:    28.91 ms            exit, peak RSS 9352 kB, 773 kB allocated", 9352, true},
		{"tracep startup:    28.91 ms            exit, peak RSS 9352 kB", 9352, true},
		{"tracep startup:     6.89 ms   20.57 ms  start exec tracer", 0, false},
		{"tracep startup: exit, peak RSS kB", 0, false},
		{"tracep startup: exit, peak RSS 0 kB", 0, false},
		{"tracep startup: exit, peak RSS 12", 0, false},
	} {
		kb, ok := peakRSS(tc.line)
		if kb != tc.kb || ok != tc.ok {
			t.Errorf("peakRSS(%q) = %d, %v; want %d, %v", tc.line, kb, ok, tc.kb, tc.ok)
		}
	}
}

// TestPeakFromStartupTrace: the trace's lines are not copied, the
// workload's are, and the exit line's peak is returned.
func TestPeakFromStartupTrace(t *testing.T) {
	in := strings.Join([]string{
		"tracep startup:     0.00 ms    0.08 ms  package init to Main",
		"5444 true",
		"captured 3 events",
		"tracep startup:    28.91 ms            exit, peak RSS 9352 kB, 773 kB allocated",
	}, "\n")
	var out bytes.Buffer
	if got := peakFromStartupTrace(bufio.NewScanner(strings.NewReader(in)), &out); got != 9352 {
		t.Errorf("peak = %d, want 9352", got)
	}
	if out.String() != "5444 true\n" {
		t.Errorf("copied %q, want the workload's line only", out.String())
	}
}
