package reexec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A test binary is an executable of its own, so it can run a helper (a C
// library cannot).
func TestCheck(t *testing.T) {
	require.NoError(t, Check("test"))
}
