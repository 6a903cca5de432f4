package exectrace_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// (a) 2,000 short-lived processes, 4 at a time, each with a unique argv
// token, in one traced cgroup: every argv is captured exactly, nothing lost.
func TestIntegrationArgvUnderLoad(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	const n = 2000
	cg := tracetest.Open(t, cgroup.New)
	var c tracetest.Collector
	s := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)

	token := fmt.Sprintf("tracep-load-%d", os.Getpid())
	cmd := cg.Command("/bin/sh", "-c", fmt.Sprintf(`seq 1 %d | xargs -P4 -I{} /bin/true "$0-{}"`, n), token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	c.CloseSession(t, s)

	seen := make(map[string]int)
	for _, ev := range ops(&c, tracep.ExecOpExec) {
		require.Equal(t, cg.ID(), ev.Proc.CgroupID, "event from outside the cgroup: %+v", ev)
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
	for _, ev := range ops(&c, tracep.ExecOpExit) {
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
	tracetest.RequireSupported(t, exectrace.Supported())
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

	var c tracetest.Collector
	s := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: tracep.Scope{PIDs: []int{root.Process.Pid}}}, c.Emit)

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
	c.CloseSession(t, s)

	execs := argvWith(&c, token+"-grandchild")
	require.Len(t, execs, 1, "grandchild exec not seen; events: %+v", c.Events())
	require.Equal(t, int32(grandPID), execs[0].Proc.PID)
	require.NotEqual(t, int32(root.Process.Pid), execs[0].Proc.PPID)
	require.Equal(t, 0, exitOf(t, &c, grandPID).Exec.ExitCode)
	exitOf(t, &c, root.Process.Pid)
	require.Empty(t, argvWith(&c, token+"-outside"), "process outside the pid tree traced")
	for _, ev := range c.Events() {
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
	tracetest.RequireSupported(t, exectrace.Supported())
	cgs := []*cgroup.Cgroup{tracetest.Open(t, cgroup.New), tracetest.Open(t, cgroup.New)}
	cols := make([]tracetest.Collector, 2)
	sessions := make([]*exectrace.Session, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range cgs {
		wg.Go(func() {
			sessions[i], errs[i] = exectrace.Start(context.Background(),
				exectrace.Config{Scope: tracep.Scope{CgroupID: cgs[i].ID()}}, cols[i].Emit)
		})
	}
	wg.Wait()
	for i := range sessions {
		require.NoError(t, errs[i])
		t.Cleanup(func() { _ = sessions[i].Close() })
	}
	var all tracetest.Collector
	sys := tracetest.Start(t, exectrace.Start, exectrace.Config{}, all.Emit)

	token := fmt.Sprintf("tracep-apart-%d", os.Getpid())
	for round := range 3 {
		for i, cg := range cgs {
			out, err := cg.Command("/bin/sh", "-c", `/bin/true "$0"; /bin/echo "$0" >/dev/null`,
				fmt.Sprintf("%s-%d-%d", token, i, round)).CombinedOutput()
			require.NoError(t, err, "%s", out)
		}
	}
	for i := range sessions {
		cols[i].CloseSession(t, sessions[i])
	}
	all.CloseSession(t, sys)

	for i := range cgs {
		other := 1 - i
		for round := range 3 {
			// sh (the token is its $0), true and echo.
			require.Len(t, argvWith(&cols[i], fmt.Sprintf("%s-%d-%d", token, i, round)), 3)
			require.Empty(t, argvWith(&cols[i], fmt.Sprintf("%s-%d-%d", token, other, round)))
			require.Len(t, argvWith(&all, fmt.Sprintf("%s-%d-%d", token, i, round)), 3)
		}
		for _, ev := range cols[i].Events() {
			require.Equal(t, cgs[i].ID(), ev.Proc.CgroupID, "%+v", ev)
		}
	}
}

// (d) Failed execs are reported with their errno and the filename that
// failed, every attempt of a PATH search included.
func TestIntegrationFailedExec(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	var c tracetest.Collector
	s := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)

	missing := fmt.Sprintf("/nonexistent/tracep-%d", os.Getpid())
	err := cg.Command(missing).Run()
	require.ErrorIs(t, err, os.ErrNotExist)

	name := fmt.Sprintf("tracep-missing-%d", os.Getpid())
	search := cg.Command("/usr/bin/env", name)
	search.Env = []string{"PATH=/nonexistent-a:/nonexistent-b"}
	require.Error(t, search.Run())

	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	require.Error(t, cg.Command("/bin/sh", "-c", `exec "$0"`, notExec).Run())
	c.CloseSession(t, s)

	fails := make(map[string]string)
	for _, ev := range ops(&c, tracep.ExecOpFail) {
		fails[ev.Exec.Filename] = ev.Exec.Errno
		require.NotZero(t, ev.Proc.PID)
		require.Equal(t, cg.ID(), ev.Proc.CgroupID)
	}
	require.Equal(t, "ENOENT", fails[missing], "fails: %v", fails)
	require.Equal(t, "ENOENT", fails["/nonexistent-a/"+name], "fails: %v", fails)
	require.Equal(t, "ENOENT", fails["/nonexistent-b/"+name], "fails: %v", fails)
	require.Equal(t, "EACCES", fails[notExec], "fails: %v", fails)
	require.Len(t, argvWith(&c, name), 1, "the env process itself")
}

// (d2) Argv whole at the kernel's own limits, by default: the longest
// single argument execve accepts (MAX_ARG_STRLEN, 128 KiB with its NUL;
// one byte more is refused with E2BIG), 10,000 arguments, and as many
// 128 KiB arguments as the stack rlimit lets the kernel take (a quarter of
// it), which come in pieces of a record each.
func TestIntegrationArgvWhole(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	var stack unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_STACK, &stack))
	// The kernel's budget for the strings of argv and envp (and the
	// filename), less a pointer per string (fs/exec.c bprm_stack_limits).
	budget := min(stack.Cur/4, 6<<20)
	const maxArg = 128<<10 - 1
	long := strings.Repeat("L", maxArg)
	var many, most []string
	for i := range 10000 {
		many = append(many, fmt.Sprintf("arg%05d", i))
	}
	for n := uint64(0); ; {
		next := n + maxArg + 1 + 8
		if next+64<<10 > budget {
			break
		}
		most = append(most, fmt.Sprintf("%06d%s", len(most), long[6:]))
		n = next
	}
	require.Greater(t, len(most), 2, "stack rlimit %d leaves room for a few arguments only", stack.Cur)

	cg := tracetest.Open(t, cgroup.New)
	var c tracetest.Collector
	s := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)
	run := func(args ...string) error {
		cmd := cg.Command("/bin/true", args...)
		cmd.Env = []string{}
		return cmd.Run()
	}
	require.NoError(t, run(long))
	require.ErrorIs(t, run(long+"L"), unix.E2BIG, "one byte more than the kernel takes")
	require.NoError(t, run(many...))
	require.NoError(t, run(most...))
	c.CloseSession(t, s)

	size := func(argv []string) (n int) {
		for _, a := range argv {
			n += len(a) + 1
		}
		return n
	}
	for _, args := range [][]string{{long}, many, most} {
		want := append([]string{"/bin/true"}, args...)
		got := argvWith(&c, args[0])
		require.Len(t, got, 1, "%d arguments, %d bytes", len(want), size(want))
		require.False(t, got[0].Exec.ArgvTruncated, "%d arguments, %d bytes", len(want), size(want))
		require.Equal(t, want, got[0].Exec.Argv, "%d arguments, %d bytes", len(want), size(want))
		require.Empty(t, got[0].Exec.Incomplete())
	}
	t.Logf("whole: one argument of %d bytes; %d arguments; %d arguments, %d bytes (stack rlimit %d)",
		len(long), len(many), len(most), size(most), stack.Cur)
}

