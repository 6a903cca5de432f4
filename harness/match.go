package harness

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tracep/tracep/tracep"
)

// A Matcher selects events: those of Kind (any kind when empty) for which
// every term holds. It is the shared vocabulary of Go tests, scripts and
// policies.
//
// A term is key=glob or key!=glob. Keys are the JSON field names of the
// event's payload ("filename", "argv", "errno" for exec), of its process
// ("pid", "ppid", "comm", "uid") and dotted paths into nested objects
// ("answers.data"); a field holding a list matches when any element does.
// A pattern that is an address prefix, such as 127.0.0.0/8, 10.0.0.0/8:443
// or [2001:db8::/32]:443, matches addresses (and "addr:port" values) by
// CIDR instead, with the port when one is given.
// DNS names ("name") and TLS server names ("sni") are compared in lower
// case without a trailing dot; "text" is a TLS event's plaintext as text.
// Two keys are derived for exec events: "prog", the base name of the
// executed file, and "args", the whole argv shell-quoted and joined by
// spaces. In a glob, * matches any run of characters (slashes included) and
// ? any one character; everything else is literal.
type Matcher struct {
	Kind  tracep.Kind
	Terms []Term
}

// Term is one condition of a Matcher.
type Term struct {
	Key     string
	Pattern string
	Negate  bool // key!=glob

	addr netip.Addr // a bare address for an address key: any port
}

// String renders t as written.
func (t Term) String() string {
	if t.Negate {
		return t.Key + "!=" + t.Pattern
	}
	return t.Key + "=" + t.Pattern
}

// ParseMatcher parses "kind term..." or "term..." (any kind), with terms
// separated by spaces, e.g. "exec prog=curl args=*example.test*".
func ParseMatcher(s string) (Matcher, error) {
	fields, err := splitFields(s)
	if err != nil {
		return Matcher{}, err
	}
	return ParseMatcherArgs(fields)
}

// MustMatcher is ParseMatcher that panics on a bad matcher, for matchers
// written in code.
func MustMatcher(s string) Matcher {
	m, err := ParseMatcher(s)
	if err != nil {
		panic(err)
	}
	return m
}

// splitFields splits s at spaces outside quotes; single quotes keep
// everything literally, double quotes allow \" and \\ inside:
// args='/usr/bin/id -u' is one field.
func splitFields(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inField := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inField {
				out = append(out, cur.String())
				cur.Reset()
				inField = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q: %w", s, tracep.ErrInvalid)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inField = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q: %w", s, tracep.ErrInvalid)
			}
			inField = true
		default:
			cur.WriteByte(c)
			inField = true
		}
	}
	if inField {
		out = append(out, cur.String())
	}
	return out, nil
}

// ParseMatcherArgs is ParseMatcher for arguments already split, as script
// commands receive them; a term may then contain spaces.
func ParseMatcherArgs(args []string) (Matcher, error) {
	var m Matcher
	if len(args) > 0 && !strings.Contains(args[0], "=") {
		k, err := tracep.ParseKind(args[0])
		if err != nil {
			return m, err
		}
		m.Kind, args = k, args[1:]
	}
	for _, a := range args {
		key, pat, ok := strings.Cut(a, "=")
		if !ok || key == "" || key == "!" {
			return m, fmt.Errorf("matcher term %q: want key=glob or key!=glob: %w", a, tracep.ErrInvalid)
		}
		t := Term{Key: key, Pattern: pat}
		if k, found := strings.CutSuffix(key, "!"); found {
			t.Key, t.Negate = k, true
		}
		if err := t.check(m.Kind); err != nil {
			return m, err
		}
		m.Terms = append(m.Terms, t)
	}
	return m, nil
}

// String renders m in the form ParseMatcher reads.
func (m Matcher) String() string {
	var parts []string
	if m.Kind != "" {
		parts = append(parts, string(m.Kind))
	}
	for _, t := range m.Terms {
		parts = append(parts, t.String())
	}
	return strings.Join(parts, " ")
}

// Match reports whether ev satisfies m.
func (m Matcher) Match(ev tracep.Event) bool {
	if m.Kind != "" && ev.Kind != m.Kind {
		return false
	}
	if len(m.Terms) == 0 {
		return true
	}
	fields := Fields(ev)
	for _, t := range m.Terms {
		pattern := t.Pattern
		if t.Key == "name" || t.Key == "sni" {
			pattern = tracep.CanonicalName(pattern) // as the values are
		}
		any := false
		for _, v := range fields[t.Key] {
			if t.addr.IsValid() && sameAddr(t.addr, v) || !t.addr.IsValid() && matchValue(pattern, v) {
				any = true
				break
			}
		}
		if any == t.Negate {
			return false
		}
	}
	return true
}

