package main_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/tracep/tracetest"
)

// Fault injection: tracep killed with SIGKILL at many instants — while it
// arms, while it holds a new binary, in the middle of a storm of events —
// leaves nothing held and nothing orphaned (issue 13).

// freshStorm runs new binaries ($0 is a directory for them, $1 a Go TLS
// program to copy every $3 rounds: tracep itself, which takes a while to
// probe), which the TLS tracer holds until it has probed them, among
// other execs and lookups of the name $2.
const freshStorm = `i=0
while :; do
	i=$((i+1))
	cp /bin/true "$0/t$$.$i" && "$0/t$$.$i"; rm -f "$0/t$$.$i"
	if [ $((i % $3)) = 0 ]; then cp "$1" "$0/g$$.$i" && "$0/g$$.$i" version >/dev/null; rm -f "$0/g$$.$i"; fi
	getent hosts "$2" >/dev/null
done`

// freshDir returns a directory for the workloads' new binaries. On ext4 a
// copy made after a deleted one often gets its inode number; the TLS
// tracer tells them apart (generation, change time), so it is new to the
// tracer and held all the same.
func freshDir(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}

// killRand returns the source of the kills' instants: seeded from the
// clock, or from TRACEP_SIGKILL_SEED to replay a failed run.
func killRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TRACEP_SIGKILL_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("kill instants from seed %d (TRACEP_SIGKILL_SEED=%d replays them)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// pause waits a random time below max: the instant of a kill, which is
// the point of these tests (everything else waits for real signals).
func pause(rng *rand.Rand, max time.Duration) {
	time.Sleep(time.Duration(rng.Int64N(int64(max))))
}

// tracer is a tracep process whose standard error (its banner, and the
// command's output) the test reads.
type tracer struct {
	cmd    *exec.Cmd
	stderr *tracetest.Buffer
	eof    chan struct{} // closed when its standard error ends: it exited
}

// banner is what tracep writes once it traces.
const banner = "Ctrl-C to stop"

// waitTracing waits until the tracer traces (its banner); it fails t at
// once if the tracer ends first (it failed to start: its error is
// reported), or when the test's time is up.
func (tr *tracer) waitTracing(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(tracetest.Context(t))
	defer cancel()
	go func() {
		select {
		case <-tr.eof:
			cancel()
		case <-ctx.Done():
		}
	}()
	s, err := tr.stderr.Wait(ctx, func(s string) bool { return strings.Contains(s, banner) })
	if err != nil && !strings.Contains(tr.stderr.String(), banner) {
		t.Fatalf("tracep %s did not start tracing (%v): %s", strings.Join(tr.cmd.Args[1:], " "), err, s)
	}
}

// startTracer starts tracep with args, its temporary files in tmp. Its
// standard error is a pipe the test owns, so that waiting for the process
// never waits for whoever else holds the pipe.
func startTracer(t *testing.T, tmp string, args ...string) *tracer {
	t.Helper()
	cmd := exec.Command(plainBin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		require.NoError(t, err)
	}
	tr := &tracer{cmd: cmd, stderr: &tracetest.Buffer{}, eof: make(chan struct{})}
	go func() {
		_, _ = io.Copy(tr.stderr, r)
		r.Close()
		close(tr.eof)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return tr
}

// deadTracer is what a killed tracer held when it died.
type deadTracer struct {
	pid                int
	progs, maps, links []uint32
}

// stop stops the tracer with SIGSTOP and waits until it is stopped. A
// SIGCONT from elsewhere may continue it first: pids are reused within
// seconds here (pid_max 32768, the storms of these tests), and a TLS
// tracer of another test continues by pid the processes it held, as does
// its watchdog when it dies. The kernel reports that continuation, and the
// tracer is stopped again.
func (tr *tracer) stop(t *testing.T) {
	t.Helper()
	for {
		require.NoError(t, tr.cmd.Process.Signal(unix.SIGSTOP))
		var ws unix.WaitStatus
		_, err := unix.Wait4(tr.cmd.Process.Pid, &ws, unix.WUNTRACED|unix.WCONTINUED, nil)
		require.NoError(t, err)
		if ws.Continued() {
			t.Logf("tracep %d continued by another process: stopping it again", tr.cmd.Process.Pid)
			continue
		}
		require.True(t, ws.Stopped(), "tracep ended by itself (status %#x): %s", ws, tr.stderr)
		return
	}
}

// kill kills the tracer with SIGKILL and reaps it. With freeze, it is
// stopped first (at that instant) so that the BPF objects it holds are
// all known; without, they are read just before the kill.
func (tr *tracer) kill(t *testing.T, freeze bool) deadTracer {
	t.Helper()
	pid := tr.cmd.Process.Pid
	if freeze {
		tr.stop(t)
	}
	d := deadTracer{pid: pid}
	d.progs, d.maps, d.links = bpfFDs(pid)
	require.NoError(t, tr.cmd.Process.Kill())
	_ = tr.cmd.Wait()
	ws := tr.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == unix.SIGKILL, "tracep ended by itself (%v): %s", tr.cmd.ProcessState, tr.stderr)
	return d
}

// bpfFDs lists the ids of the BPF programs, maps and links process pid
// holds by descriptor.
func bpfFDs(pid int) (progs, maps, links []uint32) {
	proc := "/proc/" + strconv.Itoa(pid)
	ents, _ := os.ReadDir(proc + "/fd")
	for _, e := range ents {
		target, err := os.Readlink(proc + "/fd/" + e.Name())
		if err != nil || !strings.HasPrefix(target, "anon_inode:bpf") {
			continue
		}
		info, err := os.ReadFile(proc + "/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(info)) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				continue
			}
			switch {
			case k == "prog_id" && target == "anon_inode:bpf-prog":
				progs = append(progs, uint32(id))
			case k == "map_id" && target == "anon_inode:bpf-map":
				maps = append(maps, uint32(id))
			case k == "link_id":
				links = append(links, uint32(id))
			}
		}
	}
	return progs, maps, links
}

