package harness

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// Normalize renders events in a stable text form for golden files: two runs
// of the same program give the same text even though pids, ports, times,
// DNS ids and the interleaving of parallel processes differ.
//
//   - Processes are named p1, p2, … in tree order: a process before its
//     children, siblings ordered by what they did (their first line), not
//     by pid or time.
//   - Each process's lines are together, in the order it did them.
//   - Ephemeral ports (local ports, and remote ports of inbound flows) are
//     "*"; timestamps, durations, latencies and DNS ids are dropped; DNS
//     answers are sorted; consecutive identical lines of a process (retries)
//     are folded into one; and runs of DNS queries of one process (A and
//     AAAA in parallel) are sorted.
//   - TCP state changes are left out: they follow the peer's packets, and
//     their order against the program's own events varies from run to run.
//   - TLS payloads are reduced to their first line (a request or status
//     line), sizes are dropped.
//   - Every old string of replace is replaced by its new string (temporary
//     directories by a fixed name, for example).
func Normalize(evs []tracep.Event, replace ...string) string {
	r := strings.NewReplacer(replace...)
	tree := newProcessTree(evs)
	lines := map[*Process][]string{}
	for _, p := range tree.byPID {
		var ls []string
		for _, ev := range p.Events {
			pl := ev.Payload()
			if pl == nil {
				continue
			}
			line := pl.Stable()
			if line == "" {
				continue // no place in a golden trace (a TCP state change)
			}
			line = r.Replace(line)
			if n := len(ls); n > 0 && ls[n-1] == line {
				continue // a retry
			}
			ls = append(ls, line)
		}
		sortDNSRuns(ls)
		lines[p] = ls
	}
	key := func(p *Process) string { return strings.Join(lines[p], "\n") }
	var b strings.Builder
	n := 0
	var walk func(ps []*Process)
	walk = func(ps []*Process) {
		ps = slices.Clone(ps)
		sort.SliceStable(ps, func(i, j int) bool { return key(ps[i]) < key(ps[j]) })
		for _, p := range ps {
			n++
			for _, l := range lines[p] {
				fmt.Fprintf(&b, "p%d %s\n", n, l)
			}
			walk(p.Children)
		}
	}
	walk(tree.roots)
	return b.String()
}

// sortDNSRuns sorts each run of consecutive dns lines.
func sortDNSRuns(lines []string) {
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && strings.HasPrefix(lines[j], "dns ") {
			j++
		}
		if j > i {
			sort.Strings(lines[i:j])
			i = j
		} else {
			i++
		}
	}
}

// UpdateGoldenEnv, when set to 1, makes RequireGolden rewrite golden files
// (as does a true -update flag in the test binary, the Go convention).
const UpdateGoldenEnv = "TRACEP_UPDATE_GOLDEN"

func updateGolden() bool {
	if os.Getenv(UpdateGoldenEnv) == "1" {
		return true
	}
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// RequireGolden compares the normalised capture (see Normalize) with the
// golden file at path, failing t with a line diff when they differ. With
// -update (a flag the test package defines) or TRACEP_UPDATE_GOLDEN=1 it
// writes the file instead.
func (c *Capture) RequireGolden(t testing.TB, path string, replace ...string) {
	t.Helper()
	got := Normalize(c.Events, replace...)
	if updateGolden() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run with -update to create it)", err)
	}
	if d := LineDiff(string(want), got); d != "" {
		t.Fatalf("trace differs from %s (-want +got):\n%s", path, d)
	}
}

// LineDiff returns a unified-style diff of two texts, line by line, or ""
// when they are equal.
func LineDiff(want, got string) string {
	if want == got {
		return ""
	}
	a := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	b := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	// Longest common subsequence; golden files are small.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + a[i] + "\n")
			i++
		default:
			out.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return out.String()
}
