package testscripts_test

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/cmd/tracep/cli"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/testscripts"
)

// update is go test's -update, which package harness registers, or
// TRACEP_UPDATE_GOLDEN=1: rewrite README.md and the scripts' golden
// sections.
func update() bool { return harness.Updating() }

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"tracep": cli.Main})
}

// The project's scripts run exactly as a user's would: through Setup.
func TestScripts(t *testing.T) {
	p := testscript.Params{
		Dir:                 ".",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       update(),
	}
	require.NoError(t, testscripts.Setup(&p))
	testscript.Run(t, p)
}
