package main_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep/tracetest"
)

// tracep X -j -- CMD | jq works whatever CMD prints: the command's output
// never enters the JSON stream. Every tracing command, with a workload that
// prints plain text and does what each traces (dig, curl over HTTPS, a
// program run), in the hermetic network; and tracep ca -j.
func TestIntegrationJSONThroughJQ(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	tracetest.RequireTool(t, "jq")
	workload := `dig +short example.test; curl -sS https://example.test/; printf 'plain %s\n' text`
	// What each command's stream has for sure; run has every kind.
	for _, cmd := range []struct{ name, kind string }{
		{"exec", "exec"}, {"net", "net"}, {"dns", "dns"}, {"tls", "tls"}, {"run", "tls"},
	} {
		t.Run(cmd.name, func(t *testing.T) {
			pipeline := tracepBin + " " + cmd.name + " -j -net -- sh -c " + shellQuote(workload) + " | jq -c ."
			requireJQ(t, pipeline, `"kind":"`+cmd.kind+`"`)
		})
	}
	t.Run("ca", func(t *testing.T) {
		// tracep ca inside the hermetic network, its stdout the pipe's.
		pipeline := tracepBin + " run -Q -net -o /dev/null -- " + tracepBin + " ca -j example.test | jq -c ."
		requireJQ(t, pipeline, `"kind":"ca"`)
	})
}

// requireJQ runs a shell pipeline that ends in jq and checks that jq read
// nothing but JSON (pipefail: any stage failing fails it) and that the
// stream has want.
func requireJQ(t *testing.T, pipeline, want string) {
	t.Helper()
	cmd := exec.CommandContext(tracetest.Context(t), "bash", "-c", "set -o pipefail; "+pipeline)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s\nstderr:\n%s", pipeline, stderr.String())
	require.Contains(t, string(out), want, "stderr:\n%s", stderr.String())
	require.NotContains(t, string(out), "plain text", "the command's output is not in the stream")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
