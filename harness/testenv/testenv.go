package testenv

import (
	"errors"
	"os"
	"testing"
)

// RequirePrivilegedEnv names the environment variable that turns skips for
// missing privileges into failures; CI sets it to 1 so that a privileged
// test can never pass by skipping.
const RequirePrivilegedEnv = "TRACEP_REQUIRE_PRIVILEGED"

// PrivilegeRequired reports whether RequirePrivilegedEnv is set to 1.
func PrivilegeRequired() bool { return os.Getenv(RequirePrivilegedEnv) == "1" }

// SkipUnlessRoot skips t, naming what needs root, unless the test runs as
// root; under TRACEP_REQUIRE_PRIVILEGED=1 it fails instead.
func SkipUnlessRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	skipOrFail(t, what+" needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN and CAP_NET_ADMIN)")
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

func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if PrivilegeRequired() {
		t.Fatalf("%s, and %s=1", reason, RequirePrivilegedEnv)
	}
	t.Skip(reason)
}
