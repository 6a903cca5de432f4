package envtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// helperEnv, set in a helper process, is the kinds it traces with
// harness.Trace (comma-separated).
const helperEnv = "TRACEP_ENVTEST_KINDS"

var (
	// dir holds, readable by everyone, the tracep binary, a copy of this
	// test binary and the workload.
	dir       string
	tracepBin string
	testBin   string
	seq       atomic.Int64
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run())
	}
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup builds tracep and writes the workload into dir.
func setup() (int, error) {
	sweepNetns()
	var err error
	if dir, err = os.MkdirTemp("", "tracep-envtest-"); err != nil {
		return 1, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return 1, err
	}
	tracepBin, testBin = filepath.Join(dir, "tracep"), filepath.Join(dir, "envtest.test")
	out, err := exec.Command(goTool(), "build", "-o", tracepBin, "github.com/tracep/tracep/cmd/tracep").CombinedOutput()
	if err != nil {
		return 1, fmt.Errorf("go build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return 1, err
	}
	if err := os.WriteFile(testBin, b, 0o755); err != nil {
		return 1, err
	}
	return 0, writeWorkload(dir)
}

// goTool is the go command: from PATH, or beside the standard library
// this binary was built with (sudo's secure_path leaves Go out).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// environment is a place to run tracep in.
type environment struct {
	name string
	// wrap prepares the environment for one run and returns what runs
	// argv in it.
	wrap func(t *testing.T, argv []string) *exec.Cmd
	// kinds are the tracers to run there; nil for all.
	kinds []tracep.Kind
	// fails, when set, is the documented one-line error every run prints
	// instead of tracing (a substring of it), and notWant what that line
	// must not say.
	fails, notWant string
	// note is what a whole-system trace says it covers, when less than
	// the system.
	note string
	// caps, for a non-root user, are the capabilities it holds.
	caps []capability
	// like, when set, is an environment variable under which the host
	// traces as this environment must: a fallback's known difference.
	like string
}

// removeCgroupMounts is shell that unmounts every cgroup file system of
// the mount namespace it runs in (a private one) and checks none is left.
const removeCgroupMounts = `umount -R /sys/fs/cgroup 2>/dev/null; ` +
	`for m in $(awk '{for(i=7;i<=NF;i++) if($i=="-"){if($(i+1)~/^cgroup2?$/) print $5; break}}' /proc/self/mountinfo | sort -r); do umount -l "$m" || exit 97; done; ` +
	`if grep -q ' - cgroup' /proc/self/mountinfo; then echo cgroup mounts left >&2; exit 98; fi; `

// shell returns a command running script with argv as "$@".
func shell(prefix []string, script string, argv []string) *exec.Cmd {
	args := append(append(slices.Clone(prefix), "/bin/sh", "-c", script, "sh"), argv...)
	return exec.Command(args[0], args[1:]...)
}

// environments are the places every run of TestIntegrationEnvironments
// happens in.
func environments() []environment {
	return append(namespaceEnvironments, leastPrivilege()...)
}

var namespaceEnvironments = []environment{
	{
		name: "ip netns exec",
		wrap: func(t *testing.T, argv []string) *exec.Cmd {
			name := netnsName()
			run(t, "ip", "netns", "add", name)
			t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
			return shell([]string{"ip", "netns", "exec", name}, `ip link set lo up && exec "$@"`, argv)
		},
	},
	{
		name: "unshare -m without cgroup mounts",
		wrap: func(t *testing.T, argv []string) *exec.Cmd {
			return shell([]string{"unshare", "-m"}, removeCgroupMounts+`exec "$@"`, argv)
		},
	},
	{
		name: "cgroup2 at an unusual place",
		wrap: func(t *testing.T, argv []string) *exec.Cmd {
			mnt := t.TempDir()
			return shell([]string{"unshare", "-m"}, removeCgroupMounts+`mount -t cgroup2 none "`+mnt+`" && exec "$@"`, argv)
		},
	},
	{
		name: "pure cgroup v2",
		wrap: func(t *testing.T, argv []string) *exec.Cmd {
			return shell([]string{"unshare", "-m"}, removeCgroupMounts+`mount -t cgroup2 none /sys/fs/cgroup && exec "$@"`, argv)
		},
	},
	{
		// A cgroup namespace rooted below the top, whose initial one is
		// reachable (/proc/1 is the host's init): whole-system traces
		// still cover the system.
		name: "unshare -C",
		wrap: func(t *testing.T, argv []string) *exec.Cmd {
			cmd := exec.Command("unshare", append([]string{"-C"}, argv...)...)
			inCgroup(t, cmd)
			return cmd
		},
	},
	{
		// As a container: its own mount, pid, network and cgroup
		// namespaces (rooted below the top), /proc of its pid namespace,
		// and a read-only cgroup2 mount.
		name: "container-like sandbox",
		wrap: func(t *testing.T, argv []string) *exec.Cmd {
			cmd := shell([]string{"unshare", "--mount", "--pid", "--net", "--cgroup", "--fork", "--mount-proc"},
				removeCgroupMounts+`mount -t cgroup2 -o ro none /sys/fs/cgroup && ip link set lo up && "$@"`, argv)
			inCgroup(t, cmd)
			return cmd
		},
		note: "of the processes of tracep's pid namespace and the processes of tracep's cgroup namespace",
	},
	{
		name: "unshare -U -r",
		wrap: func(t *testing.T, argv []string) *exec.Cmd {
			return exec.Command("unshare", append([]string{"-U", "-r"}, argv...)...)
		},
		fails:   "(or CAP_SYS_ADMIN) in the initial user namespace (tracep runs in a user namespace",
		notWant: "MEMLOCK",
	},
	{
		name:  "TRACEP_DISABLE=uprobe_multi",
		wrap:  withEnv("TRACEP_DISABLE=uprobe_multi"),
		kinds: []tracep.Kind{tracep.KindTLS},
	},
	{
		// Raw tracepoints stand in for exec, dns and tls.
		name:  "TRACEP_DISABLE=tp_btf",
		wrap:  withEnv("TRACEP_DISABLE=tp_btf"),
		kinds: []tracep.Kind{tracep.KindExec, tracep.KindDNS},
	},
	{
		// tls, without the socket tracepoints' programs (they need a tp_btf
		// helper), traces as on a kernel without those tracepoints.
		name:  "TRACEP_DISABLE=tp_btf for tls",
		wrap:  withEnv("TRACEP_DISABLE=tp_btf"),
		kinds: []tracep.Kind{tracep.KindTLS},
		like:  "TRACEP_DISABLE=tp_sock_send_length",
	},
	{
		name:  "TRACEP_DISABLE=tp_sock_send_length for net",
		wrap:  withEnv("TRACEP_DISABLE=tp_sock_send_length"),
		kinds: []tracep.Kind{tracep.KindNet},
		fails: "trace net: needs the sock:sock_send_length and sock_recv_length tracepoints (Linux 6.3), disabled by TRACEP_DISABLE",
	},
	{
		// Not for net: its tracepoints name sockets with a tp_btf helper.
		name:  "TRACEP_DISABLE=tp_btf for net",
		wrap:  withEnv("TRACEP_DISABLE=tp_btf"),
		kinds: []tracep.Kind{tracep.KindNet},
		fails: "trace net: needs BTF-typed raw tracepoint programs (tp_btf) (Linux 5.5), disabled by TRACEP_DISABLE",
	},
}

// capability is a Linux capability, by number and name.
type capability struct {
	n    uintptr
	name string
}

var (
	capDacOverride       = capability{1, "CAP_DAC_OVERRIDE"}
	capKill              = capability{5, "CAP_KILL"}
	capNetAdmin          = capability{12, "CAP_NET_ADMIN"}
	capSysPtrace         = capability{19, "CAP_SYS_PTRACE"}
	capPerfmon           = capability{38, "CAP_PERFMON"}
	capBPF               = capability{39, "CAP_BPF"}
	capCheckpointRestore = capability{40, "CAP_CHECKPOINT_RESTORE"}
)

// documentedCaps are the capabilities each tracer needs, as README's
// Security section says; running a command also needs CAP_DAC_OVERRIDE
// (to make a cgroup at the root of the hierarchy).
var documentedCaps = map[tracep.Kind][]capability{
	tracep.KindExec: {capBPF, capPerfmon},
	tracep.KindNet:  {capBPF, capPerfmon, capNetAdmin},
	tracep.KindDNS:  {capBPF, capPerfmon, capNetAdmin},
	tracep.KindTLS:  {capBPF, capPerfmon, capSysPtrace, capKill, capCheckpointRestore},
}

// leastPrivilege are, for each tracer, the environments of a non-root
// user holding (as ambient capabilities) exactly the documented ones, and
// one fewer: that one is then named.
//
// In a cgroup v2 subtree delegated to its user, the user needs no
// CAP_DAC_OVERRIDE to run commands: tracep makes their cgroups there.
func leastPrivilege() []environment {
	var out []environment
	for _, k := range backends.Kinds() {
		name := func(cs []capability) string { return fmt.Sprintf("%s as nobody with %s", k, capNames(cs)) }
		all := append(slices.Clone(documentedCaps[k]), capDacOverride)
		out = append(out, environment{name: name(all), kinds: []tracep.Kind{k}, caps: all, wrap: asNobody(all, false)})
		for i, c := range all {
			less := slices.Delete(slices.Clone(all), i, i+1)
			out = append(out, environment{name: name(less), kinds: []tracep.Kind{k}, caps: less,
				wrap: asNobody(less, false), fails: "needs " + c.name})
		}
		out = append(out, environment{name: name(documentedCaps[k]) + " in a delegated cgroup", kinds: []tracep.Kind{k},
			caps: documentedCaps[k], wrap: asNobody(documentedCaps[k], true)})
	}
	return out
}

func capNames(cs []capability) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = strings.TrimPrefix(c.name, "CAP_")
	}
	return strings.Join(names, ",")
}

