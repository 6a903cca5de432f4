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
	require.NoError(t, bpfcore.CheckLayout(tlsTlsRec{}, recHeaderSize, layout))
	// struct tls_disc begins with the file's key (parseDiscovery).
	require.Equal(t, uintptr(32), unsafe.Sizeof(tlsTlsxFileKey{}))
}
