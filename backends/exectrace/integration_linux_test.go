package exectrace_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

func start(t *testing.T, cfg exectrace.Config, c *collector) *exectrace.Session {
	t.Helper()
	s, err := exectrace.Start(context.Background(), cfg, c.emit)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// closeClean closes s and requires no loss.
func closeClean(t *testing.T, s *exectrace.Session, c *collector) {
	t.Helper()
	require.NoError(t, s.Close())
	c.markClosed()
}

// (a) 2,000 short-lived processes, 4 at a time, each with a unique argv
// token, in one traced cgroup: every argv is captured exactly, nothing lost.
func TestIntegrationArgvUnderLoad(t *testing.T) {
	requirePrivileged(t)
	const n = 2000
	cg := newCgroup(t)
	var c collector
	s := start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}}, &c)

	token := fmt.Sprintf("tracep-load-%d", os.Getpid())
	cmd := cg.command("/bin/sh", "-c", fmt.Sprintf(`seq 1 %d | xargs -P4 -I{} /bin/true "$0-{}"`, n), token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	closeClean(t, s, &c)

	seen := make(map[string]int)
	for _, ev := range c.ops(tracep.ExecOpExec) {
		require.Equal(t, cg.id, ev.Proc.CgroupID, "event from outside the cgroup: %+v", ev)
		if ev.Exec.Filename != "/bin/true" {
			continue
		}
		require.Len(t, ev.Exec.Argv, 2, "%q", ev.Exec.Argv)
		require.Equal(t, "/bin/true", ev.Exec.Argv[0])
		require.False(t, ev.Exec.ArgvTruncated)
		seen[ev.Exec.Argv[1]]++
	}
	require.Len(t, seen, n)
	for i := 1; i <= n; i++ {
		require.Equal(t, 1, seen[fmt.Sprintf("%s-%d", token, i)], "token %d", i)
	}
	exits := 0
	for _, ev := range c.ops(tracep.ExecOpExit) {
		if ev.Proc.Comm == "true" {
			exits++
		}
	}
	require.Equal(t, n, exits)
}

// (b) A pid scope follows forks in the kernel: a double-forked grandchild
// that outlives its parent is traced, a process started alongside outside the
// tree is not.
func TestIntegrationPIDScopeFollowsForks(t *testing.T) {
	requirePrivileged(t)
	token := fmt.Sprintf("tracep-pid-%d", os.Getpid())

	gateR, gateW, err := os.Pipe() // releases the root process
	require.NoError(t, err)
	holdR, holdW, err := os.Pipe() // releases the grandchild, on EOF
	require.NoError(t, err)
	pidR, pidW, err := os.Pipe() // the grandchild writes its pid here
	require.NoError(t, err)
	defer gateW.Close()
	defer holdW.Close()
	defer pidR.Close()

	// root runs child, which backgrounds grandchild and exits at once; root
	// exits too. grandchild reports its pid, waits for EOF on fd 3, execs.
	const (
		rootScript  = `read _; /bin/sh -c "$1" "$0" "$2"; exit 0`
		childScript = `/bin/sh -c "$1" "$0" &`
		grandScript = `echo $$ >&4; read _ <&3; exec /bin/true "$0-grandchild"`
	)
	root := exec.Command("/bin/sh", "-c", rootScript, token, childScript, grandScript)
	root.Stdin = gateR
	root.ExtraFiles = []*os.File{holdR, pidW}
	require.NoError(t, root.Start())
	gateR.Close()
	holdR.Close()
	pidW.Close()

	var c collector
	s := start(t, exectrace.Config{Scope: tracep.Scope{PIDs: []int{root.Process.Pid}}}, &c)

	outside := exec.Command("/bin/true", token+"-outside")
	_, err = gateW.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, outside.Run())
	var grandPID int
	_, err = fmt.Fscan(pidR, &grandPID)
	require.NoError(t, err)
	require.NoError(t, root.Wait()) // root and child are gone now
	grand, err := unix.PidfdOpen(grandPID, 0)
	require.NoError(t, err)
	defer unix.Close(grand)
	require.NoError(t, holdW.Close())
	waitExit(t, grand)
	closeClean(t, s, &c)

	execs := c.argvWith(token + "-grandchild")
	require.Len(t, execs, 1, "grandchild exec not seen; events: %+v", c.events())
	require.Equal(t, int32(grandPID), execs[0].Proc.PID)
	require.NotEqual(t, int32(root.Process.Pid), execs[0].Proc.PPID)
	require.Equal(t, 0, c.exitOf(t, grandPID).Exec.ExitCode)
	c.exitOf(t, root.Process.Pid)
	require.Empty(t, c.argvWith(token+"-outside"), "process outside the pid tree traced")
	for _, ev := range c.events() {
		require.NotEqual(t, int32(outside.Process.Pid), ev.Proc.PID, "event of the outside process: %+v", ev)
	}
}

