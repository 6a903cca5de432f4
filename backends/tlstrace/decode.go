package tlstrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Layout of struct tls_rec in bpf/tls.bpf.c, little-endian (the programs
// are built for x86). A record is the header followed by data_len bytes.
const (
	offKtime    = 0
	offCgroupID = 8
	offConn     = 16
	offLen      = 24
	offType     = 32
	offPID      = 36
	offTID      = 40
	offPPID     = 44
	offUID      = 48
	offLib      = 52
	offFn       = 56
	offFlags    = 60
	offDataLen  = 64
	offCookie   = 72
	offNetns    = 80
	offFamily   = 84
	offSport    = 86
	offDport    = 88
	offSaddr    = 92
	offDaddr    = 108
	offComm     = 128
	// recHeaderSize is sizeof(struct tls_rec).
	recHeaderSize = 144
)

// procFields is where a record keeps the process that caused it.
var procFields = bpfcore.ProcFields{PID: offPID, TID: offTID, PPID: offPPID, UID: offUID, CgroupID: offCgroupID, Comm: offComm}

// Record types (TLSX_REC_*).
const (
	recData  = 1
	recSNI   = 2
	recHello = 3
	recFree  = 4
)

// Record flags (TLSX_F_*).
const (
	flagRX    = 1 << 0
	flagFault = 1 << 1
	flagAddr  = 1 << 2
)

// Address families of the record's socket.
const (
	afInet  = 2
	afInet6 = 10
)

// ErrMalformed is returned for a record that cannot be parsed.
var ErrMalformed = errors.New("malformed tls record")

var le = binary.LittleEndian

// record is one raw record, parsed.
type record struct {
	typ   uint32
	ktime uint64
	proc  tracep.Proc
	conn  uint64
	len   uint64
	lib   string
	fn    fnID
	flags uint32
	// cookie, netns, src and dst are the socket's cookie, network
	// namespace, and local and peer addresses (when flags has flagAddr).
	cookie   uint64
	netns    uint32
	src, dst netip.AddrPort
	// data aliases the raw record.
	data []byte
}

// parseRecord parses a raw record. It never panics, whatever rec holds.
func parseRecord(rec []byte) (record, error) {
	if len(rec) < recHeaderSize {
		return record{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformed, len(rec), recHeaderSize)
	}
	dataLen := uint64(le.Uint32(rec[offDataLen:]))
	if want := recHeaderSize + dataLen; uint64(len(rec)) != want {
		return record{}, fmt.Errorf("%w: %d bytes, header says %d", ErrMalformed, len(rec), want)
	}
	r := record{
		typ:   le.Uint32(rec[offType:]),
		ktime: le.Uint64(rec[offKtime:]),
		proc:  procFields.Proc(rec),
		conn:  le.Uint64(rec[offConn:]),
		len:   le.Uint64(rec[offLen:]),
		fn:    fnID(le.Uint32(rec[offFn:])),
		flags: le.Uint32(rec[offFlags:]),
		data:  rec[recHeaderSize:],
	}
	if le.Uint32(rec[offFn:]) > 0xff {
		return record{}, fmt.Errorf("%w: function %d", ErrMalformed, le.Uint32(rec[offFn:]))
	}
	r.lib = libName(le.Uint32(rec[offLib:]))
	if r.lib == "" {
		return record{}, fmt.Errorf("%w: library %d", ErrMalformed, le.Uint32(rec[offLib:]))
	}
	if r.flags&flagAddr != 0 {
		r.cookie, r.netns = le.Uint64(rec[offCookie:]), le.Uint32(rec[offNetns:])
		sport, dport := le.Uint16(rec[offSport:]), le.Uint16(rec[offDport:])
		switch le.Uint16(rec[offFamily:]) {
		case afInet:
			r.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rec[offSaddr:offSaddr+4])), sport)
			r.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rec[offDaddr:offDaddr+4])), dport)
		case afInet6:
			// A dual-stack socket's IPv4 peers come as v4-mapped addresses.
			r.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(rec[offSaddr:offSaddr+16])).Unmap(), sport)
			r.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(rec[offDaddr:offDaddr+16])).Unmap(), dport)
		default:
			return record{}, fmt.Errorf("%w: address family %d", ErrMalformed, le.Uint16(rec[offFamily:]))
		}
	}
	switch r.typ {
	case recData:
		if r.len < dataLen {
			return record{}, fmt.Errorf("%w: %d bytes of data for a call of %d", ErrMalformed, dataLen, r.len)
		}
	case recSNI, recFree:
		if r.typ == recFree && dataLen != 0 {
			return record{}, fmt.Errorf("%w: free record with data", ErrMalformed)
		}
	case recHello:
		if r.flags&flagAddr == 0 {
			return record{}, fmt.Errorf("%w: ClientHello without its socket", ErrMalformed)
		}
	default:
		return record{}, fmt.Errorf("%w: type %d", ErrMalformed, r.typ)
	}
	return r, nil
}
