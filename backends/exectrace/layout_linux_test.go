package exectrace

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// The hand-written decoder offsets must match the C layout, which bpf2go
// mirrors in execExecRec.
func TestRecordLayoutMatchesBPF(t *testing.T) {
	require.Equal(t, uintptr(recHeaderSize), unsafe.Sizeof(execExecRec{}))
	require.Equal(t, map[string]int{
		"Ktime": offKtime, "Type": offType, "Pid": offPID, "Tid": offTID,
		"Ppid": offPPID, "Uid": offUID, "Flags": offFlags, "CgroupId": offCgroupID,
		"Comm": offComm, "FilenameLen": offFilenameLen, "ArgvLen": offArgvLen,
		"ArgvSize": offArgvSize, "Status": offStatus, "RuntimeNs": offRuntime,
	}, bpfcore.FieldOffsets(execExecRec{}))
	var b execExecBuf
	require.Equal(t, filenameMax+MaxArgvLimit, len(b.Data))
}
