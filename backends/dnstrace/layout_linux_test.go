package dnstrace

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// record.go's offsets match struct dns_rec as bpf2go mirrors it.
func TestRecordLayoutMatchesBPF(t *testing.T) {
	require.NoError(t, bpfcore.CheckLayout(dnsDnsRec{}, recHeaderSize, layout))
}