// asNobody runs argv as the user nobody holding caps; with delegated, in
// a cgroup of its own delegated to nobody.
func asNobody(caps []capability, delegated bool) func(*testing.T, []string) *exec.Cmd {
	return func(t *testing.T, argv []string) *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		if delegated {
			path := inCgroup(t, cmd)
			// What delegating a subtree to a user changes (cgroup-v2.rst,
			// "Delegation Containment"): the directory and these files.
			for _, f := range []string{"", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"} {
				require.NoError(t, os.Chown(filepath.Join(path, f), tracetest.NobodyUID, tracetest.NobodyUID))
			}
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: tracetest.NobodyUID, Gid: tracetest.NobodyUID}
		for _, c := range caps {
			cmd.SysProcAttr.AmbientCaps = append(cmd.SysProcAttr.AmbientCaps, c.n)
		}
		return cmd
	}
}

// withEnv runs argv with the environment variables vars added.
func withEnv(vars ...string) func(*testing.T, []string) *exec.Cmd {
	return func(t *testing.T, argv []string) *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), vars...)
		return cmd
	}
}

// Every command and harness.Trace, in every environment, trace the
// workload exactly as on the host, or fail with the environment's one-line
// error.
func TestIntegrationEnvironments(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "running tracep in namespaces")
	for _, tool := range []string{"ip", "unshare", "umount", "mount", "awk", "/usr/bin/python3"} {
		tracetest.RequireTool(t, tool)
	}
	type traces struct{ cli, harness map[tracep.Kind]string }
	refs := map[string]traces{}
	for _, e := range environments() {
		if _, ok := refs[e.like]; !ok {
			var r traces
			r.cli, r.harness = hostTraces(t, e.like)
			refs[e.like] = r
		}
	}
	for _, e := range environments() {
		host, hostHarness := refs[e.like].cli, refs[e.like].harness
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			kinds := e.kinds
			if kinds == nil {
				kinds = backends.Kinds()
			}
			p := mustPorts(t)
			for _, k := range kinds {
				t.Run("tracep "+string(k), func(t *testing.T) {
					out, stderr, err := runCmd(e.wrap(t, cliArgv(k, p)), p)
					if e.fails != "" {
						requireOneLineError(t, err, stderr, e.fails, e.notWant)
						return
					}
					require.NoError(t, err, "%s", stderr)
					evs, derr := tracep.ReadAll(strings.NewReader(out))
					require.NoError(t, derr)
					requireNoLoss(t, evs)
					require.Equal(t, host[k], normalize(evs, k, p), "stderr: %s", stderr)
				})
			}
			t.Run("harness.Trace", func(t *testing.T) {
				out, stderr, err := runCmd(e.wrap(t, helperArgv(kinds)), p)
				if e.fails != "" {
					require.Error(t, err)
					require.Contains(t, out+stderr, e.fails)
					if e.notWant != "" {
						require.NotContains(t, out+stderr, e.notWant)
					}
					return
				}
				require.NoError(t, err, "%s\n%s", out, stderr)
				evs := helperEvents(t, out)
				for _, k := range kinds {
					require.Equal(t, hostHarness[k], normalize(evs, k, p), "%s", k)
				}
			})
			t.Run("tracep doctor", func(t *testing.T) { doctor(t, e, kinds) })
			if e.fails == "" && e.caps == nil && slices.Contains(kinds, tracep.KindNet) {
				t.Run("whole system", func(t *testing.T) { wholeSystem(t, e) })
			}
		})
	}
}

