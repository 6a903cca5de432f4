package web

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// treeProc is one process of the latest tree, for the process chains of
// the links.
type treeProc struct {
	parent int32  // 0 for a root
	proc   string // comm[pid] as of its latest exec
	exec   uint64 // the id of its latest exec, 0 when none
}

// wireProc is a process of the tree as the page gets it: its name, argv
// and exit in the core's words, the id of its latest exec, its children.
type wireProc struct {
	PID      int32       `json:"pid"`
	Proc     string      `json:"proc"`
	Argv     string      `json:"argv,omitempty"`
	Exit     string      `json:"exit,omitempty"`
	Failed   bool        `json:"failed,omitempty"` // a non-zero exit status, or a signal
	Exec     uint64      `json:"exec,omitempty"`
	Children []*wireProc `json:"children,omitempty"`
}

// treeLoop rebuilds the process tree when events change it, at most every
// treeEvery, until the server closes.
func (s *Server) treeLoop() {
	for {
		select {
		case <-s.treeWake:
		case <-s.closing:
			return
		}
		s.buildTree()
		t := time.NewTimer(treeEvery)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return
		}
	}
}

// buildTree rebuilds the process tree if events changed it, with the
// harness's own tree (Capture.Processes) over the events that shape it.
func (s *Server) buildTree() {
	s.linkMu.Lock() // one build at a time, the newest last
	defer s.linkMu.Unlock()
	s.buildTreeLocked()
}

func (s *Server) buildTreeLocked() {
	s.mu.Lock()
	if !s.st.treeDirty {
		s.mu.Unlock()
		return
	}
	s.st.treeDirty = false
	evs := slices.Clone(s.st.treeEvents)
	s.mu.Unlock()

	// In time order, as a capture has them; Seq stays the page's id.
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].KTime < evs[j].KTime })
	roots := (&harness.Capture{Events: evs}).Processes()
	procs := map[int32]treeProc{}
	var wire func(p *harness.Process) *wireProc
	wire = func(p *harness.Process) *wireProc {
		w := &wireProc{PID: p.PID, Proc: p.Proc().String(), Argv: tracep.ShellJoin(p.Argv)}
		for _, ev := range p.Events {
			switch {
			case ev.Exec == nil:
			case ev.Exec.Op == tracep.ExecOpExec:
				w.Exec = ev.Seq
			case ev.Exec.Op == tracep.ExecOpExit:
				w.Exit, w.Failed = ev.Text(), ev.Exec.ExitCode != 0 || ev.Exec.Signal != ""
			}
		}
		tp := treeProc{proc: w.Proc, exec: w.Exec}
		if p.Parent != nil {
			tp.parent = p.Parent.PID
		}
		procs[p.PID] = tp
		for _, c := range p.Children {
			w.Children = append(w.Children, wire(c))
		}
		return w
	}
	out := struct {
		Roots []*wireProc `json:"roots"`
	}{Roots: []*wireProc{}}
	for _, p := range roots {
		out.Roots = append(out.Roots, wire(p))
	}
	b, _ := json.Marshal(out)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tree, s.st.procs = b, procs
	s.st.treeVer++
	s.st.wake()
}
