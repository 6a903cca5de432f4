package testnet

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/tracep/tracep/tracep"
)

// Zone is the data the DNS server is authoritative for, keyed by domain
// name. Keys are case-insensitive and may end in a dot. Names that are not
// in the zone are answered with NXDOMAIN.
type Zone map[string]Record

// Record is everything the zone says about one name.
type Record struct {
	// Addrs are answered as A (IPv4) and AAAA (IPv6) records. When a Net
	// serves the zone, every non-loopback address here is added to lo.
	Addrs []netip.Addr
	// CNAME makes the name an alias. Queries for any other type are
	// answered with the whole chain, ending with the target's records.
	CNAME string
	// TXT strings are answered as one TXT record each (at most 255 bytes).
	TXT []string
	// MX records, answered in order.
	MX []MX
	// RCode, when not success, is answered instead of any records:
	// dnsmessage.RCodeNameError is NXDOMAIN, RCodeServerFailure is SERVFAIL.
	RCode dnsmessage.RCode
	// TruncateUDP answers UDP queries for this name (or a chain through it)
	// with TC set and no records, so clients retry over TCP.
	TruncateUDP bool
	// TTL of the answers; zero means 60 seconds.
	TTL uint32

	// The rest makes the server misbehave, for tests of what clients and
	// tracers make of it. Each applies to queries for this very name.

	// Mangle, when set, rewrites each packed answer before it is sent
	// (network is "udp" or "tcp"): tests use it to serve malformed
	// messages. It must not keep resp.
	Mangle func(resp []byte, network string) []byte
	// CutTCP, when positive, has a TCP answer announce its whole length
	// but sends only its first CutTCP octets, then closes the connection.
	CutTCP int
	// HoldUDP holds back the UDP answers to queries of these types until
	// a TCP query for the name arrives, and sends them then: too late for
	// a client that gave up on UDP. glibc does when one of its parallel A
	// and AAAA answers is truncated: it closes its UDP socket and asks
	// both again over TCP. A UDP query read after that TCP query is
	// answered at once: the answer is as late.
	HoldUDP []dnsmessage.Type
	// HoldTCP answers a TCP query only once the client has closed its end
	// of the connection: an answer that arrives after the client gave up.
	HoldTCP bool
}

// MX is one mail exchanger.
type MX struct {
	Pref uint16
	Host string
}

// Names and addresses of the default zone and sites.
const (
	// PKIHost serves the CA certificates over HTTP; the AIA URLs point at it.
	PKIHost = "pki.test"
	// RootURL is the caIssuers URL in the intermediate certificate.
	RootURL = "http://" + PKIHost + "/root.crt"
	// IntermediateURL is the caIssuers URL in every leaf certificate.
	IntermediateURL = "http://" + PKIHost + "/intermediate.crt"
)

