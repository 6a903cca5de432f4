package harness

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
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
	type proc struct {
		pid      int32
		ppid     int32
		lines    []string
		children []*proc
		label    string
	}
	procs := map[int32]*proc{}
	var order []*proc
	get := func(p tracep.Proc) *proc {
		if pr, ok := procs[p.PID]; ok {
			return pr
		}
		pr := &proc{pid: p.PID, ppid: p.PPID}
		procs[p.PID] = pr
		order = append(order, pr)
		return pr
	}
	for _, ev := range evs {
		if ev.Net != nil && ev.Net.Op == tracep.NetOpState {
			// TCP state changes follow the peer's packets, not the
			// program: their order against its other events varies.
			continue
		}
		pr := get(ev.Proc)
		line := r.Replace(normalLine(ev))
		if n := len(pr.lines); n > 0 && pr.lines[n-1] == line {
			continue // a retry
		}
		pr.lines = append(pr.lines, line)
	}
	for _, pr := range order {
		sortDNSRuns(pr.lines)
	}
	var roots []*proc
	for _, pr := range order {
		if parent, ok := procs[pr.ppid]; ok && parent != pr {
			parent.children = append(parent.children, pr)
		} else {
			roots = append(roots, pr)
		}
	}
	key := func(p *proc) string { return strings.Join(p.lines, "\n") }
	sortProcs := func(ps []*proc) { sort.SliceStable(ps, func(i, j int) bool { return key(ps[i]) < key(ps[j]) }) }
	var b strings.Builder
	n := 0
	var walk func(ps []*proc)
	walk = func(ps []*proc) {
		sortProcs(ps)
		for _, p := range ps {
			n++
			p.label = fmt.Sprintf("p%d", n)
			for _, l := range p.lines {
				fmt.Fprintf(&b, "%s %s\n", p.label, l)
			}
			walk(p.children)
		}
	}
	walk(roots)
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

func normalLine(ev tracep.Event) string {
	switch {
	case ev.Exec != nil:
		x := ev.Exec
		switch x.Op {
		case tracep.ExecOpExec:
			return fmt.Sprintf("exec %s %s", tracep.Escape(x.Filename), tracep.ShellJoin(x.Argv))
		case tracep.ExecOpFail:
			return fmt.Sprintf("exec-fail %s %s", tracep.Escape(x.Filename), x.Errno)
		case tracep.ExecOpExit:
			if x.Signal != "" {
				return "exit " + x.Signal
			}
			return fmt.Sprintf("exit %d", x.ExitCode)
		}
	case ev.Net != nil:
		n := ev.Net
		var remote, local string
		if n.Dir == tracep.DirIn {
			remote, local = addrOnly(n.Src), n.Dst.String()
			return strings.TrimSpace(fmt.Sprintf("net %s %s in %s from %s %s", n.Op, n.Proto, local, remote, n.Errno))
		}
		remote = n.Dst.String()
		if !n.Dst.IsValid() {
			remote = "?"
		}
		extra := n.Errno
		if n.Op == tracep.NetOpState {
			extra = n.State
		}
		return strings.TrimSpace(fmt.Sprintf("net %s %s %s %s %s", n.Op, n.Proto, n.Dir, remote, extra))
	case ev.DNS != nil:
		d := ev.DNS
		var ans []string
		for _, a := range d.Answers {
			ans = append(ans, a.Type+" "+tracep.Escape(strings.ToLower(a.Data)))
		}
		sort.Strings(ans)
		rcode := d.RCode
		if !d.Answered {
			rcode = "unanswered"
		}
		return fmt.Sprintf("dns %s %s %s [%s]", d.Type, tracep.Escape(canonicalName(d.Name)), rcode, strings.Join(ans, ", "))
	case ev.TLS != nil:
		x := ev.TLS
		first, _, _ := strings.Cut(string(x.Data), "\n")
		first = strings.TrimSuffix(first, "\r")
		if len(first) > 80 {
			first = first[:80]
		}
		return strings.TrimSpace(fmt.Sprintf("tls %s %s sni=%s %s", x.Op, x.Library, tracep.Escape(canonicalName(x.SNI)), tracep.Escape(first)))
	case ev.CA != nil:
		return fmt.Sprintf("ca %s certs=%d verified=%t", tracep.Escape(ev.CA.Host), len(ev.CA.Certs), ev.CA.Verified)
	}
	return string(ev.Kind)
}

func addrOnly(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "?"
	}
	return ap.Addr().String()
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
