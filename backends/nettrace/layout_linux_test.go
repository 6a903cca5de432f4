package nettrace

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// The hand-written decoder offsets must match the C layout, which bpf2go
// mirrors in netNetRec.
func TestRecordLayoutMatchesBPF(t *testing.T) {
	require.Equal(t, uintptr(recSize), unsafe.Sizeof(netNetRec{}))
	require.Equal(t, map[string]int{
		"Ktime": offKtime, "Cookie": offCookie, "DurationNs": offDuration,
		"BytesSent": offBytesSent, "BytesReceived": offBytesReceived,
		"Owner.CgroupId": offCgroupID, "Owner.Pid": offPID, "Owner.Tid": offTID,
		"Owner.Ppid": offPPID, "Owner.Uid": offUID, "Owner.Comm": offComm,
		"Op": offOp, "Proto": offProto, "Dir": offDir, "State": offState,
		"Family": offFamily, "Flags": offFlags, "Err": offErr,
		"Sport": offSport, "Dport": offDport, "Saddr": offSaddr, "Daddr": offDaddr,
	}, bpfcore.FieldOffsets(netNetRec{}))
}
