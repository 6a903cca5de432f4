package exectrace

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// The hand-written decoder offsets must match the C layout, which bpf2go
// mirrors in execExecRec.
func TestRecordLayoutMatchesBPF(t *testing.T) {
	var r execExecRec
	require.Equal(t, uintptr(recHeaderSize), unsafe.Sizeof(r))
	offsets := make(map[string]uintptr)
	typ := reflect.TypeFor[execExecRec]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.Name != "_" {
			offsets[f.Name] = f.Offset
		}
	}
	require.Equal(t, map[string]uintptr{
		"Ktime": offKtime, "Type": offType, "Pid": offPID, "Tid": offTID,
		"Ppid": offPPID, "Uid": offUID, "Flags": offFlags, "CgroupId": offCgroupID,
		"Comm": offComm, "FilenameLen": offFilenameLen, "ArgvLen": offArgvLen,
		"ArgvSize": offArgvSize, "Status": offStatus, "RuntimeNs": offRuntime,
	}, offsets)
	require.Len(t, r.Comm, bpfcore.CommLen)
	var b execExecBuf
	require.Equal(t, filenameMax+MaxArgvLimit, len(b.Data))
}
