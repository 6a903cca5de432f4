package testscripts_test

import (
	"flag"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/cmd/tracep/cli"
	"github.com/tracep/tracep/tracep/tracetest"
)

var update = flag.Bool("update", false, "rewrite README.md and the scripts' golden sections")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tracep": cli.Main,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 ".",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup:               setup,
		Condition:           condition,
		Cmds:                commandFuncs(),
	})
}

func setup(env *testscript.Env) error {
	// Scripts see the same privilege requirement as the Go tests.
	if v := os.Getenv(tracetest.RequirePrivilegedEnv); v != "" {
		env.Setenv(tracetest.RequirePrivilegedEnv, v)
	}
	env.Values[envKey{}] = env
	return nil
}

type envKey struct{}
