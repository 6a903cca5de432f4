package testscripts_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/testscripts"
)

// TestREADME keeps README.md in step with the command and condition tables.
func TestREADME(t *testing.T) {
	want := testscripts.README()
	if update() {
		require.NoError(t, os.WriteFile("README.md", []byte(want), 0o644))
	}
	got, err := os.ReadFile("README.md")
	require.NoError(t, err)
	require.Equal(t, want, string(got), "README.md is stale: run go test ./testscripts -run TestREADME -update")
}
