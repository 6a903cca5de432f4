package tracep

import (
	"fmt"
	"net/netip"
	"strings"
)

// TLS operations.
const (
	TLSOpWrite     = "write"     // plaintext handed to the library (TX)
	TLSOpRead      = "read"      // plaintext returned by the library (RX)
	TLSOpHandshake = "handshake" // a handshake started, with the SNI when known
)

// TLS is the payload of a KindTLS event.
type TLS struct {
	Op       string `json:"op"`
	Library  string `json:"library,omitempty"` // "openssl", "gnutls", "go", "wire"
	Function string `json:"function,omitempty"`
	SNI      string `json:"sni,omitempty"`
	// Data is the captured plaintext (base64 in JSON); Len is the real length
	// of the call, which exceeds len(Data) when Truncated.
	Data      []byte `json:"data,omitempty"`
	Len       int    `json:"len"`
	Truncated bool   `json:"truncated,omitempty"`
	// Src and Dst are the connection's local and peer addresses, and
	// Cookie the kernel's cookie of its socket (unique while the system
	// runs): the TCP socket the library's call, or an earlier call on the
	// same connection, sent or received on. Zero when no socket was seen.
	Src    netip.AddrPort `json:"src,omitzero"`
	Dst    netip.AddrPort `json:"dst,omitzero"`
	Cookie uint64         `json:"cookie,omitempty"`
}

// Kind is KindTLS.
func (x *TLS) Kind() Kind { return KindTLS }

// Text: `tls write openssl SSL_write sni=example.test 10.0.0.2:40000 →
// 192.0.2.10:443 78 bytes "GET / HTTP/1.1"`, or for a handshake
// `tls handshake wire ClientHello sni=example.test → 192.0.2.10:443`. The
// data shown is its first line, cut at 60 bytes and escaped. Plaintext
// whose connection is not known shows "→ ?".
func (x *TLS) Text() string {
	s := fmt.Sprintf("tls %s %s %s sni=%s", x.Op, Escape(x.Library), Escape(x.Function), x.sni())
	if x.Src.IsValid() {
		s += " " + x.Src.String()
	}
	if x.Dst.IsValid() || x.Op != TLSOpHandshake {
		s += " → " + AddrText(x.Dst) // "?": the connection is not known
	}
	if x.Op == TLSOpHandshake {
		return s
	}
	s += fmt.Sprintf(" %d bytes", x.Len)
	if x.Truncated {
		s += fmt.Sprintf(" (first %d captured)", len(x.Data))
	}
	if first := FirstLine(x.Data, 60); first != "" {
		s += " " + first
	}
	return s
}

// Stable keeps the operation, library, server name and the first line of
// the data (a request or status line), without sizes and addresses.
func (x *TLS) Stable() string {
	s := fmt.Sprintf("tls %s %s sni=%s", x.Op, Escape(x.Library), Escape(CanonicalName(x.SNI)))
	if x.SNI == "" {
		s = fmt.Sprintf("tls %s %s sni=%s", x.Op, Escape(x.Library), NoValue)
	}
	if first := FirstLine(x.Data, 80); first != "" {
		s += " " + first
	}
	return s
}

func (x *TLS) sni() string {
	if x.SNI == "" {
		return NoValue
	}
	return Escape(x.SNI)
}

// FirstLine returns the first line of data, without its line end, cut at
// max bytes (with "…"), escaped and in double quotes; "" when empty.
func FirstLine(data []byte, max int) string {
	first, _, _ := strings.Cut(string(data), "\n")
	first = strings.TrimSuffix(first, "\r")
	if first == "" {
		return ""
	}
	if len(first) > max {
		first = first[:max] + "…"
	}
	return `"` + Escape(first) + `"`
}

// IsAction: a handshake (the server asked for) or data sent.
func (x *TLS) IsAction() bool { return x.Op == TLSOpHandshake || x.Op == TLSOpWrite }

// DerivedKeys: "sni" in canonical form, and "text", the plaintext as
// text (the JSON field "data" is base64).
func (x *TLS) DerivedKeys(add func(key, value string)) {
	if x.SNI != "" {
		add("sni", CanonicalName(x.SNI))
	}
	add("text", string(x.Data))
}

// Incomplete: plaintext beyond the capture limit, or plaintext whose
// connection (addresses and server name) is not known, for a pattern on
// them could not be checked.
func (x *TLS) Incomplete() string {
	switch {
	case x.Truncated:
		return fmt.Sprintf("plaintext truncated: %d of %d bytes captured", len(x.Data), x.Len)
	case x.Op != TLSOpHandshake && !x.Dst.IsValid():
		return "tls connection not known: no socket seen for this plaintext"
	}
	return ""
}

// AuditKeys: the server name, when known.
func (x *TLS) AuditKeys() []string {
	if x.SNI == "" {
		return nil
	}
	return []string{"sni"}
}

// CutKeys: the plaintext.
func (x *TLS) CutKeys() []string { return []string{"data", "text"} }

// Place puts the event with its connection, or, when none is known, with
// the other events of its library and server name.
func (x *TLS) Place() (Place, string) { return PlaceSession, x.Library + " " + CanonicalName(x.SNI) }
