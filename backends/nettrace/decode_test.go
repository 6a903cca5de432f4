package nettrace

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// rec builds a raw record the way the BPF programs lay it out.
type rec struct {
	ktime, cookie, duration, sent, received uint64
	proc                                    tracep.Proc
	op, proto, dir, state                   byte
	family, flags                           uint16
	err                                     int32
	sport, dport                            uint16
	saddr, daddr                            []byte
}

func (r rec) bytes() []byte {
	b := make([]byte, recSize)
	le.PutUint64(b[offKtime:], r.ktime)
	le.PutUint64(b[offCookie:], r.cookie)
	le.PutUint64(b[offDuration:], r.duration)
	le.PutUint64(b[offBytesSent:], r.sent)
	le.PutUint64(b[offBytesReceived:], r.received)
	procFields.Put(b, r.proc)
	b[offOp], b[offProto], b[offDir], b[offState] = r.op, r.proto, r.dir, r.state
	le.PutUint16(b[offFamily:], r.family)
	le.PutUint16(b[offFlags:], r.flags)
	le.PutUint32(b[offErr:], uint32(r.err))
	le.PutUint16(b[offSport:], r.sport)
	le.PutUint16(b[offDport:], r.dport)
	copy(b[offSaddr:offSaddr+16], r.saddr)
	copy(b[offDaddr:offDaddr+16], r.daddr)
	return b
}