// MayMatch reports whether m could match ev were ev whole: it is Match,
// except that for an event cut short (see tracep.Payload.Incomplete) the
// terms on the keys that may miss a part are taken to hold.
func (m Matcher) MayMatch(ev tracep.Event) bool {
	p := ev.Payload()
	if p == nil || p.Incomplete() == "" {
		return m.Match(ev)
	}
	cut := p.CutKeys()
	m.Terms = slices.DeleteFunc(slices.Clone(m.Terms), func(t Term) bool { return slices.Contains(cut, t.Key) })
	return m.Match(ev)
}

// Find returns the events of c that m matches.
func (c *Capture) Find(m Matcher) []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.Events {
		if m.Match(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// Unmatched returns the actions (see tracep.Payload.IsAction) of the
// matchers' kinds that no matcher matches: what an "only these" assertion
// rejects. The matchers must name their kind.
func Unmatched(evs []tracep.Event, ms ...Matcher) []tracep.Event {
	var out []tracep.Event
	for _, ev := range evs {
		if !ev.IsAction() || !slices.ContainsFunc(ms, func(m Matcher) bool { return m.Kind == ev.Kind }) {
			continue
		}
		if !slices.ContainsFunc(ms, func(m Matcher) bool { return m.Match(ev) }) {
			out = append(out, ev)
		}
	}
	return out
}

// Fields flattens ev into the keys a Matcher sees, each with its values as
// text. The result is sorted by nothing; use FieldNames for a stable list.
func Fields(ev tracep.Event) map[string][]string {
	out := map[string][]string{}
	flatten(out, "", toAny(ev.Proc))
	out["kind"] = []string{string(ev.Kind)}
	if p := ev.Payload(); p != nil {
		flatten(out, "", toAny(p))
		derived := map[string][]string{}
		p.DerivedKeys(func(k, v string) { derived[k] = append(derived[k], v) })
		for k, v := range derived {
			out[k] = v // a derived key replaces the JSON field of its name
		}
	}
	return out
}

// FieldNames returns the sorted keys of Fields(ev).
func FieldNames(ev tracep.Event) []string {
	f := Fields(ev)
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// toAny goes through JSON so that keys are exactly the schema's names.
func toAny(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func flatten(out map[string][]string, prefix string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(out, key, e)
		}
	case []any:
		for _, e := range x {
			flatten(out, prefix, e)
		}
	case string:
		out[prefix] = append(out[prefix], x)
	case float64:
		out[prefix] = append(out[prefix], strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		out[prefix] = append(out[prefix], strconv.FormatBool(x))
	case nil:
	}
}

// matchValue matches one field value: by CIDR when the pattern is a prefix
// (optionally with a port) and the value an address, else by Glob.
func matchValue(pattern, v string) bool {
	if strings.Contains(pattern, "/") {
		if prefix, port, err := parseCIDR(pattern); err == nil {
			return matchCIDR(prefix, port, v)
		}
	}
	return Glob(pattern, v)
}

// sameAddr reports whether the value v, an address or address:port, is at
// addr (on any port).
func sameAddr(addr netip.Addr, v string) bool {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap() == addr
	}
	a, err := netip.ParseAddr(v)
	return err == nil && a.Unmap() == addr
}

func matchCIDR(prefix netip.Prefix, port, v string) bool {
	var addr netip.Addr
	vport := ""
	if ap, err := netip.ParseAddrPort(v); err == nil {
		addr, vport = ap.Addr(), strconv.Itoa(int(ap.Port()))
	} else if a, err := netip.ParseAddr(v); err == nil {
		addr = a
	} else {
		return false
	}
	addr = addr.Unmap() // a v4-mapped address matches its IPv4 prefix
	if !prefix.Contains(addr) {
		return false
	}
	return port == "" || port == vport
}

// Glob reports whether s matches pattern, where * matches any run of
// characters (including /) and ? any single character.
func Glob(pattern, s string) bool {
	// Iterative matcher with backtracking to the last star: linear in
	// practice and never exponential.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
