package harness

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// Normalize renders events in a stable text form for golden files: two runs
// of the same program give the same text even though pids, ports, times,
// DNS ids, temporary names and the order in which the kernel interleaved
// parallel work differ. Whatever the scheduler may reorder is put in an
// order of its own; only what a process does in sequence keeps its order.
//
//   - Processes are named p1, p2, … in tree order: a process before its
//     children, siblings ordered by what they and their descendants did,
//     not by pid or time. Each process's lines are together.
//   - A process's lines are cut into segments at each exec (the program it
//     runs); its exit comes last. A segment begins with its exec line,
//     then failed execs in their order, then, each part sorted:
//   - its DNS queries, each with its answer (A and AAAA asked in parallel,
//     several names looked up at once: one canonical order);
//   - its flows, each a block: the connect (send, accept), the TLS
//     handshake, writes and reads on that connection in their order, and
//     its close. The sockets that carried traced DNS queries are folded
//     into those queries: their connect and close lines are left out;
//   - TLS plaintext on no known connection, a block per library and
//     server name; then anything else in its order.
//   - Identical lines of a part (retries, the same name asked twice) and
//     identical flows are folded into one.
//   - Ephemeral ports (local ports, and remote ports of inbound flows) are
//     "*"; timestamps, durations, latencies and DNS ids are dropped; DNS
//     answers are sorted; TCP state changes are left out (they follow the
//     peer's packets); TLS payloads are reduced to their first line.
//   - Notes about the trace (lost events, processes left running) come
//     last, sorted.
//   - Every old string of replace is replaced by its new string (a
//     directory by a fixed name, for example); then random names of
//     temporary files and directories are made fixed (see TempNames).
func Normalize(evs []tracep.Event, replace ...string) string {
	r := strings.NewReplacer(replace...)
	line := func(s string) string { return TempNames(r.Replace(s)) }
	tree := newProcessTree(evs)
	lines := map[*Process][]string{}
	for _, p := range tree.byPID {
		lines[p] = processLines(p.Events, line)
	}
	order := &subtreeKeys{lines: lines, keys: map[*Process]string{}}
	var b strings.Builder
	n := 0
	var walk func(ps []*Process)
	walk = func(ps []*Process) {
		for _, p := range order.sorted(ps) {
			n++
			for _, l := range lines[p] {
				fmt.Fprintf(&b, "p%d %s\n", n, l)
			}
			walk(p.Children)
		}
	}
	walk(tree.roots)
	var notes []string
	for _, ev := range evs {
		if ev.Kind == tracep.KindTrace && ev.Trace != nil {
			if s := ev.Trace.Stable(); s != "" {
				notes = append(notes, line(s))
			}
		}
	}
	slices.Sort(notes)
	for _, s := range slices.Compact(notes) {
		b.WriteString(s + "\n")
	}
	return b.String()
}

// subtreeKeys orders sibling processes by the text of their whole subtree
// (own lines, then the children's subtrees in their order), so that
// siblings that did the same thing and differ only below are still put in
// one order.
type subtreeKeys struct {
	lines map[*Process][]string
	keys  map[*Process]string
}

func (k *subtreeKeys) key(p *Process) string {
	if s, ok := k.keys[p]; ok {
		return s
	}
	var b strings.Builder
	b.WriteString(strings.Join(k.lines[p], "\n"))
	for _, c := range k.sorted(p.Children) {
		b.WriteString("\n\t" + strings.ReplaceAll(k.key(c), "\n", "\n\t"))
	}
	k.keys[p] = b.String()
	return k.keys[p]
}

func (k *subtreeKeys) sorted(ps []*Process) []*Process {
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b *Process) int { return strings.Compare(k.key(a), k.key(b)) })
	return out
}

// updateFlag is go test's -update, registered here so that every test
// binary that imports harness accepts it. A test package that imports
// harness reads it with Updating instead of defining its own.
var updateFlag = registerUpdate()

func registerUpdate() *bool {
	if !testing.Testing() {
		return new(bool) // not a test binary: leave the program's flags alone
	}
	return flag.Bool("update", false, "rewrite golden files (harness.Capture.RequireGolden) instead of comparing with them")
}

// UpdateGoldenEnv, when set to 1, makes RequireGolden rewrite golden files,
// as does the -update flag of the test binary.
const UpdateGoldenEnv = "TRACEP_UPDATE_GOLDEN"

// Updating reports whether golden files are to be rewritten rather than
// compared: the test binary's -update flag (which this package registers)
// is set, or TRACEP_UPDATE_GOLDEN=1.
func Updating() bool {
	return *updateFlag || os.Getenv(UpdateGoldenEnv) == "1"
}

// RequireGolden compares the normalised capture (see Normalize) with the
// golden file at path, failing t with a line diff when they differ. With
// go test -update or TRACEP_UPDATE_GOLDEN=1 it writes the file instead.
func (c *Capture) RequireGolden(t testing.TB, path string, replace ...string) {
	t.Helper()
	got := Normalize(c.Events, replace...)
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fail(t, "write golden file: %v", err)
			return
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			fail(t, "write golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		fail(t, "read golden file: %v\nto create it: %s", err, updateAdvice(t))
		return
	}
	if d := LineDiff(string(want), got); d != "" {
		fail(t, "trace differs from %s (-want +got):\n%s\nif the new trace is right: %s", path, d, updateAdvice(t))
	}
}

// updateAdvice says how to rewrite the golden files of t's test.
func updateAdvice(t testing.TB) string {
	return fmt.Sprintf("go test -run '%s' -update (or %s=1)", runPattern(t.Name()), UpdateGoldenEnv)
}

// runPattern is a -run pattern that selects the test named name (a
// subtest's name has a level per slash): each level anchored, so that
// TestA does not select TestAB too.
func runPattern(name string) string {
	if name == "" {
		return "."
	}
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = "^" + quoteMeta(l) + "$"
	}
	return strings.Join(levels, "/")
}

// quoteMeta escapes what a -run level would read as a regular expression,
// and single quotes for the shell.
func quoteMeta(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\'':
			b.WriteString(`'\''`)
		case strings.ContainsRune(`\.+*?()|[]{}^$`, r):
			b.WriteString(`\` + string(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
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
