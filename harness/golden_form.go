package harness

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/tracep/tracep/tracep"
)

// The golden form of one process (see Normalize): its events cut into
// segments at each exec, and in each segment what the scheduler may
// interleave (parallel lookups, parallel connections, a socket's events
// against another's) put in a canonical order.

// flow is one socket's events: a connect (send, accept) to its close, with
// the TLS events of its connection.
type flow struct {
	proto    string
	src, dst netip.AddrPort
	first    int   // index of its first event
	end      int   // index of its close; -1 while open
	events   []int // its net and TLS events, in order
	dns      bool  // it carried a traced DNS query
}

// contains reports whether the event at i falls in the flow's life.
func (f *flow) contains(i int) bool { return i >= f.first && (f.end < 0 || i <= f.end) }

// segment is what a process did while running one program.
type segment struct {
	head   string   // the exec line; "" before the first exec
	seq    []string // failed execs, in order
	dns    []string // name NUL line
	flows  []*flow
	tls    map[string][]string // TLS events on no known flow, by library and server name
	others []string            // anything else, in order
}

// processLines renders the events of one process, in time order, as the
// lines of its golden form, each passed through line.
func processLines(evs []tracep.Event, line func(string) string) []string {
	flows, flowOf := linkFlows(evs)
	stable := func(ev tracep.Event) string {
		if p := ev.Payload(); p != nil {
			if s := p.Stable(); s != "" {
				return line(s)
			}
		}
		return ""
	}

	segs := []*segment{{tls: map[string][]string{}}}
	segAt := make([]*segment, len(evs)) // the segment of each event
	var exits []string
	for i, ev := range evs {
		p := ev.Payload()
		if p == nil {
			segAt[i] = segs[len(segs)-1]
			continue
		}
		place, group := p.Place()
		if place == tracep.PlaceProgram {
			segs = append(segs, &segment{head: stable(ev), tls: map[string][]string{}})
		}
		seg := segs[len(segs)-1]
		segAt[i] = seg
		s := stable(ev)
		switch {
		case place == tracep.PlaceNote:
			// Normalize puts notes at the end
		case flowOf[i] != nil:
			// rendered with its flow
		case s == "", place == tracep.PlaceProgram:
			// nothing, or the head of seg
		case place == tracep.PlaceExit:
			exits = append(exits, s)
		case place == tracep.PlaceAttempt:
			seg.seq = append(seg.seq, s)
		case place == tracep.PlaceLookup:
			seg.dns = append(seg.dns, group+"\x00"+s)
		case place == tracep.PlaceSession:
			seg.tls[group] = append(seg.tls[group], s)
		default:
			seg.others = append(seg.others, s)
		}
	}
	for _, f := range flows {
		if !f.dns {
			seg := segAt[f.first]
			seg.flows = append(seg.flows, f)
		}
	}

	var out []string
	for _, seg := range segs {
		if seg.head != "" {
			out = append(out, seg.head)
		}
		out = append(out, foldRepeats(seg.seq)...)
		for _, s := range sortedSet(seg.dns) {
			_, s, _ = strings.Cut(s, "\x00")
			out = append(out, s)
		}
		var blocks []string
		for _, f := range seg.flows {
			var ls []string
			for _, i := range f.events {
				if s := stable(evs[i]); s != "" {
					ls = append(ls, s)
				}
			}
			if ls = foldRepeats(ls); len(ls) > 0 {
				blocks = append(blocks, strings.Join(ls, "\n"))
			}
		}
		for _, ls := range seg.tls {
			blocks = append(blocks, strings.Join(foldRepeats(ls), "\n"))
		}
		for _, b := range sortedSet(blocks) {
			out = append(out, strings.Split(b, "\n")...)
		}
		out = append(out, foldRepeats(seg.others)...)
	}
	return append(out, foldRepeats(exits)...)
}

