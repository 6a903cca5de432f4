package integration_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/bpfcore"
)

// verifierBudget is the most instructions the kernel's verifier may walk
// for one program. Its walk is most of a tracer's start-up (~2 ms per 1,000
// here), and a change to the C code can multiply it unnoticed: loop state
// kept on the stack once made the exec program 45,040 instructions (100 ms
// of every start); it is 3,034 since that state lives in map memory.
const verifierBudget = 10_000

// Every program of every tracer stays within the verifier budget.
func TestIntegrationVerifierBudget(t *testing.T) {
	var kinds []string
	forEach(t, func(t *testing.T, tr tracer) {
		bpfcore.Preload(tr.kind)
		kinds = append(kinds, string(tr.kind))
	})
	got := bpfcore.VerifiedInstructions()
	require.NotEmpty(t, got["core"], "the fork follower is not loaded")
	for _, kind := range kinds {
		require.NotEmpty(t, got[kind], "the %s tracer's programs are not loaded", kind)
	}
	for kind, progs := range got {
		for name, n := range progs {
			assert.LessOrEqual(t, n, verifierBudget, "%s program %s: verified instructions", kind, name)
			t.Logf("%s %s: %d instructions verified", kind, name, n)
		}
	}
}
