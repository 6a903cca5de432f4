package envtest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep/tracetest"
)

// privilegedTest is a test that needs root, and its package.
const privilegedTest, privilegedPkg = "^TestIntegrationCgroupLifecycle$", "github.com/tracep/tracep/backends/cgroup"

// The test binary, not the go command, needs the privilege: go test -exec
// sudo and sudo -E go test run privileged tests (they pass, none skips);
// the same test binary without privilege skips them with a reason that
// points to tracep doctor, or fails them under TRACEP_REQUIRE_PRIVILEGED=1.
func TestIntegrationGoTestWithSudo(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "sudo")
	tracetest.RequireTool(t, "sudo")
	tracetest.RequireTool(t, "setpriv")
	goCmd := goTool()
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"go test -exec sudo", []string{goCmd, "test", "-exec", "sudo", "-count=1", "-v", "-run", privilegedTest, privilegedPkg}},
		// The README's form: sudo keeps TRACEP_REQUIRE_PRIVILEGED.
		{"go test -exec sudo --preserve-env", []string{goCmd, "test", "-exec", "sudo --preserve-env=" + tracetest.RequirePrivilegedEnv,
			"-count=1", "-v", "-run", privilegedTest, privilegedPkg}},
		// sudo's secure_path leaves Go out: the README's form keeps PATH.
		{"sudo -E go test", []string{"sudo", "-E", "env", "PATH=" + os.Getenv("PATH"), "go", "test", "-count=1", "-v", "-run", privilegedTest, privilegedPkg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(tc.argv[0], tc.argv[1:]...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Contains(t, string(out), "--- PASS: TestIntegrationCgroupLifecycle")
			require.NotContains(t, string(out), "--- SKIP")
		})
	}

	// The test binary as nobody, without any capability.
	wrapper := filepath.Join(t.TempDir(), "as-nobody")
	require.NoError(t, os.WriteFile(wrapper, []byte(`#!/bin/sh
d=$(mktemp -d) && chmod 755 "$d" && cp "$1" "$d/t.test" && chmod 755 "$d/t.test" || exit 1
shift
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$d/t.test" "$@"
rc=$?
rm -rf "$d"
exit $rc
`), 0o755))
	for _, require1 := range []bool{false, true} {
		cmd := exec.Command(goCmd, "test", "-exec", wrapper, "-count=1", "-v", "-run", privilegedTest, privilegedPkg)
		cmd.Env = append(os.Environ(), tracetest.RequirePrivilegedEnv+"=0")
		if require1 {
			cmd.Env = append(cmd.Env, tracetest.RequirePrivilegedEnv+"=1")
		}
		out, err := cmd.CombinedOutput()
		s := string(out)
		require.Contains(t, s, "tracep doctor", "%s", s)
		if require1 {
			require.Error(t, err)
			require.Contains(t, s, "--- FAIL: TestIntegrationCgroupLifecycle")
			continue
		}
		require.NoError(t, err, "%s", s)
		require.Contains(t, s, "--- SKIP: TestIntegrationCgroupLifecycle")
		require.False(t, strings.Contains(s, "--- PASS: TestIntegrationCgroupLifecycle"))
	}
}
