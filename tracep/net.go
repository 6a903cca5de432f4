package tracep

import (
	"fmt"
	"net/netip"
	"time"
)

// Net operations.
const (
	NetOpConnect = "connect" // an outbound TCP connect or connected UDP socket
	NetOpAccept  = "accept"  // an inbound TCP connection accepted
	NetOpSend    = "send"    // the first UDP datagram of an unconnected flow
	NetOpState   = "state"   // a TCP state change
	NetOpClose   = "close"   // the flow ended
)

// Directions of a flow.
const (
	DirOut     = "out"
	DirIn      = "in"
	DirUnknown = "unknown"
)

// Net is the payload of a KindNet event.
type Net struct {
	Op    string         `json:"op"`
	Proto string         `json:"proto"` // "tcp" or "udp"
	Dir   string         `json:"dir"`
	Src   netip.AddrPort `json:"src"`
	Dst   netip.AddrPort `json:"dst"`
	// State is the TCP state after a state change, e.g. "ESTABLISHED".
	State string `json:"state,omitempty"`
	// Duration is the lifetime of a closed flow.
	Duration time.Duration `json:"duration_ns,omitempty"`
	// BytesSent and BytesReceived count payload bytes where the hooks allow.
	BytesSent     uint64 `json:"bytes_sent,omitempty"`
	BytesReceived uint64 `json:"bytes_received,omitempty"`
	// Errno is the symbolic error of a failed connect, e.g. "ECONNREFUSED".
	Errno string `json:"errno,omitempty"`
}

// Kind is KindNet.
func (n *Net) Kind() Kind { return KindNet }

// Arrow is the mark of the flow's direction: → outbound, ← inbound (Src is
// then the peer), ↔ unknown.
func (n *Net) Arrow() string {
	switch n.Dir {
	case DirOut:
		return "→"
	case DirIn:
		return "←"
	}
	return "↔"
}

// Text: "connect tcp 10.0.0.2:40000 → 192.0.2.10:443",
// "close tcp 10.0.0.2:40000 → 192.0.2.10:443 after 0.012s tx=75 rx=1380",
// with the state or errno at the end when there is one.
func (n *Net) Text() string {
	s := fmt.Sprintf("%s %s %s %s %s", n.Op, n.Proto, AddrText(n.Src), n.Arrow(), AddrText(n.Dst))
	if n.Op == NetOpClose {
		s += fmt.Sprintf(" after %.3fs", n.Duration.Seconds())
		if n.BytesSent > 0 || n.BytesReceived > 0 {
			s += fmt.Sprintf(" tx=%d rx=%d", n.BytesSent, n.BytesReceived)
		}
	}
	return n.suffix(s)
}

// Stable leaves out the port the kernel chose (the local one of an outbound
// flow, the peer's of an inbound one), durations and sizes; a TCP state
// change has no stable form, since it follows the peer's packets.
func (n *Net) Stable() string {
	if n.Op == NetOpState {
		return ""
	}
	var s string
	if n.Dir == DirIn {
		// Src is the peer: keep its address, not its port.
		peer := NoValue
		if n.Src.IsValid() {
			peer = n.Src.Addr().String()
		}
		s = fmt.Sprintf("%s %s %s ← %s", n.Op, n.Proto, peer, AddrText(n.Dst))
	} else {
		s = fmt.Sprintf("%s %s %s %s", n.Op, n.Proto, n.Arrow(), AddrText(n.Dst))
	}
	return n.suffix(s)
}

func (n *Net) suffix(s string) string {
	if n.State != "" {
		s += " " + n.State
	}
	if n.Errno != "" {
		s += " " + n.Errno
	}
	return s
}

// IsAction: a flow was opened or taken: connects, accepts and the first
// datagram of an unconnected socket, not its state changes or its close.
func (n *Net) IsAction() bool {
	return n.Op == NetOpConnect || n.Op == NetOpAccept || n.Op == NetOpSend
}

// DerivedKeys: none; the JSON fields are the keys.
func (n *Net) DerivedKeys(func(key, value string)) {}

// Incomplete: a flow event is always whole.
func (n *Net) Incomplete() string { return "" }

// AuditKeys: protocol, direction and destination.
func (n *Net) AuditKeys() []string { return []string{"proto", "dir", "dst"} }

// CutKeys: none.
func (n *Net) CutKeys() []string { return nil }

// Place puts the event with its socket's other events.
func (n *Net) Place() (Place, string) { return PlaceFlow, "" }