// hostTraces traces the workload on the host (with the environment
// variable like, when set), each kind with its command and all with
// harness.Trace, and returns the normalized traces of each kind: what
// every environment must match.
func hostTraces(t *testing.T, like string) (cli, viaHarness map[tracep.Kind]string) {
	t.Helper()
	p := mustPorts(t)
	host := func(argv []string) *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		if like != "" {
			cmd.Env = append(os.Environ(), like)
		}
		return cmd
	}
	out := map[tracep.Kind]string{}
	for _, k := range backends.Kinds() {
		if like != "" && k == tracep.KindNet {
			continue // what like disables net needs
		}
		stdout, stderr, err := runCmd(host(cliArgv(k, p)), p)
		require.NoError(t, err, "%s", stderr)
		evs, err := tracep.ReadAll(strings.NewReader(stdout))
		require.NoError(t, err)
		requireNoLoss(t, evs)
		out[k] = normalize(evs, k, p)
		require.NotEmpty(t, out[k], "%s: no events on the host", k)
	}
	// What each kind must have seen, so that equal traces are not equally
	// empty.
	require.Contains(t, out[tracep.KindExec], "exec /usr/bin/python3")
	require.Contains(t, out[tracep.KindExec], "exec /usr/bin/uname")
	require.Contains(t, out[tracep.KindDNS], "wl.example.test")
	require.Contains(t, out[tracep.KindTLS], "ping from the workload")
	kinds := backends.Kinds()
	if like == "" {
		require.Contains(t, out[tracep.KindNet], "connect tcp → 127.0.0.1:TCP")
		require.Contains(t, out[tracep.KindTLS], "tls handshake wire sni=wl.test")
	} else {
		kinds = slices.DeleteFunc(slices.Clone(kinds), func(k tracep.Kind) bool { return k == tracep.KindNet })
	}

	stdout, stderr, err := runCmd(host(helperArgv(kinds)), p)
	require.NoError(t, err, "%s\n%s", stdout, stderr)
	evs := helperEvents(t, stdout)
	viaHarness = map[tracep.Kind]string{}
	for _, k := range kinds {
		viaHarness[k] = normalize(evs, k, p)
		// The harness sees what the commands do, and more (closes).
		for _, line := range strings.Split(strings.TrimSpace(out[k]), "\n") {
			require.Contains(t, viaHarness[k], line)
		}
	}
	return out, viaHarness
}

