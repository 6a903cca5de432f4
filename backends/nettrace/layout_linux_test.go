package nettrace

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The hand-written decoder offsets must match the C layout, which bpf2go
// mirrors in netNetRec.
func TestRecordLayoutMatchesBPF(t *testing.T) {
	var r netNetRec
	require.Equal(t, uintptr(recSize), unsafe.Sizeof(r))
	offsets := map[string]uintptr{}
	typ := reflect.TypeFor[netNetRec]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.Name != "_" {
			offsets[f.Name] = f.Offset
		}
	}
	owner := reflect.TypeOf(r.Owner)
	for i := range owner.NumField() {
		if f := owner.Field(i); f.Name != "_" {
			offsets["Owner."+f.Name] = offsets["Owner"] + f.Offset
		}
	}
	delete(offsets, "Owner")
	require.Equal(t, map[string]uintptr{
		"Ktime": offKtime, "Cookie": offCookie, "DurationNs": offDuration,
		"BytesSent": offBytesSent, "BytesReceived": offBytesReceived,
		"Owner.CgroupId": offCgroupID, "Owner.Pid": offPID, "Owner.Tid": offTID,
		"Owner.Ppid": offPPID, "Owner.Uid": offUID, "Owner.Comm": offComm,
		"Op": offOp, "Proto": offProto, "Dir": offDir, "State": offState,
		"Family": offFamily, "Flags": offFlags, "Err": offErr,
		"Sport": offSport, "Dport": offDport, "Saddr": offSaddr, "Daddr": offDaddr,
	}, offsets)
}
