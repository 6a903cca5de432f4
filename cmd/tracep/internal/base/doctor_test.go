package base

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/tracep/tracetest"
)

// doctor runs tracep doctor with args and returns its exit status and
// output.
func doctor(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := Run(context.Background(), append([]string{"doctor"}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDoctorUsage(t *testing.T) {
	code, out, _ := doctor(t, "-h")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "usage: tracep doctor [-j]")
	code, _, stderr := doctor(t, "extra")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, `unexpected argument "extra"`)
}

// On this machine, as root, every tracer works and doctor exits 0; its
// JSON says the same.
func TestIntegrationDoctorAllWork(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep doctor's tracers")
	code, out, stderr := doctor(t)
	require.Equal(t, ExitOK, code, "%s%s", out, stderr)
	for _, line := range []string{"kernel ", "BTF ", "cgroup2 ", "tracefs ", "capabilities ", "features\n", "tracers\n"} {
		require.Contains(t, out, line)
	}
	for _, k := range backends.Kinds() {
		require.Regexp(t, `(?m)^  `+string(k)+` +works \(needs CAP_`, out)
	}
	require.NotContains(t, out, "does not")

	code, out, _ = doctor(t, "-j")
	require.Equal(t, ExitOK, code)
	var d backends.Diagnosis
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	require.True(t, d.AllWork())
	require.Len(t, d.Tracers, len(backends.Kinds()))
	require.Equal(t, "yes", d.Cgroup.Commands)
	require.Equal(t, 1, strings.Count(out, "\n"), "one JSON object")
}

// A kernel feature missing (here disabled) is named, with the Linux version
// that brought it, for every tracer that needs it; a feature with a
// fallback leaves the tracer working.
func TestIntegrationDoctorNamesFeature(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep doctor's tracers")
	t.Setenv("TRACEP_DISABLE", "cgroup_skb,uprobe_multi")
	code, out, _ := doctor(t)
	require.Equal(t, ExitError, code, out)
	require.Regexp(t, `(?m)^  dns +does not, because trace dns: needs cgroup packet hooks \(cgroup_skb\) \(Linux 4\.10\), disabled by TRACEP_DISABLE, to fix: unset TRACEP_DISABLE`, out)
	require.Regexp(t, `(?m)^  disabled +uprobe_multi .*; using one perf event per uprobe`, out)
	for _, k := range []string{"exec", "net", "tls"} {
		require.Regexp(t, `(?m)^  `+k+` +works`, out)
	}
}
