package tlstrace_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// fdLinks returns the BPF links a process holds through its descriptors,
// by id, with the program each runs.
func fdLinks(t *testing.T, pid int) map[link.ID]ebpf.ProgramID {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fdinfo"
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[link.ID]ebpf.ProgramID{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var id, prog uint64
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch k {
			case "link_id":
				id, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			case "prog_id":
				prog, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			}
		}
		if id != 0 {
			out[link.ID(id)] = ebpf.ProgramID(prog)
		}
	}
	return out
}

// uprobeLinks returns every BPF link of the system that attaches one of
// progs as a uprobe (uprobe_multi, or a perf event).
func uprobeLinks(t *testing.T, progs map[ebpf.ProgramID]bool) map[link.ID]link.Type {
	t.Helper()
	out := map[link.ID]link.Type{}
	for id, info := range systemLinks(t) {
		if progs[info.Program] && (info.Type == link.UprobeMultiType || info.Type == link.PerfEventType) {
			out[id] = info.Type
		}
	}
	return out
}

// systemLinks returns every BPF link of the system. A link another process
// is creating when the walk reaches it is refused with EAGAIN until the
// kernel settles it; it cannot be the test's, and the walk starts over (a
// bounded number of times: packages' tests run side by side and attach
// links all the time).
func systemLinks(t *testing.T) map[link.ID]*link.Info {
	t.Helper()
	for attempt := 1; ; attempt++ {
		out := map[link.ID]*link.Info{}
		var it link.Iterator
		for it.Next() {
			if info, err := it.Link.Info(); err == nil {
				out[it.ID] = info
			}
		}
		err := it.Err()
		it.Close()
		if errors.Is(err, unix.EAGAIN) && attempt < 100 {
			continue
		}
		require.NoError(t, err)
		return out
	}
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

// A tracer killed with SIGKILL leaves no uprobe behind: its uprobes are
// BPF links owned by its file descriptors (none is written to tracefs), so
// the kernel removes them with the process.
func TestIntegrationKilledTracerLeavesNothing(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	if os.Getenv("TRACEP_TLS_HELPER") == "tracer" {
		helperTracer(t)
		return
	}
	before := uprobeEvents(t)

	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^TestIntegrationKilledTracerLeavesNothing$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TRACEP_TLS_HELPER=tracer")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); stdin.Close() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	// While it runs: every uprobe running its programs is a link held by
	// one of its descriptors.
	held := fdLinks(t, cmd.Process.Pid)
	progs := map[ebpf.ProgramID]bool{}
	for _, p := range held {
		progs[p] = true
	}
	probes := uprobeLinks(t, progs)
	require.GreaterOrEqual(t, len(probes), 2, "libssl's and libgnutls's uprobes")
	for id := range probes {
		require.Contains(t, held, id, "uprobe link %d not held by the tracer's descriptors", id)
	}
	require.Equal(t, before, uprobeEvents(t), "the tracer wrote to uprobe_events")

	require.NoError(t, cmd.Process.Signal(unix.SIGKILL))
	require.Error(t, cmd.Wait())

	// Its descriptors were closed as it exited: the links are gone.
	for id := range held {
		l, err := link.NewFromID(id)
		if err == nil {
			l.Close()
		}
		require.True(t, errors.Is(err, os.ErrNotExist), "link %d survives the tracer: %v", id, err)
	}
	require.Empty(t, uprobeLinks(t, progs))
	after := uprobeEvents(t)
	require.Equal(t, before, after)
	for _, lib := range []string{"libssl", "libgnutls"} {
		require.NotContains(t, after, lib)
	}
}

// helperTracer is the tracer process of TestIntegrationKilledTracerLeavesNothing:
// it opens a session, says so, and waits to be killed.
func helperTracer(t *testing.T) {
	s, err := tlstrace.Start(context.Background(), tlstrace.Config{Scope: tracep.Scope{PIDs: []int{os.Getpid()}}}, func(tracep.Event) {})
	require.NoError(t, err)
	defer s.Close()
	os.Stdout.WriteString("ready\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