// waitExit waits until the process of pidfd has exited (its pidfd turns
// readable once it is a zombie or gone), after its exit tracepoint ran.
func waitExit(t *testing.T, pidfd int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 1, n, "process did not exit within 10s")
		return
	}
}

// (c) Sessions on different cgroups, started concurrently, each see only
// their own processes; a whole-system session sees both.
func TestIntegrationConcurrentSessionsStayApart(t *testing.T) {
	requirePrivileged(t)
	cgs := []*testCgroup{newCgroup(t), newCgroup(t)}
	cols := make([]collector, 2)
	sessions := make([]*exectrace.Session, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range cgs {
		wg.Go(func() {
			sessions[i], errs[i] = exectrace.Start(context.Background(),
				exectrace.Config{Scope: tracep.Scope{CgroupID: cgs[i].id}}, cols[i].emit)
		})
	}
	wg.Wait()
	for i := range sessions {
		require.NoError(t, errs[i])
		t.Cleanup(func() { _ = sessions[i].Close() })
	}
	var all collector
	sys := start(t, exectrace.Config{}, &all)

	token := fmt.Sprintf("tracep-apart-%d", os.Getpid())
	for round := range 3 {
		for i, cg := range cgs {
			out, err := cg.command("/bin/sh", "-c", `/bin/true "$0"; /bin/echo "$0" >/dev/null`,
				fmt.Sprintf("%s-%d-%d", token, i, round)).CombinedOutput()
			require.NoError(t, err, "%s", out)
		}
	}
	for i := range sessions {
		closeClean(t, sessions[i], &cols[i])
	}
	closeClean(t, sys, &all)

	for i := range cgs {
		other := 1 - i
		for round := range 3 {
			// sh (the token is its $0), true and echo.
			require.Len(t, cols[i].argvWith(fmt.Sprintf("%s-%d-%d", token, i, round)), 3)
			require.Empty(t, cols[i].argvWith(fmt.Sprintf("%s-%d-%d", token, other, round)))
			require.Len(t, all.argvWith(fmt.Sprintf("%s-%d-%d", token, i, round)), 3)
		}
		for _, ev := range cols[i].events() {
			require.Equal(t, cgs[i].id, ev.Proc.CgroupID, "%+v", ev)
		}
	}
}

// (d) Failed execs are reported with their errno and the filename that
// failed, every attempt of a PATH search included.
func TestIntegrationFailedExec(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	var c collector
	s := start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}}, &c)

	missing := fmt.Sprintf("/nonexistent/tracep-%d", os.Getpid())
	err := cg.command(missing).Run()
	require.ErrorIs(t, err, os.ErrNotExist)

	name := fmt.Sprintf("tracep-missing-%d", os.Getpid())
	search := cg.command("/usr/bin/env", name)
	search.Env = []string{"PATH=/nonexistent-a:/nonexistent-b"}
	require.Error(t, search.Run())

	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	require.Error(t, cg.command("/bin/sh", "-c", `exec "$0"`, notExec).Run())
	closeClean(t, s, &c)

	fails := make(map[string]string)
	for _, ev := range c.ops(tracep.ExecOpFail) {
		fails[ev.Exec.Filename] = ev.Exec.Errno
		require.NotZero(t, ev.Proc.PID)
		require.Equal(t, cg.id, ev.Proc.CgroupID)
	}
	require.Equal(t, "ENOENT", fails[missing], "fails: %v", fails)
	require.Equal(t, "ENOENT", fails["/nonexistent-a/"+name], "fails: %v", fails)
	require.Equal(t, "ENOENT", fails["/nonexistent-b/"+name], "fails: %v", fails)
	require.Equal(t, "EACCES", fails[notExec], "fails: %v", fails)
	require.Len(t, c.argvWith(name), 1, "the env process itself")
}

