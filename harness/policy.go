package harness

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
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
			return nil, fmt.Errorf("policy line %d: %w", n, err)
		}
		switch fields[0] {
		case "allow", "deny":
			if len(fields) < 2 {
				return nil, fmt.Errorf("policy line %d: %s needs a kind: %w", n, fields[0], tracep.ErrInvalid)
			}
			m, err := ParseMatcherArgs(fields[1:])
			if err != nil {
				return nil, fmt.Errorf("policy line %d: %w", n, err)
			}
			if m.Kind == "" {
				return nil, fmt.Errorf("policy line %d: %q does not start with a kind: %w", n, line, tracep.ErrInvalid)
			}
			p.Rules = append(p.Rules, Rule{Line: n, Allow: fields[0] == "allow", Matcher: m, Text: line})
		case "require":
			if len(fields) != 2 || (fields[1] != RequireConnectFromDNS && fields[1] != RequireSNIFromDNS) {
				return nil, fmt.Errorf("policy line %d: want require %s or require %s: %w", n, RequireConnectFromDNS, RequireSNIFromDNS, tracep.ErrInvalid)
			}
			p.Requires = append(p.Requires, fields[1])
		default:
			return nil, fmt.Errorf("policy line %d: unknown word %q (want allow, deny or require): %w", n, fields[0], tracep.ErrInvalid)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return p, nil
}

// ReadPolicyFile reads a policy from a file.
func ReadPolicyFile(name string) (*Policy, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := ParsePolicy(f)
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
	fmt.Fprintf(&b, "%s\n    reason: %s", Describe(v.Event), v.Reason)
	if len(v.Chain) > 0 {
		var parts []string
		for _, p := range v.Chain {
			parts = append(parts, fmt.Sprintf("%s[%d]", tracep.Escape(p.Comm), p.PID))
		}
		fmt.Fprintf(&b, "\n    process: %s", strings.Join(parts, " ← "))
	}
	return b.String()
}

// judged reports whether a policy looks at ev at all.
func judged(ev tracep.Event) bool {
	switch {
	case ev.Exec != nil:
		return ev.Exec.Op == tracep.ExecOpExec
	case ev.Net != nil:
		switch ev.Net.Op {
		case tracep.NetOpConnect, tracep.NetOpAccept, tracep.NetOpSend:
			return true
		}
		return false
	case ev.DNS != nil:
		return true
	case ev.TLS != nil:
		return ev.TLS.Op == tracep.TLSOpHandshake || ev.TLS.Op == tracep.TLSOpWrite
	}
	return false
}