// (e) A 300 KiB argv (three records) is cut and flagged under a 32 KiB
// limit and under a 160 KiB one (in its second piece), and whole under a
// larger one and without a limit; the sessions watch the same exec.
func TestIntegrationArgvLimit(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	var small, mid, large, whole tracetest.Collector
	scope := tracep.Scope{CgroupID: cg.ID()}
	// Rings of different sizes share the array of rings.
	s32 := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: scope, ArgvLimit: 32 << 10, RingBytes: 1 << 20}, small.Emit)
	s160 := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: scope, ArgvLimit: 160 << 10}, mid.Emit)
	s512 := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: scope, ArgvLimit: 512 << 10}, large.Emit)
	sAll := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: scope}, whole.Emit)

	argv := []string{"/bin/true"}
	for i := range 300 {
		argv = append(argv, fmt.Sprintf("%04d%s", i, strings.Repeat("x", 1019))) // 1 KiB with its NUL
	}
	total := 10 + 300<<10
	require.NoError(t, cg.Command(argv[0], argv[1:]...).Run())
	small.CloseSession(t, s32)
	mid.CloseSession(t, s160)
	large.CloseSession(t, s512)
	whole.CloseSession(t, sAll)

	for _, c := range []*tracetest.Collector{&large, &whole} {
		got := argvWith(c, argv[1])
		require.Len(t, got, 1)
		require.Equal(t, argv, got[0].Exec.Argv)
		require.False(t, got[0].Exec.ArgvTruncated)
		require.Zero(t, got[0].Exec.ArgvSize)
	}

	got := argvWith(&mid, argv[1])
	require.Len(t, got, 1)
	require.True(t, got[0].Exec.ArgvTruncated)
	require.Equal(t, total, got[0].Exec.ArgvSize)
	require.Equal(t, argv[:150], got[0].Exec.Argv[:150])
	require.Equal(t, fmt.Sprintf("argv truncated, %d bytes in all", total), got[0].Exec.Incomplete())

	got = argvWith(&small, argv[1])
	require.Len(t, got, 1)
	cut := got[0].Exec.Argv
	require.True(t, got[0].Exec.ArgvTruncated)
	require.Equal(t, total, got[0].Exec.ArgvSize)
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
	tracetest.RequireSupported(t, exectrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	var c tracetest.Collector
	s := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)

	code := cg.Command("/bin/sh", "-c", "exit 3")
	require.Error(t, code.Run())
	killed := cg.Command("/bin/sh", "-c", "kill -KILL $$")
	require.Error(t, killed.Run())
	ok := cg.Command("/bin/true")
	require.NoError(t, ok.Run())
	// A multi-threaded process reports one exit, for the whole group.
	exe, err := os.Executable()
	require.NoError(t, err)
	threads := cg.Command(exe, "-test.run=^$")
	require.NoError(t, threads.Run())
	before := time.Now()
	c.CloseSession(t, s)

	ev := exitOf(t, &c, code.Process.Pid)
	require.Equal(t, 3, ev.Exec.ExitCode)
	require.Empty(t, ev.Exec.Signal)
	require.Positive(t, ev.Exec.Duration)
	require.WithinDuration(t, before, ev.Time, time.Minute)

	ev = exitOf(t, &c, killed.Process.Pid)
	require.Equal(t, -1, ev.Exec.ExitCode)
	require.Equal(t, "SIGKILL", ev.Exec.Signal)
	require.False(t, ev.Exec.CoreDumped)

	ev = exitOf(t, &c, ok.Process.Pid)
	require.Equal(t, 0, ev.Exec.ExitCode)
	require.Empty(t, ev.Exec.Signal)

	n := 0
	for _, ev := range ops(&c, tracep.ExecOpExit) {
		if int(ev.Proc.PID) == threads.Process.Pid {
			n++
		}
	}
	require.Equal(t, 1, n, "exit events of a multi-threaded process")
}

