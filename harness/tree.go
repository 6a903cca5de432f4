package harness

import "github.com/tracep/tracep/tracep"

// Process is one traced process: who started it, what it ran and did.
type Process struct {
	PID, PPID int32
	// Comm and Argv are those of its last exec (empty if it never exec'd).
	Comm     string
	Argv     []string
	Parent   *Process
	Children []*Process
	// Events are the process's events, in order.
	Events []tracep.Event
}

// Proc returns p as the events name a process.
func (p *Process) Proc() tracep.Proc { return tracep.Proc{PID: p.PID, PPID: p.PPID, Comm: p.Comm} }

// processTree is the process tree of a list of events: the one walker that
// process trees, policy chains and golden traces share.
type processTree struct {
	roots []*Process
	byPID map[int32]*Process
}

// newProcessTree builds the tree of evs, which are in time order. A
// process's parent is the first parent pid seen for it; a process whose
// parent is not in the trace is a root.
func newProcessTree(evs []tracep.Event) *processTree {
	t := &processTree{byPID: map[int32]*Process{}}
	var order []*Process
	for _, ev := range evs {
		if ev.Proc.PID == 0 {
			continue
		}
		p, ok := t.byPID[ev.Proc.PID]
		if !ok {
			p = &Process{PID: ev.Proc.PID, PPID: ev.Proc.PPID, Comm: ev.Proc.Comm}
			t.byPID[p.PID] = p
			order = append(order, p)
		}
		if p.PPID == 0 {
			p.PPID = ev.Proc.PPID
		}
		if ev.Exec != nil && ev.Exec.Op == tracep.ExecOpExec {
			p.Comm, p.Argv = ev.Proc.Comm, ev.Exec.Argv
		}
		p.Events = append(p.Events, ev)
	}
	for _, p := range order {
		if parent, ok := t.byPID[p.PPID]; ok && parent != p && !parent.descendsFrom(p) {
			p.Parent = parent
			parent.Children = append(parent.Children, p)
		} else {
			t.roots = append(t.roots, p)
		}
	}
	return t
}

// descendsFrom reports whether p is anc or below it (pid reuse can make
// the parent links of a long trace circular).
func (p *Process) descendsFrom(anc *Process) bool {
	for q := p; q != nil; q = q.Parent {
		if q == anc {
			return true
		}
	}
	return false
}

// chain returns the process of p and its traced ancestors, innermost
// first. p keeps the comm it had at the event; ancestors are named by
// their latest exec.
func (t *processTree) chain(p tracep.Proc) []tracep.Proc {
	if p.PID == 0 {
		return nil
	}
	out := []tracep.Proc{p}
	node := t.byPID[p.PID]
	if node == nil {
		return out
	}
	if out[0].PPID == 0 {
		out[0].PPID = node.PPID
	}
	for q := node.Parent; q != nil; q = q.Parent {
		out = append(out, q.Proc())
	}
	return out
}

// Processes returns the process tree of the capture: the processes whose
// parent is not in the trace (the command itself, usually), each with its
// descendants.
func (c *Capture) Processes() []*Process { return newProcessTree(c.Events).roots }
