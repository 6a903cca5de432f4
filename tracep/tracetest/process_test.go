//go:build unix

package tracetest

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnprivilegedCommand(t *testing.T) {
	SkipUnlessRoot(t, "switching users")
	cmd := UnprivilegedCommand(t, "-test.run=^TestHelperUID$")
	cmd.Env = append(os.Environ(), "TRACETEST_HELPER=uid")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), fmt.Sprintf("uid %d\n", NobodyUID))
}

func TestHelperUID(t *testing.T) {
	if os.Getenv("TRACETEST_HELPER") != "uid" {
		t.Skip("run by TestUnprivilegedCommand")
	}
	fmt.Printf("uid %d\n", os.Geteuid())
}

func TestCPUTime(t *testing.T) {
	before := CPUTime(t)
	x := 0
	for i := range 10_000_000 {
		x += i
	}
	require.NotZero(t, x)
	require.GreaterOrEqual(t, CPUTime(t), before)
}
