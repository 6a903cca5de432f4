package nettrace

import (
	"errors"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// is a well-formed net event.
func FuzzDecode(f *testing.F) {
	f.Add(connect4().bytes())
	r := connect4()
	r.op, r.proto, r.flags = opClose, protoUDP, flagNoDst
	f.Add(r.bytes())
	r = connect4()
	r.family, r.saddr, r.daddr = afInet6, v6("::ffff:10.0.0.1"), v6("2001:db8::1")
	f.Add(r.bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		n := ev.Net
		if ev.Kind != tracep.KindNet || n == nil {
			t.Fatalf("decoded %+v", ev)
		}
		if n.Proto != "tcp" && n.Proto != "udp" {
			t.Fatalf("proto %q", n.Proto)
		}
		if !n.Src.IsValid() || (!n.Dst.IsValid() && n.Op != tracep.NetOpClose) {
			t.Fatalf("addresses %v -> %v for %s", n.Src, n.Dst, n.Op)
		}
		if n.Src.Addr().Is4In6() || n.Dst.Addr().Is4In6() {
			t.Fatalf("v4-mapped address left mapped: %v -> %v", n.Src, n.Dst)
		}
		if n.Duration < 0 {
			t.Fatalf("negative duration %v", n.Duration)
		}
		if (n.Op == tracep.NetOpState) != (n.State != "") {
			t.Fatalf("state %q on %s", n.State, n.Op)
		}
	})
}