// Events the kernel cannot hand over are counted and reported by Close as a
// *tracep.LostError: here the reader is held up while a small ring
// overflows.
func TestIntegrationLossReported(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	release := make(chan struct{})
	var delivered atomic.Int64
	s, err := exectrace.Start(context.Background(),
		exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}, ArgvLimit: 1024, RingBytes: 64 << 10},
		func(tracep.Event) {
			<-release
			delivered.Add(1)
		})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	out, err := cg.Command("/bin/sh", "-c", `seq 1 1000 | xargs -P4 -I{} /bin/true {}`).CombinedOutput()
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

	// The next session of the slot (a ring of the same size is reused in
	// place: the ring grew to 256 KiB when the reader, let go, found it
	// full) starts its count at zero.
	next := tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}, ArgvLimit: 1024, RingBytes: 256 << 10}, func(tracep.Event) {})
	require.Equal(t, exectrace.SlotOf(s), exectrace.SlotOf(next), "the slot of the lossy session is reused")
	require.Zero(t, next.Lost())
}

// Every session takes one of bpfcore.MaxSessions slots; one more fails cleanly
// and the others keep working.
func TestIntegrationSlotsExhausted(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	cols := make([]tracetest.Collector, bpfcore.MaxSessions)
	sessions := make([]*exectrace.Session, bpfcore.MaxSessions)
	for i := range cols {
		sessions[i] = tracetest.Start(t, exectrace.Start, exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, cols[i].Emit)
	}
	_, err := exectrace.Start(context.Background(), exectrace.Config{}, func(tracep.Event) {})
	require.ErrorIs(t, err, bpfcore.ErrNoSlot)

	token := fmt.Sprintf("tracep-slots-%d", os.Getpid())
	require.NoError(t, cg.Command("/bin/true", token).Run())
	for i, s := range sessions {
		cols[i].CloseSession(t, s)
		require.Len(t, argvWith(&cols[i], token), 1, "session %d", i)
	}
}