// linkFlows groups the net events of one process into flows, attaches to
// them the TLS events of their connection and marks those that carried a
// DNS query. flowOf maps each event index it placed in a flow to that
// flow; a DNS event's socket is marked, but the DNS event itself stays out
// of flowOf.
func linkFlows(evs []tracep.Event) (flows []*flow, flowOf map[int]*flow) {
	flowOf = map[int]*flow{}
	type key struct {
		proto    string
		src, dst netip.AddrPort
	}
	open := map[key]*flow{}
	for i, ev := range evs {
		if ev.Kind != tracep.KindNet || ev.Net == nil {
			continue
		}
		n := ev.Net
		k := key{n.Proto, n.Src, n.Dst}
		f := open[k]
		if f == nil {
			f = &flow{proto: n.Proto, src: n.Src, dst: n.Dst, first: i, end: -1}
			flows = append(flows, f)
			open[k] = f
		}
		f.events = append(f.events, i)
		flowOf[i] = f
		if n.Op == tracep.NetOpClose {
			f.end = i
			delete(open, k)
		}
	}
	for i, ev := range evs {
		d := ev.DNS
		if ev.Kind != tracep.KindDNS || d == nil {
			continue
		}
		if f := pickFlow(flows, i, func(f *flow) bool { return carries(f, d) }); f != nil {
			f.dns = true
		}
	}
	for i, ev := range evs {
		x := ev.TLS
		if ev.Kind != tracep.KindTLS || x == nil {
			continue
		}
		if f := pickFlow(flows, i, func(f *flow) bool { return onConnection(f, x) }); f != nil {
			f.events = append(f.events, i)
			slices.Sort(f.events)
			flowOf[i] = f
		}
	}
	return flows, flowOf
}

// pickFlow returns the flow that match selects for the event at i: the one
// whose life holds i, else the first to open after i (a query is seen
// before its socket's connect), else the last before it.
func pickFlow(flows []*flow, i int, match func(*flow) bool) *flow {
	var after, before *flow
	for _, f := range flows {
		switch {
		case !match(f):
		case f.contains(i):
			return f
		case f.first > i:
			if after == nil {
				after = f
			}
		default:
			before = f
		}
	}
	if after != nil {
		return after
	}
	return before
}

// carries reports whether f is the socket of the DNS query d: the query's
// client and server are the flow's ends (an unconnected socket's local
// address is the wildcard: its port must match).
func carries(f *flow, d *tracep.DNS) bool {
	if d.Transport != "" && d.Transport != f.proto {
		return false
	}
	return sameEnd(f.dst, d.Server) && sameLocal(f.src, d.Client)
}

// onConnection reports whether the TLS event x is on the TCP flow f, out
// (Src is the local end) or in (Src is the peer).
func onConnection(f *flow, x *tracep.TLS) bool {
	if f.proto != "tcp" || !x.Dst.IsValid() {
		return false
	}
	if sameEnd(f.dst, x.Dst) && (!x.Src.IsValid() || sameLocal(f.src, x.Src)) {
		return true
	}
	return x.Src.IsValid() && sameEnd(f.src, x.Dst) && sameLocal(f.dst, x.Src)
}

func sameEnd(a, b netip.AddrPort) bool {
	return a.IsValid() && b.IsValid() && a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// sameLocal is sameEnd where the socket's own address a may be the
// wildcard.
func sameLocal(a, b netip.AddrPort) bool {
	if a.IsValid() && b.IsValid() && a.Addr().IsUnspecified() {
		return a.Port() == b.Port()
	}
	return sameEnd(a, b)
}

// foldRepeats drops each line equal to the one before it (a retry).
func foldRepeats(lines []string) []string { return slices.Compact(slices.Clone(lines)) }

// sortedSet returns the distinct lines, sorted.
func sortedSet(lines []string) []string {
	out := slices.Clone(lines)
	slices.Sort(out)
	return slices.Compact(out)
}
