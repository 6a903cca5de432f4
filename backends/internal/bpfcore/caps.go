package bpfcore

import "strings"

// Caps is a set of Linux capabilities, a bit per capability number.
type Caps uint64

// The capabilities tracep's backends need (linux/capability.h). Holding
// CAP_SYS_ADMIN stands for each of the others.
const (
	CapNetAdmin Caps = 1 << 12
	CapSysAdmin Caps = 1 << 21
	CapPerfmon  Caps = 1 << 38
	CapBPF      Caps = 1 << 39

	// TracingCaps is what loading and attaching tracing programs needs.
	TracingCaps = CapBPF | CapPerfmon
)

var capNames = []struct {
	c    Caps
	name string
}{
	{CapBPF, "CAP_BPF"},
	{CapPerfmon, "CAP_PERFMON"},
	{CapNetAdmin, "CAP_NET_ADMIN"},
	{CapSysAdmin, "CAP_SYS_ADMIN"},
}

// missing returns the capabilities of need that held lacks, as few as
// suffice: CAP_SYS_ADMIN alone when need has it, since it stands for the
// others.
func (need Caps) missing(held Caps) Caps {
	if held&CapSysAdmin != 0 {
		return 0
	}
	if need&CapSysAdmin != 0 {
		return CapSysAdmin
	}
	return need &^ held
}

// String names the capabilities, "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN",
// adding "(or CAP_SYS_ADMIN)" when that one would do instead.
func (c Caps) String() string {
	var names []string
	for _, n := range capNames {
		if c&n.c != 0 {
			names = append(names, n.name)
		}
	}
	s := strings.Join(names, ", ")
	if i := strings.LastIndex(s, ", "); i >= 0 {
		s = s[:i] + " and " + s[i+2:]
	}
	if c != 0 && c&CapSysAdmin == 0 {
		s += " (or CAP_SYS_ADMIN)"
	}
	return s
}
