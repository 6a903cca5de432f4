package tracep

import (
	"fmt"
	"slices"
	"strings"
)

// Note operations.
const (
	// NoteLost: Count events of kind Of were lost (the kernel's ring was
	// full, or a record could not be decoded); Total is the loss so far.
	NoteLost = "lost"
	// NoteLeftover: when the traced command exited, Procs were still
	// running in its cgroup; Action says what became of them.
	NoteLeftover = "leftover"
	// NoteScope: what the trace covers, when it is not what was asked
	// (Detail says why).
	NoteScope = "scope"
)

// What became of leftover processes.
const (
	LeftoverKilled = "killed"     // killed (SIGKILL) when the command exited
	LeftoverWaited = "waited for" // traced until they exited
)

// Note is the payload of a KindTrace event: a record about the trace
// itself. Verdicts read them: a trace with a "lost" note is incomplete.
type Note struct {
	Op     string `json:"op"`
	Of     Kind   `json:"of,omitempty"`
	Count  uint64 `json:"count,omitempty"`
	Total  uint64 `json:"total,omitempty"`
	Procs  []Proc `json:"procs,omitempty"`
	Action string `json:"action,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Kind is KindTrace.
func (n *Note) Kind() Kind { return KindTrace }

// Text: "trace lost 842 exec events (842 in all)", "trace leftover: 2
// processes still running when the command exited, killed: sleep[12],
// daemon[13]", "trace scope: ...".
func (n *Note) Text() string {
	switch n.Op {
	case NoteLost:
		return fmt.Sprintf("trace lost %d %s events (%d in all)", n.Count, n.Of, n.Total)
	case NoteLeftover:
		procs := make([]string, len(n.Procs))
		for i, p := range n.Procs {
			procs[i] = p.String()
		}
		what := "processes were"
		if len(n.Procs) == 1 {
			what = "process was"
		}
		return fmt.Sprintf("trace leftover: %d %s still running when the command exited, %s: %s",
			len(n.Procs), what, n.Action, strings.Join(procs, ", "))
	}
	s := "trace " + Escape(n.Op)
	if n.Detail != "" {
		s += ": " + Escape(n.Detail)
	}
	return s
}

// Stable leaves out counts and pids: "trace lost exec events",
// "trace leftover, killed: daemon, sleep".
func (n *Note) Stable() string {
	switch n.Op {
	case NoteLost:
		return fmt.Sprintf("trace lost %s events", n.Of)
	case NoteLeftover:
		comms := make([]string, len(n.Procs))
		for i, p := range n.Procs {
			comms[i] = Escape(p.Comm)
		}
		slices.Sort(comms)
		return fmt.Sprintf("trace leftover, %s: %s", n.Action, strings.Join(comms, ", "))
	}
	return n.Text()
}

// IsAction: a note is about the trace, not something a program did.
func (n *Note) IsAction() bool { return false }

// DerivedKeys: none.
func (n *Note) DerivedKeys(func(key, value string)) {}

// AuditKeys: none.
func (n *Note) AuditKeys() []string { return nil }

// Incomplete: lost events leave a hole in the trace.
func (n *Note) Incomplete() string {
	if n.Op == NoteLost {
		return fmt.Sprintf("%d %s events lost", n.Count, n.Of)
	}
	return ""
}

// CutKeys: none.
func (n *Note) CutKeys() []string { return nil }

// Place puts notes after every process.
func (n *Note) Place() (Place, string) { return PlaceNote, "" }
