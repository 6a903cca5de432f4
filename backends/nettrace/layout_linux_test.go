package nettrace

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// The hand-written decoder offsets must match the C layout, which bpf2go
// mirrors in netNetRec.
func TestRecordLayoutMatchesBPF(t *testing.T) {
	require.NoError(t, bpfcore.CheckLayout(netNetRec{}, recSize, layout))
}
