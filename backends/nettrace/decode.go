package nettrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Layout of struct net_rec in bpf/net.bpf.c, little-endian (the programs
// are built for x86). Every record has this fixed size.
const (
	offKtime         = 0
	offCookie        = 8
	offDuration      = 16
	offBytesSent     = 24
	offBytesReceived = 32
	offCgroupID      = 40
	offPID           = 48
	offTID           = 52
	offPPID          = 56
	offUID           = 60
	offComm          = 64
	offOp            = 80
	offProto         = 81
	offDir           = 82
	offState         = 83
	offFamily        = 84
	offFlags         = 86
	offErr           = 88
	offSport         = 92
	offDport         = 94
	offSaddr         = 96
	offDaddr         = 112
	recSize          = 128
)

// procFields is where a record keeps the socket's owner.
var procFields = bpfcore.OwnerAt(offCgroupID)

// Record operations (TPN_OP_*).
const (
	opConnect = 1
	opAccept  = 2
	opSend    = 3
	opState   = 4
	opClose   = 5
)

// Record directions (TPN_DIR_*).
const (
	dirUnknown = 0
	dirOut     = 1
	dirIn      = 2
)

// Record flags (TPN_RF_*).
const (
	flagNoOwner = 1 << 0
	flagNoDst   = 1 << 1
	flagsKnown  = flagNoOwner | flagNoDst
)

// Address families and protocols as the kernel numbers them.
const (
	afInet     = 2
	afInet6    = 10
	protoTCP   = 6
	protoUDP   = 17
	tcpStateLo = 1
)

// ErrMalformed is returned by Decode for a record it cannot parse.
var ErrMalformed = errors.New("malformed net record")

var le = binary.LittleEndian

// Decode turns one raw record written by the net BPF programs into an
// event. It sets KTime but not Time (the caller knows the clock) nor Seq. It
// never panics, whatever rec holds.
//
// Addresses of IPv4 flows on dual-stack IPv6 sockets (v4-mapped,
// ::ffff:a.b.c.d) are reported as the IPv4 addresses they are on the wire.
// The source is the end that initiated the flow: the local end of a connect
// or a datagram sent, the remote peer of an accepted connection.
func Decode(rec []byte) (tracep.Event, error) {
	if len(rec) != recSize {
		return tracep.Event{}, fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(rec), recSize)
	}
	op, ok := opNames[rec[offOp]]
	if !ok {
		return tracep.Event{}, fmt.Errorf("%w: operation %d", ErrMalformed, rec[offOp])
	}
	var proto string
	switch rec[offProto] {
	case protoTCP:
		proto = "tcp"
	case protoUDP:
		proto = "udp"
	default:
		return tracep.Event{}, fmt.Errorf("%w: protocol %d", ErrMalformed, rec[offProto])
	}
	var dir string
	switch rec[offDir] {
	case dirOut:
		dir = tracep.DirOut
	case dirIn:
		dir = tracep.DirIn
	case dirUnknown:
		dir = tracep.DirUnknown
	default:
		return tracep.Event{}, fmt.Errorf("%w: direction %d", ErrMalformed, rec[offDir])
	}
	family := le.Uint16(rec[offFamily:])
	if family != afInet && family != afInet6 {
		return tracep.Event{}, fmt.Errorf("%w: address family %d", ErrMalformed, family)
	}
	flags := le.Uint16(rec[offFlags:])
	if flags&^flagsKnown != 0 {
		return tracep.Event{}, fmt.Errorf("%w: flags %#x", ErrMalformed, flags)
	}
	errno := int32(le.Uint32(rec[offErr:]))
	if errno < 0 {
		return tracep.Event{}, fmt.Errorf("%w: errno %d", ErrMalformed, errno)
	}

	n := &tracep.Net{
		Op:    op,
		Proto: proto,
		Dir:   dir,
		Src:   netip.AddrPortFrom(addr(family, rec[offSaddr:offSaddr+16]), le.Uint16(rec[offSport:])),
	}
	if flags&flagNoDst == 0 {
		n.Dst = netip.AddrPortFrom(addr(family, rec[offDaddr:offDaddr+16]), le.Uint16(rec[offDport:]))
	} else if op != tracep.NetOpClose {
		return tracep.Event{}, fmt.Errorf("%w: %s without a destination", ErrMalformed, op)
	}
	if errno > 0 {
		n.Errno = bpfcore.ErrnoName(int(errno))
	}
	switch op {
	case tracep.NetOpState:
		st := rec[offState]
		if st < tcpStateLo {
			return tracep.Event{}, fmt.Errorf("%w: state %d", ErrMalformed, st)
		}
		n.State = StateName(int(st))
	case tracep.NetOpClose:
		n.Duration = duration(le.Uint64(rec[offDuration:]))
		n.BytesSent = le.Uint64(rec[offBytesSent:])
		n.BytesReceived = le.Uint64(rec[offBytesReceived:])
	}

	ev := tracep.Event{
		Kind:  tracep.KindNet,
		KTime: le.Uint64(rec[offKtime:]),
		Net:   n,
	}
	if flags&flagNoOwner == 0 {
		ev.Proc = procFields.Proc(rec)
	}
	return ev, nil
}

var opNames = map[byte]string{
	opConnect: tracep.NetOpConnect,
	opAccept:  tracep.NetOpAccept,
	opSend:    tracep.NetOpSend,
	opState:   tracep.NetOpState,
	opClose:   tracep.NetOpClose,
}

// addr returns the address of family at b: 4 bytes for IPv4, 16 for IPv6,
// a v4-mapped one unmapped.
func addr(family uint16, b []byte) netip.Addr {
	if family == afInet {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}

func duration(ns uint64) time.Duration {
	if ns > math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ns)
}

// tcpStates names the kernel's TCP states (include/net/tcp_states.h).
var tcpStates = [...]string{
	1:  "ESTABLISHED",
	2:  "SYN_SENT",
	3:  "SYN_RECV",
	4:  "FIN_WAIT1",
	5:  "FIN_WAIT2",
	6:  "TIME_WAIT",
	7:  "CLOSE",
	8:  "CLOSE_WAIT",
	9:  "LAST_ACK",
	10: "LISTEN",
	11: "CLOSING",
	12: "NEW_SYN_RECV",
	13: "BOUND_INACTIVE",
}

// StateName returns the name of Linux TCP state n, e.g. "ESTABLISHED", or
// "STATEn" for a number without one.
func StateName(n int) string {
	if n > 0 && n < len(tcpStates) && tcpStates[n] != "" {
		return tcpStates[n]
	}
	return "STATE" + strconv.Itoa(n)
}
