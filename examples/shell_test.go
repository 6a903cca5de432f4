package examples_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/cmd/tracep/cli"
	"github.com/tracep/tracep/tracep/tracetest"
)

// The test binary is also tracep, on PATH for the shell project's run
// script.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"tracep": cli.Main})
}

// The shell project's tests run as its README says: ./run-tests.sh.
func TestShellProject(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	cmd := exec.Command("./run-tests.sh", "-v")
	cmd.Dir = "shell"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run-tests.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: checksum ", "\nok\t1 script(s)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("run-tests.sh printed no %q:\n%s", want, out)
		}
	}
}
