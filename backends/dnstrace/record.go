package dnstrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Layout of struct dns_rec in bpf/dns.bpf.c (little-endian, as the
// kernel writes it on the architectures tracep builds BPF for).
const (
	recHeaderSize = 112

	offKTime    = 0
	offCookie   = 8
	offCgroupID = 16
	offPID      = 24
	offTID      = 28
	offPPID     = 32
	offUID      = 36
	offComm     = 40
	offSeq      = 56
	offLen      = 60
	offCapLen   = 64
	offSport    = 68
	offDport    = 70
	offFamily   = 72
	offProto    = 73
	offDir      = 74
	offFlags    = 75
	offTCPFlags = 76
	offSaddr    = 80
	offDaddr    = 96

	dirEgress  = 1
	dirIngress = 2

	recNoOwner     = 1 // TPD_RF_NO_OWNER
	recUndelivered = 2 // TPD_RF_UNDELIVERED

	protoTCP = 6
	protoUDP = 17

	tcpFIN = 0x01
	tcpRST = 0x04
)

// procFields is where a record keeps the socket's owner.
var procFields = bpfcore.OwnerAt(offCgroupID)

// errRecord is matched by the errors of decodeRecord: a record the kernel
// side cannot have written, which means the two sides disagree on layout.
var errRecord = errors.New("bad dns record")

// record is one raw record of the capture: a UDP message or a TCP segment
// sent or received by a socket on a DNS port, with the socket's owner.
type record struct {
	KTime   uint64
	Cookie  uint64 // the socket's cookie, never reused
	Owner   tracep.Proc
	NoOwner bool // the socket's owner is not known
	// Undelivered marks a received packet nobody will read: its socket
	// was closed by its owner, or there is none (Cookie is then 0).
	Undelivered bool
	Seq         uint32
	// Len is the payload's length in the packet; Payload holds the first
	// octets of it, all unless the capture was cut to the snap length.
	Len      uint32
	Proto    uint8 // protoTCP or protoUDP
	Egress   bool  // sent by the socket (else received)
	TCPFlags uint8
	Src, Dst netip.AddrPort
	// Payload aliases the buffer given to decodeRecord.
	Payload []byte
}

// truncated reports whether the capture was cut short of the payload.
func (r *record) truncated() bool { return uint32(len(r.Payload)) < r.Len }

// decodeRecord decodes one raw record. It does not copy: the record's
// Payload points into b.
func decodeRecord(b []byte) (record, error) {
	if len(b) < recHeaderSize {
		return record{}, fmt.Errorf("%w: %d octets, shorter than its %d-octet header", errRecord, len(b), recHeaderSize)
	}
	le := binary.LittleEndian
	caplen := le.Uint32(b[offCapLen:])
	r := record{
		KTime:       le.Uint64(b[offKTime:]),
		Cookie:      le.Uint64(b[offCookie:]),
		Owner:       procFields.Proc(b),
		NoOwner:     b[offFlags]&recNoOwner != 0,
		Undelivered: b[offFlags]&recUndelivered != 0,
		Seq:         le.Uint32(b[offSeq:]),
		Len:         le.Uint32(b[offLen:]),
		Proto:       b[offProto],
		Egress:      b[offDir] == dirEgress,
		TCPFlags:    b[offTCPFlags],
	}
	switch {
	case uint64(caplen) != uint64(len(b)-recHeaderSize):
		return record{}, fmt.Errorf("%w: says %d payload octets, carries %d", errRecord, caplen, len(b)-recHeaderSize)
	case caplen > r.Len:
		return record{}, fmt.Errorf("%w: captured %d of a %d-octet payload", errRecord, caplen, r.Len)
	case r.Proto != protoTCP && r.Proto != protoUDP:
		return record{}, fmt.Errorf("%w: protocol %d", errRecord, r.Proto)
	case b[offDir] != dirEgress && b[offDir] != dirIngress:
		return record{}, fmt.Errorf("%w: direction %d", errRecord, b[offDir])
	}
	sport, dport := le.Uint16(b[offSport:]), le.Uint16(b[offDport:])
	switch b[offFamily] {
	case 4:
		r.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[offSaddr:offSaddr+4])), sport)
		r.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[offDaddr:offDaddr+4])), dport)
	case 6:
		r.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[offSaddr:offSaddr+16])), sport)
		r.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[offDaddr:offDaddr+16])), dport)
	default:
		return record{}, fmt.Errorf("%w: address family %d", errRecord, b[offFamily])
	}
	r.Payload = b[recHeaderSize:]
	return r, nil
}