// holdWatchdogs returns the TLS hold watchdogs of tracer pid (named after
// it: "tracep-hold-watchdog PID"), whoever their parent is now.
func holdWatchdogs(t *testing.T, pid int) []int {
	t.Helper()
	want := "tracep-hold-watchdog\x00" + strconv.Itoa(pid) + "\x00"
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	var out []int
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && string(b) == want {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, n)
		}
	}
	return out
}

// waitCgroupEmpty waits until no process is left in the cgroup at dir
// (cgroup.events says "populated 0"; the kernel signals each change). A
// cgroup removed meanwhile (by any tracep starting: it sweeps the cgroups
// of dead ones) was empty: a populated cgroup cannot be removed.
func waitCgroupEmpty(t *testing.T, dir string) {
	t.Helper()
	fd, err := unix.Open(filepath.Join(dir, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return
	}
	require.NoError(t, err)
	defer unix.Close(fd)
	deadline, _ := tracetest.Context(t).Deadline()
	buf := make([]byte, 256)
	for {
		n, err := unix.Pread(fd, buf, 0)
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) {
			return // removed
		}
		require.NoError(t, err)
		if !strings.Contains(string(buf[:n]), "populated 1") {
			return
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		n, err = unix.Poll(fds, int(time.Until(deadline).Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		require.NoError(t, err)
		require.NotZero(t, n, "cgroup %s still populated: the command outlived its tracer", dir)
	}
}

// procState returns the state letter of process pid ('R', 'S', 'T'...),
// or 0 when it is gone.
func procState(pid string) byte {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// stopped returns the processes of the cgroup at dir in state T.
func stopped(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	require.NoError(t, err)
	var out []string
	for _, pid := range strings.Fields(string(b)) {
		if procState(pid) == 'T' {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			out = append(out, pid+" "+strings.TrimSpace(string(comm)))
		}
	}
	return out
}

// uprobeEvents returns tracefs's uprobe_events, mounting tracefs in a
// mount namespace of one thread when the system has it unmounted.
func uprobeEvents(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if b, err := os.ReadFile(dir + "/uprobe_events"); err == nil {
			return string(b)
		}
	}
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread keeps its private mount namespace and dies with the
		// goroutine: it is never unlocked.
		runtime.LockOSThread()
		ch <- func() result {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return result{err: err}
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return result{err: err}
			}
			if err := unix.Mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
				return result{err: err}
			}
			b, err := os.ReadFile("/sys/kernel/tracing/uprobe_events")
			return result{s: string(b), err: err}
		}()
	}()
	r := <-ch
	require.NoError(t, r.err)
	return r.s
}

// leftovers checks what a killed tracer leaves once the kernel and its
// watchdogs have acted.
type leftovers struct {
	uprobes string // uprobe_events before any tracer ran
}

