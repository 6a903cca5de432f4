package base

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep/tracetest"
)

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
	if code != ExitOK {
		t.Fail()
	}
}
