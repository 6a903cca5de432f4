package harness

import (
	"net/netip"
	"sort"

	"github.com/tracep/tracep/tracep"
)

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

// Processes returns the process tree of the capture: the processes whose
// parent is not in the trace (the command itself, usually), each with its
// descendants.
func (c *Capture) Processes() []*Process {
	byPID := map[int32]*Process{}
	var order []*Process
	for _, ev := range c.Events {
		if ev.Proc.PID == 0 {
			continue
		}
		p, ok := byPID[ev.Proc.PID]
		if !ok {
			p = &Process{PID: ev.Proc.PID, PPID: ev.Proc.PPID, Comm: ev.Proc.Comm}
			byPID[p.PID] = p
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
	var roots []*Process
	for _, p := range order {
		if parent, ok := byPID[p.PPID]; ok && parent != p {
			p.Parent = parent
			parent.Children = append(parent.Children, p)
		} else {
			roots = append(roots, p)
		}
	}
	return roots
}

// AnswerFor returns the DNS event whose answer gave the destination of the
// net event conn: the latest one before it, of the same process if there
// is one, else of any traced process (a resolver helper, say).
func (c *Capture) AnswerFor(conn tracep.Event) (tracep.Event, bool) {
	if conn.Net == nil {
		return tracep.Event{}, false
	}
	dst := conn.Net.Dst.Addr().Unmap()
	var best tracep.Event
	found := false
	for _, ev := range c.Events {
		if ev.Seq >= conn.Seq && conn.Seq != 0 {
			break
		}
		if ev.DNS == nil || !answers(ev.DNS, dst) {
			continue
		}
		if !found || ev.Proc.PID == conn.Proc.PID || best.Proc.PID != conn.Proc.PID {
			best, found = ev, true
		}
	}
	return best, found
}

func answers(d *tracep.DNS, addr netip.Addr) bool {
	for _, a := range d.Answers {
		if x, err := netip.ParseAddr(a.Data); err == nil && x.Unmap() == addr {
			return true
		}
	}
	return false
}

// ConnectionFor returns the connection a TLS event went over: the net
// event with the same addresses when the TLS event knows them, else the
// latest outbound TCP connect of the same process before it.
func (c *Capture) ConnectionFor(tls tracep.Event) (tracep.Event, bool) {
	if tls.TLS == nil {
		return tracep.Event{}, false
	}
	var best tracep.Event
	found := false
	for _, ev := range c.Events {
		if ev.Seq >= tls.Seq && tls.Seq != 0 {
			break
		}
		n := ev.Net
		if n == nil || n.Proto != "tcp" || (n.Op != tracep.NetOpConnect && n.Op != tracep.NetOpAccept) {
			continue
		}
		if tls.TLS.Dst.IsValid() {
			if n.Dst == tls.TLS.Dst && (!tls.TLS.Src.IsValid() || n.Src == tls.TLS.Src) {
				best, found = ev, true
			}
			continue
		}
		if ev.Proc.PID == tls.Proc.PID && n.Dir == tracep.DirOut {
			best, found = ev, true
		}
	}
	return best, found
}

// SNIs returns the distinct TLS server names of the capture, sorted.
func (c *Capture) SNIs() []string {
	seen := map[string]bool{}
	var out []string
	for _, ev := range c.Of(tracep.KindTLS) {
		if n := canonicalName(ev.TLS.SNI); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Names returns the distinct names the capture resolved, sorted.
func (c *Capture) Names() []string {
	seen := map[string]bool{}
	var out []string
	for _, ev := range c.Of(tracep.KindDNS) {
		if n := canonicalName(ev.DNS.Name); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
