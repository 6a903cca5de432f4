package harness

import (
	"fmt"
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
// every flow that was opened.
func (c *Capture) RequireConnect(t testing.TB, dst string, terms ...string) tracep.Event {
	t.Helper()
	found, err := c.FindConnects(dst, terms...)
	if err != nil {
		t.Fatalf("RequireConnect: %v", err)
		return tracep.Event{}
	}
	if len(found) == 0 {
		t.Fatalf("no connection to %s matched; the connections were:\n%s", dst+withTerms(terms), c.NetTable())
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
		t.Fatalf("RequireNoConnect: %v", err)
		return
	}
	if len(found) > 0 {
		t.Fatalf("unexpected connection to %s:\n%s\nall connections:\n%s", dst+withTerms(terms), formatEvents(found), c.NetTable())
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
			t.Fatalf("RequireOnlyConnections: %v", err)
			return
		}
		if m.Kind != "" && m.Kind != tracep.KindNet {
			t.Fatalf("RequireOnlyConnections: matcher %q is not for net events", s)
			return
		}
		m.Kind = tracep.KindNet
		ms = append(ms, m)
	}
	bad := Unmatched(c.Events, ms...)
	if len(bad) > 0 {
		t.Fatalf("connections outside the allowed set %q:\n%s\nall connections:\n%s", matchers, formatEvents(bad), c.NetTable())
	}
	c.requireComplete(t, fmt.Sprintf("only the connections %q", matchers), nil, tracep.KindNet)
}

// NetTable renders the flows the traced processes opened or took (see
// Connections), one per line with every string escaped, for failure
// messages. State changes and closes are left out.
func (c *Capture) NetTable() string {
	if conns := c.Connections(); len(conns) > 0 {
		return formatEvents(conns)
	}
	return "  (no connections)\n"
}
