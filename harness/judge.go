package harness

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/tracep/tracep/tracep"
)

// Judging checks a policy against events as they come, keeping only what a
// verdict needs: the violations, the addresses and names DNS answered, the
// connections and handshakes a requirement still has to look at, what was
// lost, and the live part of the process tree (for violations' chains). Its
// memory does not grow with the number of events, so a long trace can be
// judged on the fly. Events should come in time order; a connection (or
// handshake) is checked against the DNS answers seen up to its own time, at
// Verdict, so events of different tracers may arrive out of order.
type Judging struct {
	p     *Policy
	ruled map[tracep.Kind]bool
	kinds []tracep.Kind
	procs procIndex

	answered map[netip.Addr]uint64 // address → earliest KTime of an answer with it
	looked   map[string]uint64     // name → earliest KTime of a query or CNAME of it
	connects []pending             // connections to check against answered
	hellos   []pending             // handshakes to check against looked

	gaps       gapCount
	hiding     []tracep.Event
	violations []Violation
}

// pending is an action a requirement judges at the end.
type pending struct {
	ev    tracep.Event
	chain []tracep.Proc
}

// Judging starts judging events against p (see Judge for all at once).
func (p *Policy) Judging() *Judging {
	j := &Judging{p: p, ruled: map[tracep.Kind]bool{}, kinds: p.kinds(),
		answered: map[netip.Addr]uint64{}, looked: map[string]uint64{}, procs: procIndex{}}
	for _, r := range p.Rules {
		j.ruled[r.Matcher.Kind] = true
	}
	return j
}

// Add judges one event.
func (j *Judging) Add(ev tracep.Event) {
	j.gaps.add(ev)
	j.procs.add(ev)
	defer j.procs.exited(ev)
	j.remember(ev)
	if !ev.IsAction() {
		return
	}
	if pl := ev.Payload(); pl.Incomplete() != "" && slices.Contains(j.kinds, ev.Kind) && j.looksAtCut(ev.Kind, pl.CutKeys()) {
		j.hiding = append(j.hiding, ev)
	}
	if j.ruled[ev.Kind] {
		j.rules(ev)
	}
	if n := ev.Net; n != nil && n.Dir == tracep.DirOut && n.Dst.Port() != 53 && slices.Contains(j.p.Requires, RequireConnectFromDNS) {
		j.connects = append(j.connects, pending{ev, j.procs.chain(ev.Proc)})
	}
	if x := ev.TLS; x != nil && x.Op == tracep.TLSOpHandshake && x.SNI != "" && slices.Contains(j.p.Requires, RequireSNIFromDNS) {
		j.hellos = append(j.hellos, pending{ev, j.procs.chain(ev.Proc)})
	}
}

// remember keeps what DNS answered and asked, for the requirements.
func (j *Judging) remember(ev tracep.Event) {
	d := ev.DNS
	if d == nil {
		return
	}
	earliest := func(old uint64, ok bool) uint64 {
		if ok && old < ev.KTime {
			return old
		}
		return ev.KTime
	}
	for _, a := range d.Addrs() {
		old, ok := j.answered[a]
		j.answered[a] = earliest(old, ok)
	}
	names := []string{tracep.CanonicalName(d.Name)}
	for _, a := range d.Answers {
		if a.Type == "CNAME" {
			names = append(names, tracep.CanonicalName(a.Data))
		}
	}
	for _, n := range names {
		old, ok := j.looked[n]
		j.looked[n] = earliest(old, ok)
	}
}

// rules applies the allow and deny rules: the first that matches decides.
func (j *Judging) rules(ev tracep.Event) {
	for i := range j.p.Rules {
		r := &j.p.Rules[i]
		if !r.Matcher.Match(ev) {
			continue
		}
		if !r.Allow {
			j.violate(ev, r, fmt.Sprintf("denied by line %d: %s", r.Line, r.Text), j.procs.chain(ev.Proc))
		}
		return
	}
	j.violate(ev, nil, fmt.Sprintf("no rule allows this %s event", ev.Kind), j.procs.chain(ev.Proc))
}

func (j *Judging) violate(ev tracep.Event, r *Rule, reason string, chain []tracep.Proc) {
	j.violations = append(j.violations, Violation{Event: ev, Rule: r, Reason: reason, Chain: chain})
}

