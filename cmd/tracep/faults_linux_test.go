package main_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/tracep/tracetest"
)

// storm is a command that never stops making events of every kind.
const storm = `while :; do /bin/true; getent hosts localhost >/dev/null; done`

// tracerCgroups lists the cgroups tracep process pid made.
func tracerCgroups(t *testing.T, pid int) []string {
	t.Helper()
	root, err := cgroup.Mount()
	require.NoError(t, err)
	dirs, err := filepath.Glob(filepath.Join(root, "tracep."+strconv.Itoa(pid)+".*"))
	require.NoError(t, err)
	return dirs
}

// `tracep exec -- CMD | head -1`: when the reader goes away, tracing stops
// as on SIGINT: the command is killed with its cgroup, and tracep exits
// 141 (as a process killed by SIGPIPE would) instead of dying mid-way.
func TestIntegrationBrokenPipe(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	cmd := exec.Command(tracepBin, "exec", "--", "sh", "-c", storm)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.NotEmpty(t, line)
	require.NoError(t, out.Close()) // head -1 exits
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	require.Equal(t, 141, ee.ExitCode(), stderr.String())
	require.Empty(t, tracerCgroups(t, cmd.Process.Pid), "no cgroup left behind")
}

// Output that cannot be written ends the trace with one line naming the
// file, exit 1; the command does not go on untraced.
func TestIntegrationOutputErrors(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	dir := t.TempDir()
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "link")))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "-o", "/dev/full", "--", "sh", "-c", storm}, "write /dev/full: no space left on device"},
		{[]string{"run", "-kinds", "exec", "-o", "/dev/full", "--", "sh", "-c", storm}, "write /dev/full: no space left on device"},
		{[]string{"exec", "-o", dir, "--", "true"}, "is a directory"},
		{[]string{"exec", "-o", filepath.Join(dir, "missing", "x"), "--", "true"}, "no such file or directory"},
		{[]string{"exec", "-o", filepath.Join(dir, "link"), "--", "true"}, "too many levels of symbolic links"},
		{[]string{"run", "-kinds", "exec", "-audit", "/dev/full", "--", "true"}, "/dev/full"},
		{[]string{"run", "-kinds", "exec", "-audit", dir, "--", "true"}, dir},
		{[]string{"run", "-kinds", "exec", "-audit", filepath.Join(dir, "missing", "x"), "--", "true"}, "no such file or directory"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(tracepBin, tc.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, 1, ee.ExitCode(), stderr.String())
			require.Contains(t, stderr.String(), tc.want)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr.String()), "\n")+1, "one line: %q", stderr.String())
			require.Empty(t, tracerCgroups(t, cmd.Process.Pid))
		})
	}
	b, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	require.NotContains(t, string(b), "exec", "nothing written through the symlink")
}

// SIGINT and SIGTERM stop every command while events pour in, in command
// and -p mode, every time: the first signal, never a second. The bound is
// a hang detector, not a speed goal (the time is logged).
func TestIntegrationSignalsStopPromptly(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	burst := exec.Command("sh", "-c", storm)
	require.NoError(t, burst.Start())
	t.Cleanup(func() { _ = burst.Process.Kill(); _ = burst.Wait() })
	pid := strconv.Itoa(burst.Process.Pid)
	for _, args := range [][]string{
		{"exec", "--"}, {"net", "--"}, {"dns", "--"}, {"tls", "--"}, {"run", "--"},
		{"exec", "-p", pid}, {"net", "-p", pid}, {"dns", "-p", pid}, {"tls", "-p", pid}, {"run", "-p", pid}, {"dns"},
	} {
		for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGINT} {
			t.Run(fmt.Sprintf("%s/%d", strings.Join(args, " "), i), func(t *testing.T) {
				var up string
				argv := args
				if args[len(args)-1] == "--" {
					// The command says when it runs, traced, and storms on.
					up = fifo(t, t.TempDir(), "up")
					argv = append(args[:len(args):len(args)], "sh", "-c", "echo up >"+up+"; "+storm)
				}
				cmd := exec.Command(plainBin, argv...)
				var stderr tracetest.Buffer
				cmd.Stderr = &stderr
				require.NoError(t, cmd.Start())
				t.Cleanup(func() { _ = cmd.Process.Kill() })
				if up != "" {
					readFifo(t, up)
				} else {
					stderr.WaitFor(t, "Ctrl-C to stop")
				}
				sent := time.Now()
				require.NoError(t, cmd.Process.Signal(sig))
				_ = cmd.Wait()
				took := time.Since(sent)
				t.Logf("stopped after %v", took)
				require.Less(t, took, 10*time.Second, "stopped after %v: %s", took, stderr.String())
				require.Empty(t, tracerCgroups(t, cmd.Process.Pid))
			})
		}
	}
}

// A setuid-root copy of tracep refuses to run: it would run any command
// as root for whoever can run it.
func TestIntegrationRefusesSetuid(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "making a setuid binary")
	dir, err := os.MkdirTemp("", "tracep-setuid-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "tracep")
	data, err := os.ReadFile(tracepBin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	require.NoError(t, os.Chmod(bin, os.ModeSetuid|0o755))
	cmd := exec.Command(bin, "run", "--", "id", "-u")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tracetest.NobodyUID, Gid: tracetest.NobodyUID}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	require.Equal(t, 1, ee.ExitCode())
	require.Equal(t, "tracep: refusing to run setuid or setgid; run it as root, or with the capabilities it needs, instead\n", string(out))
}

// waitExit waits for process pid to exit, on its pidfd (a real signal).
func waitExit(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	require.NoError(t, err)
	defer unix.Close(fd)
	deadline, _ := tracetest.Context(t).Deadline()
	ms := int(time.Until(deadline).Milliseconds())
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
	require.NoError(t, err)
	require.Equal(t, 1, n, "process %d still running", pid)
}

// A SIGKILLed tracer in command mode takes its command with it, daemons
// included: nothing runs on untraced. The next start removes the cgroup.
func TestIntegrationKilledTracerTakesCommand(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	for _, kind := range []string{"exec", "net", "dns", "tls", "run"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			up := fifo(t, dir, "up")
			script := `sleep 1000 & (setsid sleep 1000 &); echo "$$ $!" >` + up + `; wait`
			cmd := exec.Command(tracepBin, kind, "--", "sh", "-c", script)
			require.NoError(t, cmd.Start())
			b, err := os.ReadFile(up)
			require.NoError(t, err)
			var sh, child int
			_, err = fmt.Sscan(string(b), &sh, &child)
			require.NoError(t, err)
			procs := tracerCgroups(t, cmd.Process.Pid)
			require.Len(t, procs, 1)
			members, err := os.ReadFile(filepath.Join(procs[0], "cgroup.procs"))
			require.NoError(t, err)
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			for _, f := range strings.Fields(string(members)) {
				pid, _ := strconv.Atoi(f)
				waitExit(t, pid) // sh, both sleeps (one a daemon in a session of its own)
			}
			// The next start of a tracer removes what the killed one left.
			require.NoError(t, exec.Command(tracepBin, "exec", "--", "true").Run())
			require.Empty(t, tracerCgroups(t, cmd.Process.Pid))
		})
	}
}
