package main_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/tracep/tracetest"
)

// startTraced starts `tracep exec CMD` where CMD prints "ready" and then
// sleeps, and returns once the traced command has printed it: by then the
// probes are armed and the command runs in tracep's cgroup.
func startTraced(t *testing.T) (tracer *exec.Cmd, cgroupDir string, sleeper int) {
	t.Helper()
	tracer = exec.Command(tracepBin, "exec", "-f", "sh", "-c", "echo ready; exec sleep 1000")
	out, err := tracer.StderrPipe() // the command's output: tracep keeps stdout
	require.NoError(t, err)
	require.NoError(t, tracer.Start())
	t.Cleanup(func() { tracer.Process.Kill(); tracer.Wait() })
	r := bufio.NewReader(out)
	waitReady(t, r)
	go io.Copy(io.Discard, r)

	root, err := cgroup.Mount()
	require.NoError(t, err)
	dirs, err := filepath.Glob(filepath.Join(root, "tracep."+strconv.Itoa(tracer.Process.Pid)+".*"))
	require.NoError(t, err)
	require.Len(t, dirs, 1, "the traced command's cgroup")
	procs, err := os.ReadFile(filepath.Join(dirs[0], "cgroup.procs"))
	require.NoError(t, err)
	sleeper, err = strconv.Atoi(strings.TrimSpace(string(procs)))
	require.NoError(t, err, "one process, the sleep, in %q", procs)
	return tracer, dirs[0], sleeper
}

// waitReady reads r up to the traced command's "ready" line.
func waitReady(t *testing.T, r *bufio.Reader) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err, "tracer output ended before the command was ready")
		if line == "ready\n" {
			return
		}
	}
}

// bpfObjects lists the ids of the BPF programs and links pid holds.
func bpfObjects(t *testing.T, pid int) (progs, links []uint32) {
	t.Helper()
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(fdDir)
	require.NoError(t, err)
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		// anon_inode:bpf-prog, anon_inode:bpf-map, anon_inode:bpf_link
		if err != nil || !strings.HasPrefix(target, "anon_inode:bpf") {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "fdinfo", e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				continue
			}
			switch k {
			case "prog_id":
				if target == "anon_inode:bpf-prog" {
					progs = append(progs, uint32(id))
				}
			case "link_id":
				links = append(links, uint32(id))
			}
		}
	}
	return progs, links
}

// requireLinksGone checks that the links are gone. Their ids are freed
// as soon as the last descriptor closes, so this holds the moment the
// tracer has exited. Programs and maps go later, after an RCU grace period
// in which a detached link drops its last references, and attach to
// nothing once their links are gone, so they are not checked.
func requireLinksGone(t *testing.T, links []uint32) {
	t.Helper()
	for _, id := range links {
		l, err := link.NewFromID(link.ID(id))
		if err == nil {
			l.Close()
		}
		require.ErrorIs(t, err, os.ErrNotExist, "link %d outlived the tracer", id)
	}
}

func processGone(pid int) bool {
	// A zombie still answers kill(0); look at its state instead.
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

func TestIntegrationSignalsLeaveNothing(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			tracer, dir, sleeper := startTraced(t)
			progs, links := bpfObjects(t, tracer.Process.Pid)
			require.NotEmpty(t, progs, "the tracer holds its programs")
			require.NotEmpty(t, links, "and its links")

			require.NoError(t, tracer.Process.Signal(sig))
			err := tracer.Wait()
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "the traced command was killed, so tracep exits non-zero")

			require.NoDirExists(t, dir, "cgroup removed")
			require.True(t, processGone(sleeper), "the traced command was killed")
			requireLinksGone(t, links)
		})
	}
}

func TestIntegrationSIGKILLLeftoversRemovedAtNextStart(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	tracer, dir, sleeper := startTraced(t)
	_, links := bpfObjects(t, tracer.Process.Pid)

	require.NoError(t, tracer.Process.Kill())
	_ = tracer.Wait()
	// The kernel released everything the tracer held by file descriptor…
	requireLinksGone(t, links)
	// …the cgroup's watchdog killed the command…
	waitExit(t, sleeper)
	// …and the next tracep to start removes the cgroup, a directory.
	out, err := exec.Command(tracepBin, "exec", "true").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoDirExists(t, dir)
}

// tracep exec -p follows the given process and its descendants, and
// nothing else.
func TestIntegrationExecPIDScope(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	// The target blocks on its stdin until the tracer is armed.
	target := exec.Command("sh", "-c", "read line; /bin/echo inside-token; sh -c '/bin/echo grandchild-token'")
	in, err := target.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, target.Start())
	t.Cleanup(func() { target.Process.Kill(); target.Wait() })

	tracer := exec.Command(tracepBin, "exec", "-f", "-p", strconv.Itoa(target.Process.Pid))
	var out strings.Builder
	tracer.Stdout = &out
	errs, err := tracer.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, tracer.Start())
	t.Cleanup(func() { tracer.Process.Kill(); tracer.Wait() })
	line, err := bufio.NewReader(errs).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "tracing pid "+strconv.Itoa(target.Process.Pid)+" and descendants")

	// An outsider runs at the same time.
	require.NoError(t, exec.Command("/bin/echo", "outside-token").Run())
	_, err = in.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, target.Wait())

	require.NoError(t, tracer.Process.Signal(syscall.SIGINT))
	require.NoError(t, tracer.Wait(), "SIGINT ends a -p trace cleanly")
	require.Regexp(t, `(?m)^[0-9]+ /bin/echo inside-token$`, out.String())
	require.Regexp(t, `(?m)^[0-9]+ /bin/echo grandchild-token$`, out.String())
	require.NotContains(t, out.String(), "outside-token")
}

// tracep's exit does not wait for its uprobes' detach (the kernel's grace
// periods, 60-100 ms here): it hands their links to a child process that
// releases them after it. Nothing outlives that child.
func TestIntegrationUprobesHandedOffAtExit(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	tracer := exec.Command(tracepBin, "tls", "sh", "-c", "echo ready; read line")
	tracer.Env = append(os.Environ(), "TRACEP_STARTUP=1")
	in, err := tracer.StdinPipe()
	require.NoError(t, err)
	out, err := tracer.StderrPipe() // the command's output and the start-up trace
	require.NoError(t, err)
	require.NoError(t, tracer.Start())
	t.Cleanup(func() { tracer.Process.Kill(); tracer.Wait() })
	r := bufio.NewReader(out)
	waitReady(t, r)
	_, links := bpfObjects(t, tracer.Process.Pid)
	var uprobes []uint32
	for _, id := range links {
		l, err := link.NewFromID(link.ID(id))
		if err != nil {
			continue
		}
		if info, err := l.Info(); err == nil && info.Type == link.UprobeMultiType {
			uprobes = append(uprobes, id)
		}
		l.Close()
	}
	require.NotEmpty(t, uprobes, "the system's TLS libraries are probed (curl's libssl)")

	_, err = in.Write([]byte("go\n"))
	require.NoError(t, err)
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, tracer.Wait(), "%s", rest)
	// The child releases them as it exits (its cmdline is gone by then).
	m := regexp.MustCompile(`tracep startup: .* \d+ uprobe links handed to child (\d+) to detach`).FindStringSubmatch(string(rest))
	require.NotNil(t, m, "no hand-off in the start-up trace:\n%s", rest)
	child, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	waitExit(t, child)
	requireLinksGone(t, uprobes)
}