// requireReleased waits for d's watchdogs (the TLS hold watchdog, which
// continues what it held; the cgroup's, which kills the command) to act
// and exit, then requires that nothing of the tracer remains in the
// kernel: its links are gone, its programs and maps attached to nothing
// and held by no process (the kernel frees them after a grace period),
// nothing was added to uprobe_events.
func (l leftovers) requireReleased(t *testing.T, d deadTracer) {
	t.Helper()
	for _, wd := range holdWatchdogs(t, d.pid) {
		waitExit(t, wd)
	}
	for _, dir := range tracerCgroups(t, d.pid) {
		waitCgroupEmpty(t, dir)
	}
	requireLinksGone(t, d.links)

	heldProgs, heldMaps, _ := bpfFDsOfAll(t)
	attached := attachedPrograms(t)
	for _, id := range d.progs {
		require.False(t, attached[id], "program %d of the dead tracer still attached", id)
		require.False(t, heldProgs[id], "program %d of the dead tracer held by a process", id)
	}
	for _, id := range d.maps {
		require.False(t, heldMaps[id], "map %d of the dead tracer held by a process", id)
	}
	require.Equal(t, l.uprobes, uprobeEvents(t), "uprobe_events changed")
}

// attachedPrograms returns the programs some link attaches. A link
// another process is creating (not settled yet: EAGAIN) is not the dead
// tracer's, nor is one freed meanwhile (ENOENT): both are skipped, where
// link.Iterator would stop at the first.
func attachedPrograms(t *testing.T) map[uint32]bool {
	t.Helper()
	attached := map[uint32]bool{}
	// union bpf_attr for BPF_LINK_GET_NEXT_ID: start_id, next_id, open_flags.
	var attr struct{ start, next, flags uint32 }
	for {
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_GET_NEXT_ID, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno == unix.ENOENT {
			return attached
		}
		require.NoError(t, errnoErr(errno), "next link id")
		attr.start = attr.next
		l, err := link.NewFromID(link.ID(attr.next))
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		if info, err := l.Info(); err == nil {
			attached[uint32(info.Program)] = true
		}
		l.Close()
	}
}

// errnoErr is nil for 0, else errno.
func errnoErr(errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// bpfFDsOfAll returns the BPF programs and maps every process holds.
func bpfFDsOfAll(t *testing.T) (progs, maps map[uint32]bool, n int) {
	t.Helper()
	progs, maps = map[uint32]bool{}, map[uint32]bool{}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	require.NoError(t, err)
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		p, m, _ := bpfFDs(pid)
		for _, id := range p {
			progs[id] = true
		}
		for _, id := range m {
			maps[id] = true
		}
		n++
	}
	return progs, maps, n
}

// workload is a process tree in a cgroup of the test's, for -p: storms
// (freshStorm) side by side, each running a Go TLS program every goEvery
// rounds.
type workload struct {
	pid int
	cg  *cgroup.Cgroup
}

func startWorkload(t *testing.T, bins string, storms, goEvery int) workload {
	t.Helper()
	cg := tracetest.Open(t, cgroup.New)
	script := strings.Repeat(`sh -c "$4" "$0" "$1" "$2" "$3" & `, storms) + "wait"
	cmd := cg.Command("sh", "-c", script, bins, plainBin, "localhost", strconv.Itoa(goEvery), freshStorm)
	require.NoError(t, cmd.Start())
	go cmd.Wait() // killed with the cgroup
	return workload{pid: cmd.Process.Pid, cg: cg}
}