// DefaultZone returns a fresh copy of the zone a nil Config serves:
//
//	example.test       A 192.0.2.10, AAAA 2001:db8::10, TXT, MX 10 mail.example.test
//	www.example.test   CNAME example.test
//	cname.test         CNAME www.example.test (a chain of two)
//	mail.example.test  A 192.0.2.11
//	pki.test           A 192.0.2.20, AAAA 2001:db8::20
//	self-signed.test   A 192.0.2.30, AAAA 2001:db8::30
//	aia.test           A 192.0.2.40, AAAA 2001:db8::40
//	tc.test            A 192.0.2.50, AAAA 2001:db8::50, truncated over UDP
//	v4.test            A 192.0.2.60 only
//	v6.test            AAAA 2001:db8::60 only
//	nxdomain.test      NXDOMAIN
//	servfail.test      SERVFAIL
//
// The result may be changed and passed as Config.Zone.
func DefaultZone() Zone {
	a := netip.MustParseAddr
	return Zone{
		"example.test": {
			Addrs: []netip.Addr{a("192.0.2.10"), a("2001:db8::10")},
			TXT:   []string{"v=testnet1 hello from example.test"},
			MX:    []MX{{Pref: 10, Host: "mail.example.test"}},
		},
		"www.example.test":  {CNAME: "example.test"},
		"cname.test":        {CNAME: "www.example.test"},
		"mail.example.test": {Addrs: []netip.Addr{a("192.0.2.11")}},
		PKIHost:             {Addrs: []netip.Addr{a("192.0.2.20"), a("2001:db8::20")}},
		"self-signed.test":  {Addrs: []netip.Addr{a("192.0.2.30"), a("2001:db8::30")}},
		"aia.test":          {Addrs: []netip.Addr{a("192.0.2.40"), a("2001:db8::40")}},
		"tc.test":           {Addrs: []netip.Addr{a("192.0.2.50"), a("2001:db8::50")}, TruncateUDP: true},
		"v4.test":           {Addrs: []netip.Addr{a("192.0.2.60")}},
		"v6.test":           {Addrs: []netip.Addr{a("2001:db8::60")}},
		"nxdomain.test":     {RCode: dnsmessage.RCodeNameError},
		"servfail.test":     {RCode: dnsmessage.RCodeServerFailure},
	}
}

// canonicalName lower-cases a domain name and drops the trailing dot.
func canonicalName(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// compile checks a zone and returns a copy keyed by canonical name.
func (z Zone) compile() (map[string]Record, error) {
	out := make(map[string]Record, len(z))
	for name, r := range z {
		key := canonicalName(name)
		if !validName(key) {
			return nil, fmt.Errorf("testnet: zone: name %q: %w", name, tracep.ErrInvalid)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("testnet: zone: name %q given twice: %w", name, tracep.ErrInvalid)
		}
		for _, t := range r.TXT {
			if len(t) > 255 {
				return nil, fmt.Errorf("testnet: zone: %s: TXT string longer than 255 bytes: %w", key, tracep.ErrInvalid)
			}
		}
		for _, a := range r.Addrs {
			if !a.IsValid() {
				return nil, fmt.Errorf("testnet: zone: %s: invalid address: %w", key, tracep.ErrInvalid)
			}
		}
		r.Addrs = unmapAll(r.Addrs)
		var targets []string
		if r.CNAME != "" {
			r.CNAME = canonicalName(r.CNAME)
			targets = append(targets, r.CNAME)
		}
		r.MX = slices.Clone(r.MX)
		r.HoldUDP = slices.Clone(r.HoldUDP)
		if r.CutTCP < 0 {
			return nil, fmt.Errorf("testnet: zone: %s: CutTCP %d: %w", key, r.CutTCP, tracep.ErrInvalid)
		}
		for i := range r.MX {
			r.MX[i].Host = canonicalName(r.MX[i].Host)
			targets = append(targets, r.MX[i].Host)
		}
		for _, t := range targets {
			if !validName(t) {
				return nil, fmt.Errorf("testnet: zone: %s: bad target %q: %w", key, t, tracep.ErrInvalid)
			}
		}
		if r.TTL == 0 {
			r.TTL = 60
		}
		out[key] = r
	}
	return out, nil
}

// validName reports whether a canonical name packs: labels of 1 to 63
// bytes, 253 bytes in all (RFC 1035 2.3.4).
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

// addrs returns the zone's non-loopback addresses, without duplicates:
// the ones a Net must add to lo so that connections to them stay inside.
func (z Zone) addrs() []netip.Addr {
	var out []netip.Addr
	for _, r := range z {
		out = append(out, r.Addrs...)
	}
	return localAddrs(out)
}

// localAddrs unmaps, drops loopback and unspecified addresses (lo has them
// already) and duplicates.
func localAddrs(addrs []netip.Addr) []netip.Addr {
	seen := make(map[netip.Addr]bool)
	var out []netip.Addr
	for _, a := range unmapAll(addrs) {
		if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func unmapAll(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = a.Unmap()
	}
	return out
}
