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
	RCode     string        `json:"rcode,omitempty"`
	Answers   []DNSRecord   `json:"answers,omitempty"`
	Truncated bool          `json:"truncated,omitempty"` // the TC bit was set
	Answered  bool          `json:"answered"`
	Latency   time.Duration `json:"latency_ns,omitempty"`
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
// when the response was truncated.
func (d *DNS) Outcome() string {
	s := d.RCode
	if !d.Answered {
		s = NoAnswer
	}
	if d.Truncated {
		s += " TC"
	}
	return s
}

// Text: "dns A www.example.test → NOERROR [CNAME example.test, A 192.0.2.10]
// (udp 127.0.0.1:53, 1.2ms)", "dns AAAA x.test → no answer (udp 127.0.0.1:53)".
func (d *DNS) Text() string {
	s := fmt.Sprintf("dns %s %s → %s", EscapeDNS(d.Type), EscapeDNS(d.Name), d.Outcome())
	if d.Answered {
		s += " [" + strings.Join(d.answerTexts(false), ", ") + "]"
	}
	via := d.Transport
	if d.Server.IsValid() {
		via += " " + d.Server.String()
	}
	if d.Answered {
		via += fmt.Sprintf(", %v", d.Latency.Round(time.Microsecond))
	}
	return s + " (" + strings.TrimSpace(via) + ")"
}

// Stable leaves out ids, ports, the server, latency and TTLs; the name and
// answers are in canonical (lower) case and the answers sorted, since a
// server may rotate them.
func (d *DNS) Stable() string {
	ans := d.answerTexts(true)
	slices.Sort(ans)
	return fmt.Sprintf("dns %s %s → %s [%s]", EscapeDNS(d.Type), EscapeDNS(CanonicalName(d.Name)), d.Outcome(), strings.Join(ans, ", "))
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

// Incomplete: nothing yet is known to be missing from a DNS event.
func (d *DNS) Incomplete() string { return "" }

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