func v4(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
func v6(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }

// connect4 is a typical record: curl connecting to 192.0.2.10:443.
func connect4() rec {
	return rec{
		ktime: 123456789, cookie: 42,
		proc: tracep.Proc{PID: 1000, TID: 1001, PPID: 999, Comm: "curl", CgroupID: 7},
		op:   opConnect, proto: protoTCP, dir: dirOut,
		family: afInet, sport: 40000, dport: 443,
		saddr: v4("10.0.0.1"), daddr: v4("192.0.2.10"),
	}
}

func TestDecode(t *testing.T) {
	ap := netip.MustParseAddrPort
	proc := tracep.Proc{PID: 1000, TID: 1001, PPID: 999, Comm: "curl", CgroupID: 7}
	// Each case changes connect4's record and the event it decodes to.
	tests := []struct {
		name string
		rec  func(*rec)
		want func(*tracep.Net)
	}{
		{"tcp connect v4", func(*rec) {}, func(*tracep.Net) {}},
		{"tcp connect v6",
			func(r *rec) { r.family, r.saddr, r.daddr = afInet6, v6("2001:db8::1"), v6("2001:db8::10") },
			func(n *tracep.Net) { n.Src, n.Dst = ap("[2001:db8::1]:40000"), ap("[2001:db8::10]:443") }},
		{"v4-mapped addresses are unmapped",
			func(r *rec) { r.family, r.saddr, r.daddr = afInet6, v6("::ffff:127.0.0.1"), v6("::ffff:127.0.0.2") },
			func(n *tracep.Net) { n.Src, n.Dst = ap("127.0.0.1:40000"), ap("127.0.0.2:443") }},
		{"connect failed before any packet",
			func(r *rec) { r.err, r.sport, r.saddr = 101, 0, v4("0.0.0.0") },
			func(n *tracep.Net) { n.Errno, n.Src = "ENETUNREACH", ap("0.0.0.0:0") }},
		{"accept",
			func(r *rec) {
				r.op, r.dir = opAccept, dirIn
				r.saddr, r.sport, r.daddr, r.dport = v4("192.0.2.99"), 51000, v4("10.0.0.1"), 8080
			},
			func(n *tracep.Net) {
				n.Op, n.Dir, n.Src, n.Dst = "accept", "in", ap("192.0.2.99:51000"), ap("10.0.0.1:8080")
			}},
		{"accept without owner", // the event's Proc is zero
			func(r *rec) { r.op, r.dir, r.flags = opAccept, dirIn, flagNoOwner },
			func(n *tracep.Net) { n.Op, n.Dir = "accept", "in" }},
		{"udp send from the wildcard",
			func(r *rec) {
				r.op, r.proto = opSend, protoUDP
				r.saddr, r.sport, r.daddr, r.dport = v4("0.0.0.0"), 53000, v4("127.0.0.1"), 53
			},
			func(n *tracep.Net) {
				n.Op, n.Proto, n.Src, n.Dst = "send", "udp", ap("0.0.0.0:53000"), ap("127.0.0.1:53")
			}},
		{"state",
			func(r *rec) { r.op, r.state = opState, 1 },
			func(n *tracep.Net) { n.Op, n.State = "state", "ESTABLISHED" }},
		{"unknown state number",
			func(r *rec) { r.op, r.state = opState, 200 },
			func(n *tracep.Net) { n.Op, n.State = "state", "STATE200" }},
		{"close with duration, bytes and errno",
			func(r *rec) { r.op, r.duration, r.sent, r.received, r.err = opClose, 1500000000, 120, 4096, 111 },
			func(n *tracep.Net) {
				n.Op, n.Errno, n.Duration, n.BytesSent, n.BytesReceived = "close", "ECONNREFUSED", 1500*time.Millisecond, 120, 4096
			}},
		{"udp close of an unconnected socket has no destination",
			func(r *rec) {
				r.op, r.proto, r.flags, r.duration = opClose, protoUDP, flagNoDst, 5
				r.saddr, r.daddr, r.dport = v4("0.0.0.0"), nil, 0
			},
			func(n *tracep.Net) {
				n.Op, n.Proto, n.Duration, n.Src, n.Dst = "close", "udp", 5, ap("0.0.0.0:40000"), netip.AddrPort{}
			}},
		{"huge duration saturates",
			func(r *rec) { r.op, r.duration = opClose, 1<<63+5 },
			func(n *tracep.Net) { n.Op, n.Duration = "close", time.Duration(1<<63-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := connect4()
			tt.rec(&r)
			ev, err := Decode(r.bytes())
			require.NoError(t, err)
			want := tracep.Net{Op: "connect", Proto: "tcp", Dir: "out", Src: ap("10.0.0.1:40000"), Dst: ap("192.0.2.10:443")}
			tt.want(&want)
			wantProc := proc
			if r.flags&flagNoOwner != 0 {
				wantProc = tracep.Proc{}
			}
			require.Equal(t, tracep.Event{Kind: tracep.KindNet, KTime: 123456789, Proc: wantProc, Net: &want}, ev)
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name string
		b    func() []byte
	}{
		{"empty", func() []byte { return nil }},
		{"short", func() []byte { return connect4().bytes()[:recSize-1] }},
		{"long", func() []byte { return append(connect4().bytes(), 0) }},
		{"op 0", func() []byte { r := connect4(); r.op = 0; return r.bytes() }},
		{"op 6", func() []byte { r := connect4(); r.op = 6; return r.bytes() }},
		{"proto icmp", func() []byte { r := connect4(); r.proto = 1; return r.bytes() }},
		{"dir 3", func() []byte { r := connect4(); r.dir = 3; return r.bytes() }},
		{"family unix", func() []byte { r := connect4(); r.family = 1; return r.bytes() }},
		{"unknown flag", func() []byte { r := connect4(); r.flags = 4; return r.bytes() }},
		{"negative errno", func() []byte { r := connect4(); r.err = -1; return r.bytes() }},
		{"state 0", func() []byte { r := connect4(); r.op = opState; return r.bytes() }},
		{"no destination on a connect", func() []byte { r := connect4(); r.flags = flagNoDst; return r.bytes() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.b())
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// A decoded event survives the JSON lines schema unchanged, the unconnected
// UDP close (no destination) included.
func TestDecodeJSONRoundTrip(t *testing.T) {
	r := connect4()
	r.op, r.proto, r.flags = opClose, protoUDP, flagNoDst
	for _, b := range [][]byte{connect4().bytes(), r.bytes()} {
		ev, err := Decode(b)
		require.NoError(t, err)
		ev.Schema = tracep.SchemaVersion
		ev.Time = time.Unix(1700000000, 0).UTC()
		js, err := json.Marshal(ev)
		require.NoError(t, err)
		var back tracep.Event
		require.NoError(t, json.Unmarshal(js, &back))
		require.Equal(t, ev, back)
	}
}

func TestStateName(t *testing.T) {
	require.Equal(t, "SYN_SENT", StateName(2))
	require.Equal(t, "CLOSE", StateName(7))
	require.Equal(t, "STATE0", StateName(0))
	require.Equal(t, "STATE99", StateName(99))
}

// layout names the decoder's offsets after the fields of the C record,
// as bpf2go names them (see TestRecordLayoutMatchesBPF).
var layout = map[string]int{
	"Ktime": offKtime, "Cookie": offCookie, "DurationNs": offDuration,
	"BytesSent": offBytesSent, "BytesReceived": offBytesReceived,
	"Owner.CgroupId": offCgroupID, "Owner.Pid": offPID, "Owner.Tid": offTID,
	"Owner.Ppid": offPPID, "Owner.Uid": offUID, "Owner.Comm": offComm,
	"Op": offOp, "Proto": offProto, "Dir": offDir, "State": offState,
	"Family": offFamily, "Flags": offFlags, "Err": offErr,
	"Sport": offSport, "Dport": offDport, "Saddr": offSaddr, "Daddr": offDaddr,
}
