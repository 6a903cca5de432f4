package exectrace

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// The hand-written decoder offsets must match the C layout, which bpf2go
// mirrors in execExecRec.
func TestRecordLayoutMatchesBPF(t *testing.T) {
	require.NoError(t, bpfcore.CheckLayout(execExecRec{}, recHeaderSize, layout))
	var b execExecBuf
	require.Equal(t, filenameMax+pieceMax, len(b.Data))
}
