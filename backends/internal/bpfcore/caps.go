package bpfcore

import "strings"

// Caps is a set of Linux capabilities, a bit per capability number.
type Caps uint64

// The capabilities tracep's backends need (linux/capability.h).
const (
	CapDacOverride       Caps = 1 << 1
	CapKill              Caps = 1 << 5
	CapNetAdmin          Caps = 1 << 12
	CapSysPtrace         Caps = 1 << 19
	CapSysAdmin          Caps = 1 << 21
	CapPerfmon           Caps = 1 << 38
	CapBPF               Caps = 1 << 39
	CapCheckpointRestore Caps = 1 << 40

	// TracingCaps is what loading and attaching tracing programs needs.
	TracingCaps = CapBPF | CapPerfmon

	// adminCovers are the capabilities CAP_SYS_ADMIN stands for where
	// the kernel checks them (bpf_token_capable in kernel/bpf/token.c,
	// checkpoint_restore_ns_capable): not CAP_KILL nor CAP_SYS_PTRACE.
	adminCovers = CapBPF | CapPerfmon | CapNetAdmin | CapCheckpointRestore
)

var capNames = []struct {
	c    Caps
	name string
}{
	{CapBPF, "CAP_BPF"},
	{CapPerfmon, "CAP_PERFMON"},
	{CapNetAdmin, "CAP_NET_ADMIN"},
	{CapCheckpointRestore, "CAP_CHECKPOINT_RESTORE"},
	{CapKill, "CAP_KILL"},
	{CapSysPtrace, "CAP_SYS_PTRACE"},
	{CapSysAdmin, "CAP_SYS_ADMIN"},
	{CapDacOverride, "CAP_DAC_OVERRIDE"},
}

// Missing returns the capabilities of need that held lacks (see missing).
func (need Caps) Missing(held Caps) Caps { return need.missing(held) }

// Names returns the names of the capabilities in c, in the order String
// lists them; capabilities tracep does not name are left out.
func (c Caps) Names() []string {
	var names []string
	for _, n := range capNames {
		if c&n.c != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

// missing returns the capabilities of need that held lacks: held's
// CAP_SYS_ADMIN stands for those it covers, and so does a CAP_SYS_ADMIN
// that need has and held lacks.
func (need Caps) missing(held Caps) Caps {
	m := need &^ held
	if (held|m)&CapSysAdmin != 0 {
		m &^= adminCovers
	}
	return m
}

// String names the capabilities, "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN",
// saying when CAP_SYS_ADMIN would do instead of some: "(or CAP_SYS_ADMIN)"
// when it stands for them all.
func (c Caps) String() string {
	s := c.join()
	if sub := c & adminCovers; sub != 0 && c&CapSysAdmin == 0 {
		if sub == c {
			s += " (or CAP_SYS_ADMIN)"
		} else {
			s += " (or CAP_SYS_ADMIN for " + sub.join() + ")"
		}
	}
	return s
}

func (c Caps) join() string {
	s := strings.Join(c.Names(), ", ")
	if i := strings.LastIndex(s, ", "); i >= 0 {
		s = s[:i] + " and " + s[i+2:]
	}
	return s
}
