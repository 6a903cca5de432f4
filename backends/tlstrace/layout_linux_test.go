package tlstrace

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// decode.go's offsets match struct tls_rec as clang laid it out (bpf2go
// generated tlsTlsRec from the object's BTF).
func TestRecordLayoutMatchesBPF(t *testing.T) {
	require.Equal(t, uintptr(recHeaderSize), unsafe.Sizeof(tlsTlsRec{}))
	require.Equal(t, map[string]int{
		"Ktime": offKtime, "CgroupId": offCgroupID, "Conn": offConn, "Len": offLen,
		"Type": offType, "Pid": offPID, "Tid": offTID, "Ppid": offPPID, "Uid": offUID,
		"Lib": offLib, "Fn": offFn, "Flags": offFlags, "Fd": offFD, "DataLen": offDataLen,
		"Addr.Netns": offNetns, "Addr.Family": offFamily, "Addr.Sport": offSport,
		"Addr.Dport": offDport, "Addr.Saddr": offSaddr, "Addr.Daddr": offDaddr,
		"Comm": offComm,
	}, bpfcore.FieldOffsets(tlsTlsRec{}))
	require.Equal(t, uintptr(16), unsafe.Sizeof(tlsTlsxFileKey{}))
}
