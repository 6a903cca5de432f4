package harness

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// DNS assertions. A DNS event is one query and, when it came, its response.
// Names are compared as DNS compares them: in lower case, without the
// trailing dot. A name pattern is a glob (see Glob) over that form:
//
//	example.test     exactly example.test
//	*.example.test   any name below example.test (a.example.test,
//	                 a.b.example.test), but not example.test itself
//	*example.test    example.test and every name below it (and
//	                 badexample.test: write both forms to be strict)
//	localhost        only the single-label name localhost
//
// A pattern always applies to the name that was asked on the wire. A
// resolver expands a short name with its search list before asking, so a
// program resolving "db" may ask for db.corp.example; the pattern "db"
// does not match that, and the failure shows the name that was asked.
// This keeps single-label patterns exact: "localhost" never allows
// localhost.attacker.example.

// MatchName reports whether the DNS name matches the name pattern, both
// taken in lower case without a trailing dot.
func MatchName(pattern, name string) bool {
	return Glob(tracep.CanonicalName(pattern), tracep.CanonicalName(name))
}

// Lookups returns the DNS events whose query name matches the name pattern,
// in order.
func (c *Capture) Lookups(pattern string) []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.Of(tracep.KindDNS) {
		if MatchName(pattern, ev.DNS.Name) {
			out = append(out, ev)
		}
	}
	return out
}

// Answers returns the answer records of every lookup of the names matching
// pattern, in order: for a CNAME chain, the aliases and then the records of
// their target.
func (c *Capture) Answers(pattern string) []tracep.DNSRecord {
	var out []tracep.DNSRecord
	for _, ev := range c.Lookups(pattern) {
		out = append(out, ev.DNS.Answers...)
	}
	return out
}

// Addrs returns the distinct addresses (A and AAAA records) the lookups of
// the names matching pattern were answered with, sorted.
func (c *Capture) Addrs(pattern string) []netip.Addr {
	var out []netip.Addr
	for _, ev := range c.Lookups(pattern) {
		out = append(out, ev.DNS.Addrs()...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// resolved reports whether the DNS event got a successful answer with at
// least one record, of type typ when typ is not empty.
func resolved(d *tracep.DNS, typ string) bool {
	if !d.Answered || d.RCode != "NOERROR" || len(d.Answers) == 0 {
		return false
	}
	return typ == "" || strings.EqualFold(d.Type, typ)
}

// RequireResolved fails t unless a name matching pattern was looked up and
// answered with NOERROR and at least one record, once for each of types
// when given ("A", "AAAA", case-insensitive). It returns the first such
// lookup. The failure shows the lookups of the names matching pattern,
// or, when there were none, the names that were looked up.
func (c *Capture) RequireResolved(t testing.TB, pattern string, types ...string) tracep.Event {
	t.Helper()
	if len(types) == 0 {
		types = []string{""}
	}
	var first tracep.Event
	for i, typ := range types {
		found := false
		for _, ev := range c.Lookups(pattern) {
			if resolved(ev.DNS, typ) {
				if i == 0 {
					first = ev
				}
				found = true
				break
			}
		}
		if !found {
			what := pattern
			if typ != "" {
				what = strings.ToUpper(typ) + " " + pattern
			}
			fail(t, "%s was not resolved; %s", what, c.dnsAbout(pattern, "it was not looked up; "))
			return tracep.Event{}
		}
	}
	return first
}

// RequireLookup fails t unless a name matching pattern was looked up in an
// event that also satisfies every matcher term (key=glob or key!=glob, see
// Matcher), such as "type=AAAA", "rcode=NXDOMAIN", "answered=false",
// "transport=tcp", "answers.data=192.0.2.10" or "pid=1234". It returns the
// first such lookup. The failure shows the lookups of the names matching
// pattern, or, when there were none, the names that were looked up.
func (c *Capture) RequireLookup(t testing.TB, pattern string, terms ...string) tracep.Event {
	t.Helper()
	m, err := ParseMatcherArgs(append([]string{string(tracep.KindDNS)}, terms...))
	if err != nil {
		fail(t, "RequireLookup: %v", err)
		return tracep.Event{}
	}
	for _, ev := range c.Lookups(pattern) {
		if m.Match(ev) {
			return ev
		}
	}
	fail(t, "no lookup of %s%s; %s", pattern, withTerms(terms), c.dnsAbout(pattern, ""))
	return tracep.Event{}
}

// RequireNoLookup fails t if a name matching pattern was looked up at all,
// showing the offending lookups.
func (c *Capture) RequireNoLookup(t testing.TB, pattern string) {
	t.Helper()
	if found := c.Lookups(pattern); len(found) > 0 {
		fail(t, "unexpected lookup of %s:\n%s", pattern, formatEvents(found))
		return
	}
	c.requireComplete(t, "no lookup of "+pattern, nil, tracep.KindDNS)
}

// RequireOnlyNames fails t if a name matching none of the patterns was
// looked up (whatever the answer), showing the offending lookups.
func (c *Capture) RequireOnlyNames(t testing.TB, patterns ...string) {
	t.Helper()
	var bad []tracep.Event
	for _, ev := range c.Of(tracep.KindDNS) {
		if !slices.ContainsFunc(patterns, func(p string) bool { return MatchName(p, ev.DNS.Name) }) {
			bad = append(bad, ev)
		}
	}
	if len(bad) > 0 {
		fail(t, "lookups outside the allowed names %q:\n%s", patterns, formatEvents(bad))
		return
	}
	c.requireComplete(t, fmt.Sprintf("only the names %q", patterns), nil, tracep.KindDNS)
}

// dnsAbout renders what of the DNS events matters to a failure about the
// names matching pattern: their lookups, or, when there were none, the
// names that were looked up, with their query types. notAsked begins the
// second form.
func (c *Capture) dnsAbout(pattern, notAsked string) string {
	if found := c.Lookups(pattern); len(found) > 0 {
		return fmt.Sprintf("the lookups of %s were:\n%s", tracep.Escape(pattern), formatEvents(found))
	}
	evs := c.Of(tracep.KindDNS)
	if len(evs) == 0 {
		return notAsked + "there were no DNS events (lookups through a local socket to systemd-resolved or nscd are not DNS packets of the program)\n"
	}
	types := map[string][]string{}
	for _, ev := range evs {
		name := tracep.CanonicalName(ev.DNS.Name)
		types[name] = append(types[name], ev.DNS.Type)
	}
	var b strings.Builder
	b.WriteString(notAsked + "the names looked up were:\n")
	for _, name := range c.Names() {
		ts := slices.Compact(slices.Sorted(slices.Values(types[name])))
		fmt.Fprintf(&b, "  %s (%s)\n", tracep.EscapeDNS(name), tracep.EscapeDNS(strings.Join(ts, ", ")))
	}
	return b.String()
}

// withTerms renders extra matcher terms of an assertion for its message.
func withTerms(terms []string) string {
	if len(terms) == 0 {
		return ""
	}
	return " (" + strings.Join(terms, " ") + ")"
}