// doctor runs tracep doctor -j in environment e: the tracers of kinds work
// (and it exits 0 when they are all), or each says the environment's error.
func doctor(t *testing.T, e environment, kinds []tracep.Kind) {
	out, stderr, err := runCmd(e.wrap(t, []string{tracepBin, "doctor", "-j"}), ports{})
	var d backends.Diagnosis
	require.NoError(t, json.Unmarshal([]byte(out), &d), "%s%s", out, stderr)
	for _, td := range d.Tracers {
		if !slices.Contains(kinds, td.Kind) {
			continue
		}
		if e.fails != "" {
			require.False(t, td.Works, "%s", td.Kind)
			require.Contains(t, td.Because, e.fails)
			require.NotEmpty(t, td.Fix)
			continue
		}
		require.True(t, td.Works, "%s: %s", td.Kind, td.Because)
	}
	require.Equal(t, d.AllWork(), err == nil, "exit status 0 when every tracer works: %v\n%s", err, out)
	if e.kinds == nil && e.fails == "" && e.caps == nil {
		require.True(t, d.AllWork(), "%s", out)
	}
	for _, f := range d.Features {
		require.Equal(t, strings.Contains(e.name, "TRACEP_DISABLE="+f.Name), f.Disabled, "%+v", f)
	}
}