// Every kind of tracer, killed with SIGKILL while arming, while its
// command storms, while tracing -p processes that storm, and (those that
// trace TLS) the moment a new binary is held: nothing stays stopped, the
// command dies with its tracer (its cgroup's watchdog), -p processes run
// on, no BPF object stays attached or owned, uprobe_events is untouched,
// and the next start removes the cgroups and temporary files of the dead.
func TestIntegrationSIGKILLLeavesNothing(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	rng := killRand(t)
	l := leftovers{uprobes: uprobeEvents(t)}
	for _, kind := range []string{"exec", "net", "dns", "tls", "run"} {
		t.Run(kind, func(t *testing.T) {
			tmp, bins := t.TempDir(), freshDir(t)
			var dead []int
			killed := func(d deadTracer) {
				t.Helper()
				l.requireReleased(t, d)
				dead = append(dead, d.pid)
			}
			cmdMode, name := []string{kind}, "localhost"
			if kind == "dns" || kind == "run" {
				// DNS in the hermetic network, which has temporary files.
				cmdMode, name = append(cmdMode, "-net"), "example.test"
			}
			cmdMode = append(cmdMode, "--", "sh", "-c")

			// While arming, at a random instant of its start-up.
			for i := range 4 {
				tr := startTracer(t, tmp, append(cmdMode, freshStorm, bins, plainBin, name, "2")...)
				pause(rng, 150*time.Millisecond)
				killed(tr.kill(t, i%2 == 0))
			}
			// Armed, the command storming.
			for i := range 3 {
				up := fifo(t, t.TempDir(), "up")
				tr := startTracer(t, tmp, append(cmdMode, "echo up >"+up+"; "+freshStorm, bins, plainBin, name, "2")...)
				readFifo(t, up)
				pause(rng, 80*time.Millisecond)
				killed(tr.kill(t, i%2 == 0))
			}
			// -p, the processes storming: they run on, none stopped.
			wl := startWorkload(t, bins, 1, 2)
			for i := range 3 {
				tr := startTracer(t, tmp, kind, "-p", strconv.Itoa(wl.pid))
				tr.waitTracing(t)
				pause(rng, 80*time.Millisecond)
				killed(tr.kill(t, i%2 == 0))
				require.Empty(t, stopped(t, wl.cg.Path()), "processes left stopped")
				require.False(t, processGone(wl.pid), "the traced processes run on")
			}
			// -p, killed while a new binary is held: first with the
			// tracer's user space frozen before the exec, so that the kernel
			// holds a process the tracer never hears of; then the moment
			// its parent sees it stopped (a Go program: probing it takes a
			// while), or just after if the tracer was quicker.
			if kind == "tls" || kind == "run" {
				for i, src := range []string{"/bin/true", plainBin} {
					fresh := filepath.Join(bins, "held"+strconv.Itoa(i))
					data, err := os.ReadFile(src)
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(fresh, data, 0o755))
					target := exec.Command("sh", "-c", `read _; exec "$0" version`, fresh)
					target.Stdout = io.Discard
					in, err := target.StdinPipe()
					require.NoError(t, err)
					require.NoError(t, target.Start())
					t.Cleanup(func() { _ = target.Process.Kill(); _ = target.Wait() })
					tr := startTracer(t, tmp, kind, "-p", strconv.Itoa(target.Process.Pid))
					tr.waitTracing(t)
					frozen := i == 0
					if frozen {
						tr.stop(t)
					}
					_, err = in.Write([]byte("go\n"))
					require.NoError(t, err)
					var ws unix.WaitStatus
					_, err = unix.Wait4(target.Process.Pid, &ws, unix.WUNTRACED|unix.WCONTINUED, nil)
					require.NoError(t, err)
					if frozen {
						require.True(t, ws.Stopped() && ws.StopSignal() == unix.SIGSTOP, "held at exec: status %#x", ws)
					}
					killed(tr.kill(t, false))
					if ws.Exited() { // held and continued before the kill, and reaped
						require.Zero(t, ws.ExitStatus())
						continue
					}
					waitExit(t, target.Process.Pid)
					require.NoError(t, target.Wait(), "continued: it ran to its end")
				}
			}

			// The next start removes the cgroups and temporary files the
			// dead left (those the kernel does not remove with them).
			next := exec.Command(plainBin, "exec", "-net", "--", "true")
			next.Env = append(os.Environ(), "TMPDIR="+tmp)
			out, err := next.CombinedOutput()
			require.NoError(t, err, "%s", out)
			for _, pid := range dead {
				require.Empty(t, tracerCgroups(t, pid), "cgroup of dead tracer %d", pid)
			}
			ents, err := os.ReadDir(tmp)
			require.NoError(t, err)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			require.Empty(t, names, "temporary files of dead tracers")
		})
	}
}

// 100 SIGKILLs at random instants of `tracep tls -p` over a storm of new
// binaries (copies of /bin/true, and now and then of a Go TLS program,
// which takes longer to probe): no process is ever left stopped.
func TestIntegrationSIGKILLTLSStorm(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	rng := killRand(t)
	tmp, bins := t.TempDir(), freshDir(t)
	wl := startWorkload(t, bins, 2, 1)
	held := 0
	const kills = 100
	for range kills {
		tr := startTracer(t, tmp, "tls", "-p", strconv.Itoa(wl.pid))
		tr.waitTracing(t)
		// The kill comes at a random instant, or sooner, the first time
		// a process is seen held: a new binary is probed in a few
		// milliseconds here, so a process is held at ~1 % of instants,
		// and 100 random instants alone missed them all every third run.
		until := time.Now().Add(time.Duration(rng.Int64N(int64(100 * time.Millisecond))))
		for time.Now().Before(until) {
			if len(stopped(t, wl.cg.Path())) > 0 {
				held++ // most likely still held at the kill
				break
			}
			time.Sleep(time.Millisecond)
		}
		d := tr.kill(t, false)
		for _, wd := range holdWatchdogs(t, d.pid) {
			waitExit(t, wd)
		}
		require.Empty(t, stopped(t, wl.cg.Path()), "processes left stopped")
	}
	t.Logf("%d of %d kills came while a process was held", held, kills)
	require.NotZero(t, held, "no kill came while a process was held: the storm does not exercise holding")
	require.False(t, processGone(wl.pid), "the traced processes ran on")
}
