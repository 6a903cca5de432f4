package dnstrace

import "encoding/binary"

// encodeRecord is decodeRecord's inverse, for tests and fuzzing.
func encodeRecord(r record) []byte {
	b := make([]byte, recHeaderSize+len(r.Payload))
	le := binary.LittleEndian
	le.PutUint64(b[offKTime:], r.KTime)
	le.PutUint64(b[offCookie:], r.Cookie)
	procFields.Put(b, r.Owner)
	le.PutUint32(b[offSeq:], r.Seq)
	le.PutUint32(b[offLen:], r.Len)
	le.PutUint32(b[offCapLen:], uint32(len(r.Payload)))
	le.PutUint16(b[offSport:], r.Src.Port())
	le.PutUint16(b[offDport:], r.Dst.Port())
	if r.Src.Addr().Is4() {
		b[offFamily] = 4
		a, d := r.Src.Addr().As4(), r.Dst.Addr().As4()
		copy(b[offSaddr:], a[:])
		copy(b[offDaddr:], d[:])
	} else {
		b[offFamily] = 6
		a, d := r.Src.Addr().As16(), r.Dst.Addr().As16()
		copy(b[offSaddr:], a[:])
		copy(b[offDaddr:], d[:])
	}
	b[offProto] = r.Proto
	b[offDir] = dirIngress
	if r.Egress {
		b[offDir] = dirEgress
	}
	if r.NoOwner {
		b[offFlags] = recNoOwner
	}
	b[offTCPFlags] = r.TCPFlags
	copy(b[recHeaderSize:], r.Payload)
	return b
}

// layout names the decoder's offsets after the fields of the C record,
// as bpf2go names them (see TestRecordLayoutMatchesBPF).
var layout = map[string]int{
	"Ktime": offKTime, "Cookie": offCookie, "Owner.CgroupId": offCgroupID, "Owner.Pid": offPID,
	"Owner.Tid": offTID, "Owner.Ppid": offPPID, "Owner.Uid": offUID, "Owner.Comm": offComm,
	"Seq": offSeq, "Len": offLen, "Caplen": offCapLen, "Sport": offSport, "Dport": offDport,
	"Family": offFamily, "Proto": offProto, "Dir": offDir, "Flags": offFlags,
	"TcpFlags": offTCPFlags, "Saddr": offSaddr, "Daddr": offDaddr,
}
