package harness

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// A Policy says what a traced program may do. It is a list of rules read
// from a file, one per line:
//
//	# comment
//	allow exec prog=sh
//	allow dns name=*.example.test
//	allow net dst=192.0.2.0/24:443
//	deny  net proto=udp dst!=*:53
//	require connect-from-dns
//	require sni-from-dns
//
// Each event that a policy judges is checked against the rules in order;
// the first rule whose matcher (see Matcher) matches it decides. An event
// of a kind that has at least one rule and that no rule matches is denied;
// a kind with no rules is not judged at all. Only the events that say what
// the program did are judged: successful execs (not failed execs or exits),
// connects, accepts and first datagrams (not state changes or closes), DNS
// queries, and TLS handshakes and writes.
//
// DNS names are compared in lower case without a trailing dot. In a name
// pattern * matches any run of characters, dots included: *.example.test
// matches a.example.test and a.b.example.test but not example.test itself,
// and a single-label pattern such as localhost matches only that name, never
// localhost.<search domain>: search-list expansion happens in the resolver,
// and the policy sees the names that were really asked.
//
// The requirements check relations no single event shows:
//
//   - connect-from-dns: every outbound connection and datagram went to an
//     address that an earlier DNS answer of the trace gave, except DNS
//     traffic itself (port 53). It catches hard-coded addresses and
//     programs that bypass the resolver.
//   - sni-from-dns: every TLS server name was looked up in the trace.
type Policy struct {
	Rules    []Rule
	Requires []string
}

// Rule is one allow or deny line of a Policy.
type Rule struct {
	Line    int  // 1-based line in the policy file
	Allow   bool // allow or deny
	Matcher Matcher
	Text    string // the line as written
}

// Requirements that ParsePolicy accepts.
const (
	RequireConnectFromDNS = "connect-from-dns"
	RequireSNIFromDNS     = "sni-from-dns"
)

// ParsePolicy reads a policy. Errors name the line and wrap tracep.ErrInvalid.
func ParsePolicy(r io.Reader) (*Policy, error) {
	p := &Policy{}
	s := bufio.NewScanner(r)
	n := 0
	for s.Scan() {
		n++
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i]) // a trailing comment
		}
		if line == "" {
			continue
		}
		fields, err := splitFields(line)
		if err != nil {
			return nil, lineErr(n, err)
		}
		switch fields[0] {
		case "allow", "deny":
			if len(fields) < 2 {
				return nil, lineErr(n, fmt.Errorf("%s needs a kind: %w", fields[0], tracep.ErrInvalid))
			}
			m, err := ParseMatcherArgs(fields[1:])
			if err != nil {
				return nil, lineErr(n, err)
			}
			if m.Kind == "" {
				return nil, lineErr(n, fmt.Errorf("%q does not start with a kind: %w", line, tracep.ErrInvalid))
			}
			p.Rules = append(p.Rules, Rule{Line: n, Allow: fields[0] == "allow", Matcher: m, Text: line})
		case "require":
			if len(fields) != 2 || (fields[1] != RequireConnectFromDNS && fields[1] != RequireSNIFromDNS) {
				return nil, lineErr(n, fmt.Errorf("want require %s or require %s: %w", RequireConnectFromDNS, RequireSNIFromDNS, tracep.ErrInvalid))
			}
			p.Requires = append(p.Requires, fields[1])
		default:
			return nil, lineErr(n, fmt.Errorf("unknown word %q (want allow, deny or require): %w", fields[0], tracep.ErrInvalid))
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	if len(p.Rules) == 0 && len(p.Requires) == 0 {
		// An empty policy would allow everything: surely not what was meant.
		return nil, &PolicyError{Err: fmt.Errorf("no rules (an empty policy would allow everything): %w", tracep.ErrInvalid)}
	}
	return p, nil
}

// PolicyError is a policy that cannot be read: where, and why. It wraps
// tracep.ErrInvalid.
type PolicyError struct {
	File string // set by ReadPolicyFile
	Line int    // 1-based; 0 for the whole policy
	Err  error
}

func (e *PolicyError) Error() string {
	where := e.File
	switch {
	case e.File != "" && e.Line > 0:
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	case e.Line > 0:
		where = fmt.Sprintf("policy line %d", e.Line)
	case e.File == "":
		where = "policy"
	}
	return where + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *PolicyError) Unwrap() error { return e.Err }

