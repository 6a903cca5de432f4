package tracetest

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// RequirePrivilegedEnv names the environment variable that turns skips for
// missing privileges or kernel support into failures; CI sets it to 1 so
// that a privileged test can never pass by skipping.
const RequirePrivilegedEnv = "TRACEP_REQUIRE_PRIVILEGED"

// PrivilegeRequired reports whether RequirePrivilegedEnv is set to 1.
func PrivilegeRequired() bool { return os.Getenv(RequirePrivilegedEnv) == "1" }

// SkipUnlessRoot skips t, naming what needs root, unless the test runs as
// root; under TRACEP_REQUIRE_PRIVILEGED=1 it fails instead.
func SkipUnlessRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, needsRoot(what))
	}
}

// SkipIfUnprivileged skips t when err says a privilege is missing (it
// matches os.ErrPermission); under TRACEP_REQUIRE_PRIVILEGED=1 it fails
// instead. Any other non-nil error fails t.
func SkipIfUnprivileged(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, os.ErrPermission) {
		skipOrFail(t, err.Error())
	}
	t.Fatal(err)
}

// RequireSupported skips t unless it runs as root and supported, what a
// tracer's Supported returned, is nil: a missing privilege (an error
// matching os.ErrPermission) or kernel feature (tracep.ErrNotSupported)
// skips t, or under TRACEP_REQUIRE_PRIVILEGED=1 fails it. Any other error
// fails t.
func RequireSupported(t testing.TB, supported error) {
	t.Helper()
	requireSupported(t, os.Geteuid() == 0, supported)
}

func requireSupported(t testing.TB, root bool, supported error) {
	t.Helper()
	if !root {
		skipOrFail(t, needsRoot("tracing"))
	}
	if errors.Is(supported, tracep.ErrNotSupported) {
		skipOrFail(t, supported.Error())
	}
	SkipIfUnprivileged(t, supported)
}

// RequireTool returns the path of the program name, and skips t when it is
// not installed. A missing tool is not a missing privilege: this skip
// stands under TRACEP_REQUIRE_PRIVILEGED=1 too.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return path
}

func needsRoot(what string) string {
	return what + " needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN and CAP_NET_ADMIN)"
}

// DoctorHint ends every skip or failure for a missing privilege or kernel
// feature: tracep doctor says what this host lacks and how to fix it.
const DoctorHint = "; `tracep doctor` says what this host lacks and how to fix it"

func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	reason += DoctorHint
	if PrivilegeRequired() {
		t.Fatalf("%s, and %s=1", reason, RequirePrivilegedEnv)
	}
	t.Skip(reason)
}
