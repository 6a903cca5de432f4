package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "usage: tracep doctor [-j]")
	code, _, stderr := doctor(t, "extra")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `unexpected argument "extra"`)
}

// On this machine, as root, every tracer works and doctor exits 0; its
// JSON says the same.
func TestIntegrationDoctorAllWork(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep doctor's tracers")
	code, out, stderr := doctor(t)
	require.Equal(t, exitOK, code, "%s%s", out, stderr)
	for _, line := range []string{"kernel ", "BTF ", "cgroup2 ", "tracefs ", "capabilities ", "features\n", "tracers\n"} {
		require.Contains(t, out, line)
	}
	for _, k := range backends.Kinds() {
		require.Regexp(t, `(?m)^  `+string(k)+` +works \(needs CAP_`, out)
	}
	require.NotContains(t, out, "does not")

	code, out, _ = doctor(t, "-j")
	require.Equal(t, exitOK, code)
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
	require.Equal(t, exitError, code, out)
	require.Regexp(t, `(?m)^  dns +does not, because trace dns: needs cgroup packet hooks \(cgroup_skb\) \(Linux 4\.10\), disabled by TRACEP_DISABLE, to fix: unset TRACEP_DISABLE`, out)
	require.Regexp(t, `(?m)^  disabled +uprobe_multi .*; using one perf event per uprobe`, out)
	for _, k := range []string{"exec", "net", "tls"} {
		require.Regexp(t, `(?m)^  `+k+` +works`, out)
	}
}

const doctorHelperEnv = "TRACEP_DOCTOR_HELPER"

// A capability missing is named, for the tracers that need it and in the
// list of those missing; running a command without CAP_DAC_OVERRIDE says
// so, while -p still works.
func TestIntegrationDoctorNamesCapability(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "starting a process with capabilities")
	cmd := tracetest.UnprivilegedCommand(t, "-test.run=^TestHelperDoctor$", "-test.v")
	cmd.Env = append(os.Environ(), doctorHelperEnv+"=1")
	// CAP_BPF and CAP_PERFMON: what exec needs, and not net's CAP_NET_ADMIN.
	cmd.SysProcAttr.AmbientCaps = []uintptr{39, 38}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	s := string(out)
	require.Contains(t, s, "doctor exit 1\n")
	require.Contains(t, s, "held: CAP_BPF, CAP_PERFMON; missing: CAP_NET_ADMIN, ")
	require.Regexp(t, `(?m)^  net +does not, because trace net: needs CAP_NET_ADMIN \(or CAP_SYS_ADMIN\)`, s)
	require.Regexp(t, `(?m)^  exec +does not, because running a command needs a cgroup of its own: .*CAP_DAC_OVERRIDE.*\(tracing running processes \(-p\) and the whole system works\)$`, s)
}

// TestHelperDoctor is TestIntegrationDoctorNamesCapability's process.
func TestHelperDoctor(t *testing.T) {
	if os.Getenv(doctorHelperEnv) == "" {
		t.Skip("run by TestIntegrationDoctorNamesCapability")
	}
	code, out, stderr := doctor(t)
	os.Stdout.WriteString(out + stderr)
	fmt.Printf("doctor exit %d\n", code)
	if code != exitOK {
		t.Fail()
	}
}
