package tracep

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// DNS is the payload of a KindDNS event: one query, with its response when
// one arrived.
type DNS struct {
	ID        uint16         `json:"id"`
	Name      string         `json:"name"`
	Type      string         `json:"type"`                // "A", "AAAA", …, "TYPE65534"
	Transport string         `json:"transport,omitempty"` // "udp" or "tcp"
	Client    netip.AddrPort `json:"client"`
	Server    netip.AddrPort `json:"server"`
	// RCode is the response code name; empty when no response arrived.
	RCode     string      `json:"rcode,omitempty"`
	Answers   []DNSRecord `json:"answers,omitempty"`
	Truncated bool        `json:"truncated,omitempty"` // the TC bit was set
	// Answered is set when the response reached the program's socket.
	Answered bool          `json:"answered"`
	Latency  time.Duration `json:"latency_ns,omitempty"`
	// Undelivered is set, with Answered not, when a response came on the
	// wire after the client had closed its socket (a late answer, or one
	// to a query a resolver gave up on to retry over TCP): the host
	// received it, the program never read it. RCode and Answers are what
	// it said.
	Undelivered bool `json:"undelivered,omitempty"`
	// Cut says how the response was not captured or received whole: "4096
	// of 9000 octets captured (snap length)", "connection closed 3000
	// octets into a 5000-octet message", or, for a query reported without
	// an answer, why a response on its connection could not be followed.
	Cut string `json:"cut,omitempty"`
	// Malformed is the fault found in the response, which is otherwise
	// reported as far as it was decoded: "compression pointer loop at
	// offset 40 in authority record 1".
	Malformed string `json:"malformed,omitempty"`
	// AnswersIncomplete is set when Answers lacks records the response's
	// header announced, because of the cut or the fault.
	AnswersIncomplete bool `json:"answers_incomplete,omitempty"`
}

// DNSRecord is one resource record of an answer section.
type DNSRecord struct {
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  uint32 `json:"ttl"`
	// Data is the record's presentation form: an address, a name, quoted TXT strings…
	Data string `json:"data"`
}

// Kind is KindDNS.
func (d *DNS) Kind() Kind { return KindDNS }

// Outcome is the response code, NoAnswer when no response came, with " TC"
// when the response was truncated and " not delivered" when it came after
// the client closed its socket.
func (d *DNS) Outcome() string {
	s := d.RCode
	if !d.Answered && !d.Undelivered {
		s = NoAnswer
	}
	if d.Truncated {
		s += " TC"
	}
	if d.Undelivered {
		s += " not delivered"
	}
	return s
}

// responded reports whether a response was paired with the query.
func (d *DNS) responded() bool { return d.Answered || d.Undelivered }

// Text: "dns A www.example.test → NOERROR [CNAME example.test, A 192.0.2.10]
// (udp 127.0.0.1:53, 1.2ms)", "dns AAAA x.test → no answer (udp 127.0.0.1:53)",
// with what was not captured whole after the answers: "answers incomplete,
// cut: 4096 of 9000 octets captured (snap length)", "malformed:
// compression pointer loop at offset 40 in authority record 1".
func (d *DNS) Text() string {
	s := fmt.Sprintf("dns %s %s → %s", EscapeDNS(d.Type), EscapeDNS(d.Name), d.Outcome())
	if d.responded() {
		s += " [" + strings.Join(d.answerTexts(false), ", ") + "]"
	}
	if f := d.flaws(true); f != "" {
		s += " " + f
	}
	via := d.Transport
	if d.Server.IsValid() {
		via += " " + d.Server.String()
	}
	if d.responded() {
		via += fmt.Sprintf(", %v", d.Latency.Round(time.Microsecond))
	}
	return s + " (" + strings.TrimSpace(via) + ")"
}

// Stable leaves out ids, ports, the server, latency and TTLs; the name and
// answers are in canonical (lower) case and the answers sorted, since a
// server may rotate them. Flaws are named without their details.
func (d *DNS) Stable() string {
	ans := d.answerTexts(true)
	slices.Sort(ans)
	s := fmt.Sprintf("dns %s %s → %s [%s]", EscapeDNS(d.Type), EscapeDNS(CanonicalName(d.Name)), d.Outcome(), strings.Join(ans, ", "))
	if f := d.flaws(false); f != "" {
		s += " " + f
	}
	return s
}

// flaws lists what of the response was not captured or not well formed,
// with the details or without.
func (d *DNS) flaws(details bool) string {
	var out []string
	if d.AnswersIncomplete {
		out = append(out, "answers incomplete")
	}
	for _, f := range []struct{ name, detail string }{{"cut", d.Cut}, {"malformed", d.Malformed}} {
		switch {
		case f.detail == "":
		case details:
			out = append(out, f.name+": "+Escape(f.detail))
		default:
			out = append(out, f.name)
		}
	}
	return strings.Join(out, ", ")
}

func (d *DNS) answerTexts(lower bool) []string {
	out := make([]string, 0, len(d.Answers))
	for _, a := range d.Answers {
		data := a.Data
		if lower {
			data = strings.ToLower(data)
		}
		out = append(out, EscapeDNS(a.Type)+" "+EscapeDNS(data))
	}
	return out
}

// IsAction: every query is.
func (d *DNS) IsAction() bool { return true }

// DerivedKeys: "name" in canonical form, so patterns compare as DNS does.
func (d *DNS) DerivedKeys(add func(key, value string)) { add("name", CanonicalName(d.Name)) }

// Incomplete: answers the response announced but that were not captured
// (cut short, or lost to a fault in their section), or a response that
// may have come but could not be followed (Cut on a query without one).
// A fault after the answers leaves them whole.
func (d *DNS) Incomplete() string {
	why := d.Cut
	if why == "" {
		why = d.Malformed
	}
	switch {
	case d.AnswersIncomplete:
		return "dns answers incomplete: " + why
	case d.Cut != "" && !d.responded():
		return "dns response not captured: " + d.Cut
	}
	return ""
}

// AuditKeys: the name and the query type.
func (d *DNS) AuditKeys() []string { return []string{"name", "type"} }

// Addrs returns the addresses (A and AAAA data) of the answer, IPv4-mapped
// addresses unmapped.
func (d *DNS) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range d.Answers {
		if a.Type != "A" && a.Type != "AAAA" {
			continue
		}
		if addr, err := netip.ParseAddr(a.Data); err == nil {
			out = append(out, addr.Unmap())
		}
	}
	return out
}

// EscapeDNS makes a DNS name or record datum safe on a terminal. Names come
// in presentation form, where every octet outside printable ASCII is
// already written \DDD: those pass unchanged (escaping their backslashes
// again would only confuse); anything else, such as the raw octets of a
// TXT string, is escaped with Escape.
func EscapeDNS(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return Escape(s)
		}
	}
	return s
}

// CutKeys: the answer records.
func (d *DNS) CutKeys() []string {
	return []string{"answers.name", "answers.type", "answers.ttl", "answers.data"}
}

// Place groups lookups by name: parallel queries (A and AAAA) may be
// answered in any order.
func (d *DNS) Place() (Place, string) { return PlaceLookup, CanonicalName(d.Name) }
