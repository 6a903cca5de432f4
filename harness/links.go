package harness

import (
	"slices"
	"sort"

	"github.com/tracep/tracep/tracep"
)

// AnswerFor returns the DNS event whose answer gave the destination of the
// net event conn: the latest one before it, of the same process if there
// is one, else of any traced process (a resolver helper, say).
func (c *Capture) AnswerFor(conn tracep.Event) (tracep.Event, bool) {
	if conn.Net == nil {
		return tracep.Event{}, false
	}
	dst := conn.Net.Dst.Addr().Unmap()
	answers := func(d *tracep.DNS) bool { return slices.Contains(d.Addrs(), dst) }
	var best tracep.Event
	found := false
	for _, ev := range c.Events {
		if ev.Seq >= conn.Seq && conn.Seq != 0 {
			break
		}
		if ev.DNS == nil || !answers(ev.DNS) {
			continue
		}
		if !found || ev.Proc.PID == conn.Proc.PID || best.Proc.PID != conn.Proc.PID {
			best, found = ev, true
		}
	}
	return best, found
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

// SNIs returns the distinct TLS server names of the capture, in canonical
// form (tracep.CanonicalName), sorted.
func (c *Capture) SNIs() []string {
	return distinct(c.Of(tracep.KindTLS), func(ev tracep.Event) string { return ev.TLS.SNI })
}

// Names returns the distinct names the capture resolved, in canonical form,
// sorted.
func (c *Capture) Names() []string {
	return distinct(c.Of(tracep.KindDNS), func(ev tracep.Event) string { return ev.DNS.Name })
}

// distinct returns the distinct non-empty canonical names name gives for evs, sorted.
func distinct(evs []tracep.Event, name func(tracep.Event) string) []string {
	var out []string
	for _, ev := range evs {
		if n := tracep.CanonicalName(name(ev)); n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