func lineErr(n int, err error) error { return &PolicyError{Line: n, Err: err} }

// ReadPolicyFile reads a policy from a file.
func ReadPolicyFile(name string) (*Policy, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := ParsePolicy(f)
	var pe *PolicyError
	if errors.As(err, &pe) {
		pe.File = name
		return nil, pe
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Violation is one event a policy did not allow.
type Violation struct {
	Event tracep.Event
	// Rule is the deny rule that matched, or nil when no rule matched (or a
	// requirement failed).
	Rule *Rule
	// Reason says why, in words.
	Reason string
	// Chain is the process and its ancestors in the trace, innermost first.
	Chain []tracep.Proc
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n    reason: %s", v.Event, v.Reason)
	if len(v.Chain) > 0 {
		var parts []string
		for _, p := range v.Chain {
			parts = append(parts, p.String())
		}
		fmt.Fprintf(&b, "\n    process: %s", strings.Join(parts, " ← "))
	}
	return b.String()
}

// Verdict is what a policy says of a trace.
type Verdict struct {
	// Violations are the events the policy does not allow, in order.
	Violations []Violation
	// Incomplete, when not nil, matches tracep.ErrIncomplete: the trace
	// lost events, or cut one short, where a violation could hide. A
	// clean verdict needs a complete trace.
	Incomplete error
}

// Clean reports whether the policy holds: no violation, and a trace
// complete enough to say so.
func (v Verdict) Clean() bool { return len(v.Violations) == 0 && v.Incomplete == nil }

// Judge checks evs against the policy and says whether the trace was
// complete enough for a clean verdict: no events lost of a kind the policy
// looks at, and no event cut short in a part one of its rules looks at.
func (p *Policy) Judge(evs []tracep.Event) Verdict {
	v := Verdict{Violations: p.Check(evs)}
	kinds := p.kinds()
	var hiding []tracep.Event
	for _, ev := range evs {
		pl := ev.Payload()
		if pl == nil || !ev.IsAction() || pl.Incomplete() == "" || !slices.Contains(kinds, ev.Kind) {
			continue
		}
		if slices.ContainsFunc(p.Rules, func(r Rule) bool {
			return r.Matcher.Kind == ev.Kind && slices.ContainsFunc(r.Matcher.Terms, func(t Term) bool { return slices.Contains(pl.CutKeys(), t.Key) })
		}) {
			hiding = append(hiding, ev)
		}
	}
	if len(kinds) > 0 {
		v.Incomplete = incomplete(Gaps(evs, kinds...), hiding)
	}
	return v
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

// Check judges every event of evs and returns the violations, in order.
// It does not look at whether the trace is complete: Judge does.
func (p *Policy) Check(evs []tracep.Event) []Violation {
	ruled := map[tracep.Kind]bool{}
	for _, r := range p.Rules {
		ruled[r.Matcher.Kind] = true
	}
	tree := newProcessTree(evs)
	var out []Violation
	for _, ev := range evs {
		if !ev.IsAction() || !ruled[ev.Kind] {
			continue
		}
		decided := false
		for i := range p.Rules {
			r := &p.Rules[i]
			if !r.Matcher.Match(ev) {
				continue
			}
			decided = true
			if !r.Allow {
				out = append(out, Violation{Event: ev, Rule: r, Reason: fmt.Sprintf("denied by line %d: %s", r.Line, r.Text), Chain: tree.chain(ev.Proc)})
			}
			break
		}
		if !decided {
			out = append(out, Violation{Event: ev, Reason: fmt.Sprintf("no rule allows this %s event", ev.Kind), Chain: tree.chain(ev.Proc)})
		}
	}
	for _, req := range p.Requires {
		switch req {
		case RequireConnectFromDNS:
			out = append(out, connectsFromDNS(evs, tree)...)
		case RequireSNIFromDNS:
			out = append(out, sniFromDNS(evs, tree)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Event.Seq < out[j].Event.Seq })
	return out
}

// connectsFromDNS finds outbound flows to addresses no earlier DNS answer gave.
func connectsFromDNS(evs []tracep.Event, tree *processTree) []Violation {
	answered := map[netip.Addr]bool{}
	var out []Violation
	for _, ev := range evs {
		if ev.DNS != nil {
			for _, a := range ev.DNS.Addrs() {
				answered[a] = true
			}
		}
		n := ev.Net
		if n == nil || n.Dir != tracep.DirOut || !ev.IsAction() || n.Dst.Port() == 53 {
			continue
		}
		if dst := n.Dst.Addr().Unmap(); !answered[dst] {
			out = append(out, Violation{Event: ev, Reason: fmt.Sprintf("%s: no DNS answer in this trace gave %s (a hard-coded address, or a lookup the trace did not see)", RequireConnectFromDNS, dst), Chain: tree.chain(ev.Proc)})
		}
	}
	return out
}

// sniFromDNS finds TLS server names that were never looked up.
func sniFromDNS(evs []tracep.Event, tree *processTree) []Violation {
	looked := map[string]bool{}
	var out []Violation
	for _, ev := range evs {
		if ev.DNS != nil {
			looked[tracep.CanonicalName(ev.DNS.Name)] = true
			for _, a := range ev.DNS.Answers {
				if a.Type == "CNAME" {
					looked[tracep.CanonicalName(a.Data)] = true
				}
			}
		}
		x := ev.TLS
		if x == nil || x.Op != tracep.TLSOpHandshake || x.SNI == "" || looked[tracep.CanonicalName(x.SNI)] {
			continue
		}
		out = append(out, Violation{Event: ev, Reason: fmt.Sprintf("%s: server name %s was not looked up in this trace", RequireSNIFromDNS, tracep.Escape(x.SNI)), Chain: tree.chain(ev.Proc)})
	}
	return out
}

// RequirePolicy fails t if the capture violates p, printing each violation
// with its process chain and the rule it broke, and the events of the kinds
// involved.
func (c *Capture) RequirePolicy(t testing.TB, p *Policy) {
	t.Helper()
	v := p.Judge(c.Events)
	if len(v.Violations) == 0 {
		if v.Incomplete != nil {
			t.Fatalf("policy cannot be verified: %v", v.Incomplete)
		}
		return
	}
	vs := v.Violations
	var b strings.Builder
	fmt.Fprintf(&b, "%d policy violation(s):\n", len(vs))
	kinds := map[tracep.Kind]bool{}
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s\n", v)
		kinds[v.Event.Kind] = true
	}
	for _, k := range tracep.Kinds() {
		if kinds[k] {
			fmt.Fprintf(&b, "all %s events:\n%s", k, formatEvents(c.Of(k)))
		}
	}
	if v.Incomplete != nil {
		fmt.Fprintf(&b, "and the trace is incomplete: %v\n", v.Incomplete)
	}
	t.Fatal(b.String())
}

// Audit writes a policy that allows exactly what evs did: a starting point
// to review and tighten, not a proof that the program needs no more.
func Audit(w io.Writer, evs []tracep.Event) error {
	var kinds []tracep.Kind
	byKind := map[tracep.Kind][]string{}
	for _, ev := range evs {
		p := ev.Payload()
		if p == nil || !p.IsAction() || len(p.AuditKeys()) == 0 {
			continue
		}
		fields := Fields(ev)
		line := "allow " + string(ev.Kind)
		for _, k := range p.AuditKeys() {
			v := ""
			if vs := fields[k]; len(vs) > 0 {
				v = vs[0]
			}
			line += " " + k + "=" + quoteTerm(v)
		}
		if _, ok := byKind[ev.Kind]; !ok {
			kinds = append(kinds, ev.Kind)
		}
		if !slices.Contains(byKind[ev.Kind], line) {
			byKind[ev.Kind] = append(byKind[ev.Kind], line)
		}
	}
	var lines []string
	for _, k := range kinds { // in the order the kinds first acted
		lines = append(lines, byKind[k]...)
	}
	_, err := fmt.Fprintf(w, "# Suggested by tracep from one observed run: what the program did, not\n# all it may need. Review, then tighten with globs and prefixes.\n%s\n", strings.Join(lines, "\n"))
	return err
}

// quoteTerm keeps a value usable in a policy line: policy terms are split
// on spaces and glob characters are literal only when escaped, so values
// with either are reduced to a glob on their base name.
func quoteTerm(v string) string {
	if strings.ContainsAny(v, " \t*?#") {
		return "*" + strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t*?#", r) {
				return '?'
			}
			return r
		}, path.Base(v))
	}
	return v
}