// (e) A 40 KiB argv is cut and flagged under a 32 KiB limit and whole under a
// larger one; both sessions watch the same exec.
func TestIntegrationArgvLimit(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	var small, large collector
	// Rings of different sizes share the array of rings.
	s32 := start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}, ArgvLimit: 32 << 10, RingBytes: 1 << 20}, &small)
	s64 := start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}, ArgvLimit: 64 << 10}, &large)

	argv := []string{"/bin/true"}
	for i := range 40 {
		argv = append(argv, fmt.Sprintf("%04d%s", i, strings.Repeat("x", 1019))) // 1 KiB with its NUL
	}
	require.NoError(t, cg.command(argv[0], argv[1:]...).Run())
	closeClean(t, s32, &small)
	closeClean(t, s64, &large)

	got := large.argvWith(argv[1])
	require.Len(t, got, 1)
	require.Equal(t, argv, got[0].Exec.Argv)
	require.False(t, got[0].Exec.ArgvTruncated)

	got = small.argvWith(argv[1])
	require.Len(t, got, 1)
	cut := got[0].Exec.Argv
	require.True(t, got[0].Exec.ArgvTruncated)
	size := 0
	for _, a := range cut {
		size += len(a) + 1
	}
	require.Equal(t, 32<<10, size-1, "captured bytes (the last argument has no NUL)")
	require.Equal(t, argv[:len(cut)-1], cut[:len(cut)-1])
	require.True(t, strings.HasPrefix(argv[len(cut)-1], cut[len(cut)-1]))
}

// (f) Exit codes and deaths by signal, one exit event per process.
func TestIntegrationExitStatus(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	var c collector
	s := start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}}, &c)

	code := cg.command("/bin/sh", "-c", "exit 3")
	require.Error(t, code.Run())
	killed := cg.command("/bin/sh", "-c", "kill -KILL $$")
	require.Error(t, killed.Run())
	ok := cg.command("/bin/true")
	require.NoError(t, ok.Run())
	// A multi-threaded process reports one exit, for the whole group.
	exe, err := os.Executable()
	require.NoError(t, err)
	threads := cg.command(exe, "-test.run=^$")
	require.NoError(t, threads.Run())
	before := time.Now()
	closeClean(t, s, &c)

	ev := c.exitOf(t, code.Process.Pid)
	require.Equal(t, 3, ev.Exec.ExitCode)
	require.Empty(t, ev.Exec.Signal)
	require.Positive(t, ev.Exec.Duration)
	require.WithinDuration(t, before, ev.Time, time.Minute)

	ev = c.exitOf(t, killed.Process.Pid)
	require.Equal(t, -1, ev.Exec.ExitCode)
	require.Equal(t, "SIGKILL", ev.Exec.Signal)
	require.False(t, ev.Exec.CoreDumped)

	ev = c.exitOf(t, ok.Process.Pid)
	require.Equal(t, 0, ev.Exec.ExitCode)
	require.Empty(t, ev.Exec.Signal)

	n := 0
	for _, ev := range c.ops(tracep.ExecOpExit) {
		if int(ev.Proc.PID) == threads.Process.Pid {
			n++
		}
	}
	require.Equal(t, 1, n, "exit events of a multi-threaded process")
}

// (g) Close is idempotent, delivers nothing afterwards, ends the session's
// goroutine, and the last Close detaches every link.
func TestIntegrationCloseReleasesEverything(t *testing.T) {
	requirePrivileged(t)
	bpfcore.DetachIdle()
	require.Empty(t, bpfcore.LinkIDs(), "a session of another test is still open")
	require.Zero(t, readers(), "reader goroutines before the test")

	cg := newCgroup(t)
	var first, second collector
	s1 := start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}}, &first)
	s2 := start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}}, &second)
	ids := bpfcore.LinkIDs()
	require.NotEmpty(t, ids)
	require.Equal(t, 2, readers(), "%s", stacks())

	// Keep execs coming while the sessions close.
	busy := cg.command("/bin/sh", "-c", "while :; do /bin/true; done")
	require.NoError(t, busy.Start())
	defer func() {
		_ = cg.killAll()
		_ = busy.Wait()
	}()

	require.NoError(t, s1.Close())
	first.markClosed()
	require.NoError(t, s1.Close(), "second Close")
	for _, id := range ids {
		l, err := link.NewFromID(id)
		require.NoError(t, err, "link %d detached while a session is open", id)
		l.Close()
	}

	require.NoError(t, s2.Close())
	second.markClosed()
	require.NoError(t, s2.Close())
	require.NoError(t, cg.killAll())
	_ = busy.Wait()
	// The last Close leaves the links attached for Linger, for the next
	// session; DetachIdle ends that at once.
	require.ElementsMatch(t, ids, bpfcore.LinkIDs())
	bpfcore.DetachIdle()

	for _, id := range ids {
		_, err := link.NewFromID(id)
		require.ErrorIs(t, err, os.ErrNotExist, "link %d still attached", id)
	}
	require.Empty(t, bpfcore.LinkIDs())
	require.Zero(t, first.late.Load(), "events after Close")
	require.Zero(t, second.late.Load(), "events after Close")
	require.Zero(t, readers(), "reader goroutines left behind")
}