// A ring whose reader falls behind grows, without losing a record on the
// way, and the grown ring takes bursts the first could not: the reader is
// held up while 200 execs fill more than half of a 64 KiB ring (~45 KiB:
// an exec and an exit of true are ~230 bytes); 30 more run while the new
// ring is made, before it is installed (what they write is read from the
// old ring as the reader leaves it); then, grown to 256 KiB, the ring
// takes ~113 KiB of 500 more while the reader is held up again.
func TestIntegrationRingGrows(t *testing.T) {
	tracetest.RequireSupported(t, exectrace.Supported())
	cg := tracetest.Open(t, cgroup.New)
	var hold atomic.Pointer[chan struct{}]
	var c tracetest.Collector
	s := tracetest.Start(t, exectrace.Start,
		exectrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}, ArgvLimit: 1024, RingBytes: 64 << 10},
		func(ev tracep.Event) {
			if h := hold.Swap(nil); h != nil {
				<-*h
			}
			c.Emit(ev)
		})
	token := fmt.Sprintf("tracep-grow-%d", os.Getpid())
	execs := func(from, to int) error {
		out, err := cg.Command("/bin/sh", "-c", fmt.Sprintf(`seq %d %d | xargs -P4 -I{} /bin/true "$0-{}"`, from, to), token).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	burst := func(from, to int) {
		t.Helper()
		release := make(chan struct{})
		hold.Store(&release)
		require.NoError(t, execs(from, to))
		close(release)
	}
	installing := make(chan error, 1)
	var once sync.Once
	t.Cleanup(bpfcore.SetBeforeRingInstall(func() { once.Do(func() { installing <- execs(201, 230) }) }))

	burst(1, 200)
	// A guard against a ring that never grows, not a wait.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, exectrace.AwaitRingBytes(ctx, s, 256<<10))
	require.NoError(t, <-installing)
	burst(231, 730)
	c.CloseSession(t, s) // fails on loss

	seen := make(map[string]int)
	for _, ev := range ops(&c, tracep.ExecOpExec) {
		if ev.Exec.Filename == "/bin/true" {
			seen[ev.Exec.Argv[1]]++
		}
	}
	for i := 1; i <= 730; i++ {
		require.Equal(t, 1, seen[fmt.Sprintf("%s-%d", token, i)], "token %d", i)
	}
}
