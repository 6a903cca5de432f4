package harness

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
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

// Judge checks evs, in time order, against the policy and says whether
// the trace was complete enough for a clean verdict (see Judging).
func (p *Policy) Judge(evs []tracep.Event) Verdict {
	j := p.Judging()
	for _, ev := range evs {
		j.Add(ev)
	}
	return j.Verdict()
}

// Check judges every event of evs and returns the violations, in order.
// It does not look at whether the trace is complete: Judge does.
func (p *Policy) Check(evs []tracep.Event) []Violation { return p.Judge(evs).Violations }

// RequirePolicy fails t if the capture violates p, printing each violation
// with its process chain and the rule it broke, or if the trace is too
// incomplete to show that p holds.
func (c *Capture) RequirePolicy(t testing.TB, p *Policy) {
	t.Helper()
	v := p.Judge(c.Events)
	if len(v.Violations) == 0 {
		if v.Incomplete != nil {
			fail(t, "policy cannot be verified: %v", v.Incomplete)
		}
		return
	}
	vs := v.Violations
	var b strings.Builder
	fmt.Fprintf(&b, "%d policy violation(s):\n", len(vs))
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	if v.Incomplete != nil {
		fmt.Fprintf(&b, "and the trace is incomplete: %v\n", v.Incomplete)
	}
	fail(t, "%s", b.String())
}

// Audit writes a policy that allows exactly what evs did: a starting point
// to review and tighten, not a proof that the program needs no more.
func Audit(w io.Writer, evs []tracep.Event) error {
	var a Auditor
	for _, ev := range evs {
		a.Add(ev)
	}
	_, err := a.WriteTo(w)
	return err
}

// Auditor collects the suggested policy of Audit as events come: one line
// per distinct action, whatever the length of the trace.
type Auditor struct {
	kinds  []tracep.Kind // in the order they first acted
	byKind map[tracep.Kind][]string
	seen   map[string]bool
}

// Add notes what ev did, when it is an action an audit can name.
func (a *Auditor) Add(ev tracep.Event) {
	p := ev.Payload()
	if p == nil || !p.IsAction() || len(p.AuditKeys()) == 0 {
		return
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
	if a.seen[line] {
		return
	}
	if a.seen == nil {
		a.seen, a.byKind = map[string]bool{}, map[tracep.Kind][]string{}
	}
	a.seen[line] = true
	if _, ok := a.byKind[ev.Kind]; !ok {
		a.kinds = append(a.kinds, ev.Kind)
	}
	a.byKind[ev.Kind] = append(a.byKind[ev.Kind], line)
}

// WriteTo writes the suggested policy.
func (a *Auditor) WriteTo(w io.Writer) (int64, error) {
	var lines []string
	for _, k := range a.kinds {
		lines = append(lines, a.byKind[k]...)
	}
	n, err := fmt.Fprintf(w, "# Suggested by tracep from one observed run: what the program did, not\n# all it may need. Review, then tighten with globs and prefixes.\n%s\n", strings.Join(lines, "\n"))
	return int64(n), err
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