// looksAtCut reports whether a rule of kind k looks at one of keys.
func (j *Judging) looksAtCut(k tracep.Kind, keys []string) bool {
	return slices.ContainsFunc(j.p.Rules, func(r Rule) bool {
		return r.Matcher.Kind == k && slices.ContainsFunc(r.Matcher.Terms, func(t Term) bool { return slices.Contains(keys, t.Key) })
	})
}

// Violations returns how many events the rules have found in violation
// so far: cheap to call after every Add. Verdict adds the requirements'.
func (j *Judging) Violations() int { return len(j.violations) }

// Verdict checks the requirements against everything seen and returns the
// verdict so far; more events may be added after it.
func (j *Judging) Verdict() Verdict {
	v := Verdict{Violations: slices.Clone(j.violations)}
	for _, c := range j.connects {
		dst := c.ev.Net.Dst.Addr().Unmap()
		if at, ok := j.answered[dst]; !ok || at > c.ev.KTime {
			v.Violations = append(v.Violations, Violation{Event: c.ev, Chain: c.chain, Reason: fmt.Sprintf(
				"%s: no DNS answer in this trace gave %s (a hard-coded address, or a lookup the trace did not see)", RequireConnectFromDNS, dst)})
		}
	}
	for _, h := range j.hellos {
		if at, ok := j.looked[tracep.CanonicalName(h.ev.TLS.SNI)]; !ok || at > h.ev.KTime {
			v.Violations = append(v.Violations, Violation{Event: h.ev, Chain: h.chain, Reason: fmt.Sprintf(
				"%s: server name %s was not looked up in this trace", RequireSNIFromDNS, tracep.Escape(h.ev.TLS.SNI))})
		}
	}
	sort.SliceStable(v.Violations, func(a, b int) bool { return v.Violations[a].Event.KTime < v.Violations[b].Event.KTime })
	if len(j.kinds) > 0 {
		v.Incomplete = incomplete(j.gaps.lines(j.kinds...), j.hiding)
	}
	return v
}

// procIndex is the live part of the process tree, for chains: a process
// is forgotten once it and all its descendants seen have exited.
type procIndex map[int32]*procEntry

type procEntry struct {
	proc     tracep.Proc // named by its latest exec; its first parent
	children int         // seen, not yet exited
	exited   bool
}

func (x procIndex) add(ev tracep.Event) {
	p := ev.Proc
	if p.PID == 0 {
		return
	}
	e, ok := x[p.PID]
	if !ok {
		e = &procEntry{proc: p}
		x[p.PID] = e
		if parent := x[p.PPID]; parent != nil && p.PPID != p.PID {
			parent.children++
		}
		return
	}
	if ev.Exec != nil && ev.Exec.Op == tracep.ExecOpExec {
		e.proc.Comm = p.Comm
	}
	if e.proc.PPID == 0 {
		e.proc.PPID = p.PPID
	}
}

// exited forgets what an exit leaves with no live descendant.
func (x procIndex) exited(ev tracep.Event) {
	if ev.Exec == nil || ev.Exec.Op != tracep.ExecOpExit {
		return
	}
	pid := ev.Proc.PID
	for e := x[pid]; e != nil; e = x[pid] {
		if pid == ev.Proc.PID {
			e.exited = true
		}
		if !e.exited || e.children > 0 {
			return
		}
		delete(x, pid)
		pid = e.proc.PPID
		if parent := x[pid]; parent != nil {
			parent.children--
		}
	}
}

// chain returns p and its known ancestors, innermost first.
func (x procIndex) chain(p tracep.Proc) []tracep.Proc {
	if p.PID == 0 {
		return nil
	}
	out := []tracep.Proc{p}
	seen := map[int32]bool{p.PID: true}
	ppid := p.PPID
	if e := x[p.PID]; e != nil && ppid == 0 {
		out[0].PPID, ppid = e.proc.PPID, e.proc.PPID
	}
	for e := x[ppid]; e != nil && !seen[ppid]; e = x[ppid] {
		seen[ppid] = true
		out = append(out, e.proc)
		ppid = e.proc.PPID
	}
	return out
}

// kinds returns the kinds whose events the policy looks at.
func (p *Policy) kinds() []tracep.Kind {
	var out []tracep.Kind
	add := func(k tracep.Kind) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, r := range p.Rules {
		add(r.Matcher.Kind)
	}
	for _, req := range p.Requires {
		switch req {
		case RequireConnectFromDNS:
			add(tracep.KindNet)
			add(tracep.KindDNS)
		case RequireSNIFromDNS:
			add(tracep.KindTLS)
			add(tracep.KindDNS)
		}
	}
	return out
}