// readers counts the sessions' reader goroutines, by the line naming their
// creator (a goroutine that has not run yet has no other frame).
func readers() int { return bpfcore.Readers() }

func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Without privileges, Start and Supported fail with a PermissionError that
// names the capabilities.
func TestIntegrationUnprivileged(t *testing.T) {
	requirePrivileged(t) // root is needed to become someone else
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	bin := filepath.Join(dir, "exectrace.test")
	data, err := os.ReadFile(exe)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))

	cmd := exec.Command(bin, "-test.run=^TestHelperUnprivileged$", "-test.v")
	cmd.Env = append(os.Environ(), "TRACEP_HELPER=unprivileged")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestHelperUnprivileged")
}

func TestHelperUnprivileged(t *testing.T) {
	if os.Getenv("TRACEP_HELPER") != "unprivileged" {
		t.Skip("run by TestIntegrationUnprivileged")
	}
	var pe *tracep.PermissionError
	err := exectrace.Supported()
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, os.ErrPermission)

	_, err = exectrace.Start(context.Background(), exectrace.Config{}, func(tracep.Event) {})
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, os.ErrPermission)
	require.Contains(t, pe.Capability, "CAP_BPF")
	require.Contains(t, pe.Capability, "CAP_PERFMON")
	t.Log(err)
}

// Events the kernel cannot hand over are counted and reported by Close as a
// *tracep.LostError: here the reader is held up while a small ring
// overflows.
func TestIntegrationLossReported(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	release := make(chan struct{})
	var delivered atomic.Int64
	s, err := exectrace.Start(context.Background(),
		exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}, ArgvLimit: 1024, RingBytes: 64 << 10},
		func(tracep.Event) {
			<-release
			delivered.Add(1)
		})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	out, err := cg.command("/bin/sh", "-c", `seq 1 1000 | xargs -P4 -I{} /bin/true {}`).CombinedOutput()
	require.NoError(t, err, "%s", out)
	close(release)
	err = s.Close()

	var lost *tracep.LostError
	require.ErrorAs(t, err, &lost)
	require.ErrorIs(t, err, tracep.ErrLost)
	require.Equal(t, tracep.KindExec, lost.Kind)
	// 1,000 execs and 1,000 exits of true, plus xargs, seq and sh: every
	// record was either delivered or counted.
	require.GreaterOrEqual(t, uint64(delivered.Load())+lost.Count, uint64(2000))
	require.Positive(t, delivered.Load())
}

// Every session takes one of bpfcore.MaxSlots slots; one more fails cleanly
// and the others keep working.
func TestIntegrationSlotsExhausted(t *testing.T) {
	requirePrivileged(t)
	cg := newCgroup(t)
	cols := make([]collector, bpfcore.MaxSlots)
	sessions := make([]*exectrace.Session, bpfcore.MaxSlots)
	for i := range cols {
		sessions[i] = start(t, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.id}}, &cols[i])
	}
	_, err := exectrace.Start(context.Background(), exectrace.Config{}, discard)
	require.ErrorIs(t, err, bpfcore.ErrNoSlot)

	token := fmt.Sprintf("tracep-slots-%d", os.Getpid())
	require.NoError(t, cg.command("/bin/true", token).Run())
	for i, s := range sessions {
		closeClean(t, s, &cols[i])
		require.Len(t, cols[i].argvWith(token), 1, "session %d", i)
	}
}

// A cancelled context stops Start before anything stays loaded.
func TestIntegrationStartCancelled(t *testing.T) {
	requirePrivileged(t)
	bpfcore.DetachIdle()
	require.Empty(t, bpfcore.LinkIDs())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := exectrace.Start(ctx, exectrace.Config{}, discard)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, bpfcore.LinkIDs())

	_, err = exectrace.Start(context.Background(), exectrace.Config{}, nil)
	require.ErrorIs(t, err, tracep.ErrInvalid)
	_, err = exectrace.Start(context.Background(), exectrace.Config{ArgvLimit: exectrace.MaxArgvLimit + 1}, discard)
	require.ErrorIs(t, err, tracep.ErrInvalid)
	_, err = exectrace.Start(context.Background(), exectrace.Config{Scope: tracep.Scope{PIDs: []int{-1}}}, discard)
	require.ErrorIs(t, err, tracep.ErrInvalid)
	require.Empty(t, bpfcore.LinkIDs())
}