// cliArgv is tracep's command line tracing the workload with kind k.
func cliArgv(k tracep.Kind, p ports) []string {
	argv := []string{tracepBin, string(k), "-j"}
	if k == tracep.KindDNS {
		argv = append(argv, "-ports", strconv.Itoa(p.dns))
	}
	return append(append(argv, "--"), workloadArgv(dir)...)
}

// helperArgv runs TestHelperHarness tracing kinds.
func helperArgv(kinds []tracep.Kind) []string {
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	return []string{"/usr/bin/env", helperEnv + "=" + strings.Join(ks, ","), tracetest.RequirePrivilegedEnv + "=1",
		testBin, "-test.run=^TestHelperHarness$", "-test.v", "-test.count=1"}
}

// runCmd runs cmd with the workload's ports (unless zero) and returns its
// output.
func runCmd(cmd *exec.Cmd, p ports) (stdout, stderr string, err error) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if p != (ports{}) {
		cmd.Env = append(cmd.Env, p.env()...)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

const beginEvents, endEvents = "--- events", "--- end of events"

// TestHelperHarness is the harness.Trace of the environment tests: it
// traces the workload and prints the events as JSON lines.
func TestHelperHarness(t *testing.T) {
	list := os.Getenv(helperEnv)
	if list == "" {
		t.Skip("run by TestIntegrationEnvironments")
	}
	var kinds []tracep.Kind
	for _, k := range strings.Split(list, ",") {
		kinds = append(kinds, tracep.Kind(k))
	}
	p, err := portsFromEnv()
	require.NoError(t, err)
	argv := workloadArgv(filepath.Dir(os.Args[0]))
	c := harness.Trace(t, exec.Command(argv[0], argv[1:]...), harness.Kinds(kinds...),
		harness.Tracers(backends.Config{DNS: dnstrace.Config{Ports: []uint16{uint16(p.dns)}}}))
	require.Zero(t, c.ExitCode)
	var b bytes.Buffer
	enc := tracep.NewEncoder(&b)
	for _, ev := range c.Events {
		require.NoError(t, enc.Encode(ev))
	}
	fmt.Printf("%s\n%s%s\n", beginEvents, b.String(), endEvents)
}

// helperEvents reads the events TestHelperHarness printed.
func helperEvents(t *testing.T, out string) []tracep.Event {
	t.Helper()
	_, rest, ok := strings.Cut(out, beginEvents+"\n")
	require.True(t, ok, "%s", out)
	body, _, ok := strings.Cut(rest, endEvents)
	require.True(t, ok, "%s", out)
	evs, err := tracep.ReadAll(strings.NewReader(body))
	require.NoError(t, err)
	requireNoLoss(t, evs)
	return evs
}

func requireNoLoss(t *testing.T, evs []tracep.Event) {
	t.Helper()
	for _, ev := range evs {
		if ev.Trace != nil {
			require.NotEqual(t, tracep.NoteLost, ev.Trace.Op, "%s", ev.Trace.Text())
		}
	}
}

// requireOneLineError checks that a run failed with exit status 1 and one
// line on stderr containing want and not notWant.
func requireOneLineError(t *testing.T, err error, stderr, want, notWant string) {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", stderr)
	require.Equal(t, 1, ee.ExitCode(), "%s", stderr)
	require.Equal(t, 1, strings.Count(strings.TrimRight(stderr, "\n"), "\n")+1, "one line: %q", stderr)
	require.Contains(t, stderr, want)
	if notWant != "" {
		require.NotContains(t, stderr, notWant)
	}
}

// wholeSystem traces the whole system with tracep net in environment e
// while the workload runs there: its connection is seen; and either a
// connection of this process, outside the environment's namespaces, is
// seen too, or a scope note in the stream and on stderr says what the
// trace covers.
func wholeSystem(t *testing.T, e environment) {
	p := mustPorts(t)
	ln := tracetest.ListenTCP(t, "127.0.0.1:0", nil)
	// tracep net, then (once it is armed) the workload, in the environment.
	script := `"$@" & tracer=$!; read armed <"$ARMED"; ` + strings.Join(quote(workloadArgv(dir)), " ") +
		`; kill -INT $tracer; wait $tracer`
	fifo := filepath.Join(t.TempDir(), "armed")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	cmd := e.wrap(t, []string{"/bin/sh", "-c", script, "sh", tracepBin, "net", "-j"})
	cmd.Env = append(append(cmdEnv(cmd), p.env()...), "ARMED="+fifo)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	var out bytes.Buffer
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var errText strings.Builder
	armed := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stderr)
		once := false
		for s.Scan() {
			errText.WriteString(s.Text() + "\n")
			if !once && strings.Contains(s.Text(), "Ctrl-C to stop") {
				once = true
				close(armed)
			}
		}
		if !once {
			close(armed)
		}
	}()
	<-armed
	// A connection of this process, from outside the environment.
	c, err := net.Dial("tcp", ln.String())
	require.NoError(t, err)
	c.Close()
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = f.WriteString("go\n")
	f.Close()
	require.NoError(t, cmd.Wait(), "%s", errText.String())
	evs, err := tracep.ReadAll(&out)
	require.NoError(t, err)
	var sawWorkload, sawOutside bool
	var note *tracep.Note
	for _, ev := range evs {
		switch {
		case ev.Trace != nil && ev.Trace.Op == tracep.NoteScope:
			note = ev.Trace
		case ev.Net != nil && ev.Net.Op == tracep.NetOpConnect && ev.Net.Dst.Port() == uint16(p.tcp):
			sawWorkload = true
		case ev.Net != nil && ev.Net.Op == tracep.NetOpConnect && ev.Net.Dst == ln:
			sawOutside = true
		}
	}
	require.True(t, sawWorkload, "the workload's connection: %s", errText.String())
	if e.note == "" {
		require.Nil(t, note, "the whole system is covered")
		require.True(t, sawOutside, "a connection outside the environment")
		return
	}
	require.NotNil(t, note, "a scope note")
	require.Contains(t, note.Detail, e.note)
	require.Contains(t, errText.String(), "trace scope: "+note.Detail)
}