// Check judges every event of evs and returns the violations, in order.
func (p *Policy) Check(evs []tracep.Event) []Violation {
	ruled := map[tracep.Kind]bool{}
	for _, r := range p.Rules {
		ruled[r.Matcher.Kind] = true
	}
	tree := newProcTree(evs)
	var out []Violation
	for _, ev := range evs {
		if !judged(ev) || !ruled[ev.Kind] {
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
func connectsFromDNS(evs []tracep.Event, tree *procTree) []Violation {
	answered := map[netip.Addr]string{}
	var out []Violation
	for _, ev := range evs {
		switch {
		case ev.DNS != nil:
			for _, a := range ev.DNS.Answers {
				if addr, err := netip.ParseAddr(a.Data); err == nil {
					answered[addr.Unmap()] = ev.DNS.Name
				}
			}
		case ev.Net != nil && ev.Net.Dir == tracep.DirOut && (ev.Net.Op == tracep.NetOpConnect || ev.Net.Op == tracep.NetOpSend):
			dst := ev.Net.Dst
			if dst.Port() == 53 {
				continue
			}
			if _, ok := answered[dst.Addr().Unmap()]; !ok {
				out = append(out, Violation{Event: ev, Reason: fmt.Sprintf("%s: no DNS answer in this trace gave %s (a hard-coded address, or a lookup the trace did not see)", RequireConnectFromDNS, dst.Addr()), Chain: tree.chain(ev.Proc)})
			}
		}
	}
	return out
}

// sniFromDNS finds TLS server names that were never looked up.
func sniFromDNS(evs []tracep.Event, tree *procTree) []Violation {
	looked := map[string]bool{}
	var out []Violation
	for _, ev := range evs {
		switch {
		case ev.DNS != nil:
			looked[canonicalName(ev.DNS.Name)] = true
			for _, a := range ev.DNS.Answers {
				if a.Type == "CNAME" {
					looked[canonicalName(a.Data)] = true
				}
			}
		case ev.TLS != nil && ev.TLS.Op == tracep.TLSOpHandshake && ev.TLS.SNI != "":
			if !looked[canonicalName(ev.TLS.SNI)] {
				out = append(out, Violation{Event: ev, Reason: fmt.Sprintf("%s: server name %s was not looked up in this trace", RequireSNIFromDNS, tracep.Escape(ev.TLS.SNI)), Chain: tree.chain(ev.Proc)})
			}
		}
	}
	return out
}

func canonicalName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// RequirePolicy fails t if the capture violates p, printing each violation
// with its process chain and the rule it broke, and the events of the kinds
// involved.
func (c *Capture) RequirePolicy(t testing.TB, p *Policy) {
	t.Helper()
	vs := p.Check(c.Events)
	if len(vs) == 0 {
		return
	}
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
	t.Fatal(b.String())
}

// procTree knows each traced process's parent, from the events' Proc.
type procTree struct {
	procs map[int32]tracep.Proc
}

func newProcTree(evs []tracep.Event) *procTree {
	t := &procTree{procs: map[int32]tracep.Proc{}}
	for _, ev := range evs {
		if ev.Proc.PID == 0 {
			continue
		}
		// The latest exec names the process best; keep the first ppid.
		p, ok := t.procs[ev.Proc.PID]
		if !ok || (ev.Exec != nil && ev.Exec.Op == tracep.ExecOpExec) {
			if ok && p.PPID != 0 {
				ev.Proc.PPID = p.PPID
			}
			t.procs[ev.Proc.PID] = ev.Proc
		}
	}
	return t
}

// chain returns p and its traced ancestors, innermost first. p keeps the
// comm it had at the event; ancestors are named by their latest exec.
func (t *procTree) chain(p tracep.Proc) []tracep.Proc {
	if p.PID == 0 {
		return nil
	}
	if q, ok := t.procs[p.PID]; ok && p.PPID == 0 {
		p.PPID = q.PPID
	}
	out := []tracep.Proc{p}
	seen := map[int32]bool{p.PID: true}
	for ppid := p.PPID; ppid != 0 && !seen[ppid]; {
		q, ok := t.procs[ppid]
		if !ok {
			break
		}
		seen[ppid] = true
		out = append(out, q)
		ppid = q.PPID
	}
	return out
}

// Audit writes a policy that allows exactly what evs did: a starting point
// to review and tighten, not a proof that the program needs no more.
func Audit(w io.Writer, evs []tracep.Event) error {
	seen := map[string]bool{}
	var lines []string
	add := func(l string) {
		if !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	for _, ev := range evs {
		if !judged(ev) {
			continue
		}
		switch {
		case ev.Exec != nil:
			add("allow exec filename=" + quoteTerm(ev.Exec.Filename))
		case ev.Net != nil:
			add(fmt.Sprintf("allow net proto=%s dir=%s dst=%s", ev.Net.Proto, ev.Net.Dir, ev.Net.Dst))
		case ev.DNS != nil:
			add(fmt.Sprintf("allow dns name=%s type=%s", quoteTerm(canonicalName(ev.DNS.Name)), ev.DNS.Type))
		case ev.TLS != nil && ev.TLS.SNI != "":
			add("allow tls sni=" + quoteTerm(canonicalName(ev.TLS.SNI)))
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return kindOrder(lines[i]) < kindOrder(lines[j]) })
	_, err := fmt.Fprintf(w, "# Suggested by tracep from one observed run: what the program did, not\n# all it may need. Review, then tighten with globs and prefixes.\n%s\n", strings.Join(lines, "\n"))
	return err
}

func kindOrder(line string) int {
	for i, k := range []string{"exec", "dns", "net", "tls"} {
		if strings.HasPrefix(line, "allow "+k) {
			return i
		}
	}
	return 9
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
