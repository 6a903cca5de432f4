package harness

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// Connections returns the flows the traced processes opened or took, in
// order: outbound connects (TCP, and connected UDP sockets), first
// datagrams of unconnected UDP sockets to each peer, and accepted inbound
// connections. Each flow appears once; its state changes and close are
// left out.
func (c *Capture) Connections() []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.Of(tracep.KindNet) {
		if ev.IsAction() {
			out = append(out, ev)
		}
	}
	return out
}

// FindConnects returns the outbound flows (connects and UDP sends) whose
// destination matches dst and which satisfy every extra matcher term
// ("proto=udp", "comm=curl", "errno=ECONNREFUSED"...). dst is a matcher
// pattern for the "dst" field: an address and port such as
// "127.0.0.1:443" or "[::1]:53", a glob ("*:53"), or an address prefix
// with an optional port ("192.0.2.0/24", "10.0.0.0/8:443",
// "[2001:db8::/32]:443").
func (c *Capture) FindConnects(dst string, terms ...string) ([]tracep.Event, error) {
	m, err := ParseMatcherArgs(append([]string{string(tracep.KindNet), "dst=" + dst, "dir=" + tracep.DirOut}, terms...))
	if err != nil {
		return nil, err
	}
	var out []tracep.Event
	for _, ev := range c.Connections() {
		if m.Match(ev) {
			out = append(out, ev)
		}
	}
	return out, nil
}

// RequireConnect fails t unless the traced processes opened a flow to dst
// (see FindConnects for dst and terms; a connect that then failed counts,
// since it was attempted), and returns the first one. The failure lists
// the flows that were opened, each once, with its outcome (see NetTable).
func (c *Capture) RequireConnect(t testing.TB, dst string, terms ...string) tracep.Event {
	t.Helper()
	found, err := c.FindConnects(dst, terms...)
	if err != nil {
		fail(t, "RequireConnect: %v", err)
		return tracep.Event{}
	}
	if len(found) == 0 {
		fail(t, "no connection to %s matched; the connections were:\n%s", dst+withTerms(terms), c.NetTable())
		return tracep.Event{}
	}
	return found[0]
}

// RequireNoConnect fails t if the traced processes opened a flow to dst
// (see FindConnects), showing the offending ones.
func (c *Capture) RequireNoConnect(t testing.TB, dst string, terms ...string) {
	t.Helper()
	found, err := c.FindConnects(dst, terms...)
	if err != nil {
		fail(t, "RequireNoConnect: %v", err)
		return
	}
	if len(found) > 0 {
		fail(t, "unexpected connection to %s:\n%s", dst+withTerms(terms), c.netRows(found))
		return
	}
	c.requireComplete(t, "no connection to "+dst+withTerms(terms), nil, tracep.KindNet)
}

// RequireOnlyConnections fails t if a flow the traced processes opened or
// accepted (see Connections) matches none of the matchers. Each matcher is
// a set of terms separated by spaces, as in ParseMatcher (the kind may be
// left out), for example
//
//	c.RequireOnlyConnections(t, "proto=tcp dst=192.0.2.10:443", "proto=udp dst=*:53")
//
// for "connected only to 192.0.2.10:443 and sent UDP only to port 53".
func (c *Capture) RequireOnlyConnections(t testing.TB, matchers ...string) {
	t.Helper()
	ms := make([]Matcher, 0, len(matchers))
	for _, s := range matchers {
		m, err := ParseMatcher(s)
		if err != nil {
			fail(t, "RequireOnlyConnections: %v", err)
			return
		}
		if m.Kind != "" && m.Kind != tracep.KindNet {
			fail(t, "RequireOnlyConnections: matcher %q is not for net events", s)
			return
		}
		m.Kind = tracep.KindNet
		ms = append(ms, m)
	}
	bad := Unmatched(c.Events, ms...)
	if len(bad) > 0 {
		fail(t, "connections outside the allowed set %q:\n%s", matchers, c.netRows(bad))
		return
	}
	c.requireComplete(t, fmt.Sprintf("only the connections %q", matchers), nil, tracep.KindNet)
}

// NetTable renders the flows the traced processes opened or took (see
// Connections), one per line with every string escaped, for failure
// messages: each connect, send or accept with its outcome, the error of a
// connect that failed ("ECONNREFUSED" in the line), else how long the
// flow lasted and what it carried ("closed after 0.012s tx=75 rx=1380"),
// or "open at the end of the trace". State changes and closes have no
// lines of their own.
func (c *Capture) NetTable() string {
	if conns := c.Connections(); len(conns) > 0 {
		return c.netRows(conns)
	}
	return "  (no connections)\n"
}

// netRows renders the flows opened by the events evs (actions of c), one
// per line with its outcome, as NetTable does.
func (c *Capture) netRows(evs []tracep.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s", ev)
		if ev.Net.Errno == "" {
			b.WriteString(": " + c.netOutcome(ev))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// netOutcome says how the flow ev opened ended: its close, the first
// after ev of the same protocol and addresses (an unconnected socket's
// close has no peer).
func (c *Capture) netOutcome(ev tracep.Event) string {
	after := false
	for _, e := range c.Events {
		n := e.Net
		if n == ev.Net {
			after = true // the events share their payload
			continue
		}
		if !after || e.Kind != tracep.KindNet || n == nil || n.Op != tracep.NetOpClose ||
			n.Proto != ev.Net.Proto || n.Src != ev.Net.Src || n.Dst.IsValid() && n.Dst != ev.Net.Dst {
			continue
		}
		s := fmt.Sprintf("closed after %.3fs", n.Duration.Seconds())
		if n.BytesSent > 0 || n.BytesReceived > 0 {
			s += fmt.Sprintf(" tx=%d rx=%d", n.BytesSent, n.BytesReceived)
		}
		return s
	}
	return "open at the end of the trace"
}