// cmdEnv returns cmd's environment, the process's when unset.
func cmdEnv(cmd *exec.Cmd) []string {
	if cmd.Env != nil {
		return cmd.Env
	}
	return os.Environ()
}

func quote(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

func mustPorts(t *testing.T) ports {
	t.Helper()
	p, err := freePorts()
	require.NoError(t, err)
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
}

// netnsPrefix names the network namespaces these tests make, with the
// pid of the test process, so that a run killed before removing them has
// them removed by the next (sweepNetns).
const netnsPrefix = "tracep-envtest-"

func netnsName() string {
	return fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), seq.Add(1))
}

// sweepNetns removes the named network namespaces of test processes that
// no longer exist.
func sweepNetns() {
	ents, _ := os.ReadDir("/var/run/netns")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || unix.Kill(pid, 0) == nil || errors.Is(unix.Kill(pid, 0), unix.EPERM) {
			continue
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// inCgroup makes cmd start in a cgroup of its own (so that a cgroup
// namespace it makes is rooted below the top), removed after the test, and
// returns its directory.
func inCgroup(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	root, err := cgroup.Mount()
	require.NoError(t, err)
	path := filepath.Join(root, fmt.Sprintf("tracep-envtest.%d.%d", os.Getpid(), seq.Add(1)))
	require.NoError(t, os.Mkdir(path, 0o755))
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() {
		unix.Close(fd)
		// Whatever the test left there, then the cgroup.
		_ = os.WriteFile(filepath.Join(path, "cgroup.kill"), []byte("1"), 0)
		waitEmpty(path)
		removeTree(path)
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	return path
}

// waitEmpty waits until the cgroup at path has no process left, for at
// most ten seconds, on the kernel's cgroup.events notifications.
func waitEmpty(path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fd, err := unix.Open(filepath.Join(path, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	buf := make([]byte, 256)
	for ctx.Err() == nil {
		n, err := unix.Pread(fd, buf, 0)
		if err != nil || !bytes.Contains(buf[:n], []byte("populated 1")) {
			return
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		_, _ = unix.Poll(fds, 1000)
	}
}

// removeTree removes a cgroup and the cgroups below it, deepest first.
func removeTree(path string) {
	var dirs []string
	_ = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
}
