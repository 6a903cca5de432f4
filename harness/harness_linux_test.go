package harness_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

func TestIntegrationTraceExecs(t *testing.T) {
	c := harness.Trace(t, exec.Command("sh", "-c", "uname; true"), harness.Kinds(tracep.KindExec))
	require.Zero(t, c.ExitCode)
	c.RequireExec(t, "sh", "-c", "uname; true")
	c.RequireExec(t, "uname")
	c.RequireNoExec(t, "curl")
	c.RequireOnlyExecs(t, "sh", "uname")
	require.NotZero(t, c.CgroupID)
	for i, ev := range c.Events {
		require.Equal(t, uint64(i+1), ev.Seq)
		require.Equal(t, c.CgroupID, ev.Proc.CgroupID, "every event comes from the command's cgroup")
		if i > 0 {
			require.LessOrEqual(t, c.Events[i-1].KTime, ev.KTime, "events are in kernel time order")
		}
	}
}

func TestIntegrationTraceExitStatusAndFailedExec(t *testing.T) {
	c := harness.Trace(t, exec.Command("sh", "-c", "/nonexistent/prog; exit 7"), harness.Kinds(tracep.KindExec))
	require.Equal(t, 7, c.ExitCode)
	m, err := harness.ParseMatcher("exec op=fail filename=/nonexistent/prog errno=ENOENT")
	require.NoError(t, err)
	require.Len(t, c.Find(m), 1, c.ExecTree())
	m, err = harness.ParseMatcher("exec op=exit exit_code=7 comm=sh")
	require.NoError(t, err)
	require.Len(t, c.Find(m), 1, c.ExecTree())
}

// Parallel traces in one test binary each see only their own processes;
// the BPF objects are shared, the scopes are not.
func TestIntegrationTraceParallel(t *testing.T) {
	for i := range 20 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			token := fmt.Sprintf("token-%d-%d", os.Getpid(), i)
			// Every tracer: 20 traces of 4 sessions need more slots than the
			// kernel side has, so some wait for others to finish.
			c := harness.Trace(t, exec.Command("sh", "-c", "echo "+token+" >/dev/null; /bin/echo "+token))
			c.RequireExec(t, "echo", token)
			for _, ev := range c.Execs() {
				args := strings.Join(ev.Exec.Argv, " ")
				require.Contains(t, args, token, "an exec from another trace leaked in: %s", ev)
			}
			for _, ev := range c.Events {
				require.Equal(t, c.CgroupID, ev.Proc.CgroupID, "an event from outside the trace: %s", ev)
			}
		})
	}
}

// A process started at the same moment outside the traced tree is not seen.
func TestIntegrationTraceExcludesOutsiders(t *testing.T) {
	outsider := exec.Command("sh", "-c", "for i in 1 2 3 4 5 6 7 8; do /bin/true outsider; done")
	require.NoError(t, outsider.Start())
	c := harness.Trace(t, exec.Command("sh", "-c", "for i in 1 2 3 4 5 6 7 8; do /bin/true insider; done"), harness.Kinds(tracep.KindExec))
	require.NoError(t, outsider.Wait())
	require.Len(t, c.FindExecs("true", "insider"), 8, c.ExecTree())
	c.RequireNoExec(t, "true", "outsider")
}

// A grandchild that outlives its parent stays in the cgroup and is traced;
// WaitAll keeps the trace open until it is done.
func TestIntegrationTraceDaemonisedGrandchild(t *testing.T) {
	// The grandchild waits for its parent to exit (tail --pid) before it
	// runs anything, so it really outlives it.
	script := `parent=$$; sh -c "tail --pid=$parent -s 0.01 -f /dev/null; exec /bin/echo grandchild-after-parent" >/dev/null 2>&1 & exit 0`
	c := harness.Trace(t, exec.Command("sh", "-c", script), harness.Kinds(tracep.KindExec), harness.WaitAll(0), harness.Timeout(30*time.Second))
	ev := c.RequireExec(t, "echo", "grandchild-after-parent")
	require.NotEmpty(t, c.Leftover, "the grandchild outlived the command")
	require.Len(t, c.Find(harness.MustMatcher("trace op=leftover action='waited for'")), 1)
	parent := c.FindExecs("sh", "-c", "parent=*")
	require.Len(t, parent, 1, c.ExecTree())
	exits, err := harness.ParseMatcher(fmt.Sprintf("exec op=exit pid=%d", parent[0].Proc.PID))
	require.NoError(t, err)
	parentExit := c.Find(exits)
	require.Len(t, parentExit, 1, c.ExecTree())
	require.Less(t, parentExit[0].KTime, ev.KTime, "the grandchild's exec came after its parent's exit")
}

// Without WaitAll, what the command leaves running is killed when it exits,
// and the trace does not wait for it.
func TestIntegrationTraceKillsLeftovers(t *testing.T) {
	start := time.Now()
	// The command exits once sleep has really exec'd (its comm says so), so
	// the kill cannot interrupt the exec itself.
	script := `sleep 600 & until [ "$(cat /proc/$!/comm)" = sleep ]; do :; done; exit 0`
	c := harness.Trace(t, exec.Command("sh", "-c", script), harness.Kinds(tracep.KindExec))
	require.Less(t, time.Since(start), 60*time.Second)
	sleep := c.RequireExec(t, "sleep", "600")
	m, err := harness.ParseMatcher(fmt.Sprintf("exec op=exit pid=%d signal=SIGKILL", sleep.Proc.PID))
	require.NoError(t, err)
	require.Len(t, c.Find(m), 1, c.ExecTree())
	// Not silently: the trace says what was killed.
	require.True(t, slices.ContainsFunc(c.Leftover, func(p tracep.Proc) bool { return p.PID == sleep.Proc.PID }), "%v", c.Leftover)
	left := c.Find(harness.MustMatcher("trace op=leftover action=killed"))
	require.Len(t, left, 1)
	require.Contains(t, left[0].String(), fmt.Sprintf("killed: sleep[%d]", sleep.Proc.PID))
}

// 2,000 short-lived processes, each with a unique argv token, spawned four
// at a time: every argv is captured exactly.
func TestIntegrationTrace2000Execs(t *testing.T) {
	const n = 2000
	script := fmt.Sprintf(`seq 1 %d | xargs -P4 -I{} /bin/true argv-token-{}-end`, n)
	c := harness.Trace(t, exec.Command("sh", "-c", script), harness.Kinds(tracep.KindExec))
	require.Zero(t, c.ExitCode)
	require.Zero(t, c.Lost)
	seen := map[string]int{}
	for _, ev := range c.FindExecs("true") {
		require.Len(t, ev.Exec.Argv, 2, ev)
		seen[ev.Exec.Argv[1]]++
	}
	for i := 1; i <= n; i++ {
		tok := fmt.Sprintf("argv-token-%d-end", i)
		require.Equal(t, 1, seen[tok], "argv %s captured %d times", tok, seen[tok])
	}
	require.Len(t, seen, n)
}

func TestIntegrationRunInNet(t *testing.T) {
	n, err := testnet.New(nil)
	if err != nil {
		harness.Trace(t, exec.Command("true")) // skips or fails on missing privilege
		t.Fatal(err)
	}
	defer n.Close()
	c := harness.Trace(t, exec.Command("getent", "hosts", "example.test"), harness.InNet(n), harness.Kinds(tracep.KindExec))
	require.Zero(t, c.ExitCode)
	c.RequireExec(t, "getent", "hosts", "example.test")
}

func TestIntegrationRunTimeout(t *testing.T) {
	c := harness.Trace(t, exec.Command("true"), harness.Kinds(tracep.KindExec)) // skip early without root
	require.NotNil(t, c)
	c, err := harness.Run(context.Background(), exec.Command("sleep", "600"), harness.Kinds(tracep.KindExec), harness.Timeout(200*time.Millisecond))
	require.ErrorContains(t, err, "timed out")
	require.NotNil(t, c)
	require.Equal(t, -1, c.ExitCode)
	c.RequireExec(t, "sleep", "600")
}

// firstArm is the arm time of the first trace of the process, which loads
// the BPF objects; it is first only when the benchmark runs alone, as in
// make bench (-run '^$').
var firstArm = sync.OnceValue(func() time.Duration {
	c, err := harness.Run(context.Background(), exec.Command("true"), harness.Kinds(tracep.KindExec))
	if err != nil {
		return -1
	}
	return c.Arm
})

// BenchmarkTraceArm reports how long arming takes: the first trace in a
// process loads the BPF objects, later ones only register their scope.
func BenchmarkTraceArm(b *testing.B) {
	first := firstArm()
	harness.Trace(b, exec.Command("true"), harness.Kinds(tracep.KindExec)) // skip without root
	var later time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		later += harness.Trace(b, exec.Command("true"), harness.Kinds(tracep.KindExec)).Arm
	}
	b.ReportMetric(float64(first.Microseconds())/1000, "first-arm-ms")
	b.ReportMetric(float64(later.Microseconds())/1000/float64(b.N), "later-arm-ms")
}

// BenchmarkTraceOverhead compares a traced short command with the same
// command run plainly.
func BenchmarkTraceOverhead(b *testing.B) {
	harness.Trace(b, exec.Command("true"), harness.Kinds(tracep.KindExec)) // load once
	var plain, traced time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		require.NoError(b, exec.Command("true").Run())
		plain += time.Since(start)
		start = time.Now()
		harness.Trace(b, exec.Command("true"), harness.Kinds(tracep.KindExec))
		traced += time.Since(start)
	}
	b.ReportMetric(float64(plain.Microseconds())/1000/float64(b.N), "plain-ms")
	b.ReportMetric(float64(traced.Microseconds())/1000/float64(b.N), "traced-ms")
	b.ReportMetric(float64((traced-plain).Microseconds())/1000/float64(b.N), "added-ms")
}

// BenchmarkTraceBuild compares `go build` of a small module (recompiling
// its main package and linking: a few dozen processes) traced by every
// tracer with the same build untraced.
func BenchmarkTraceBuild(b *testing.B) {
	harness.Trace(b, exec.Command("true")) // skip without root; load once
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.Skip("needs the go command")
	}
	dir := b.TempDir()
	cache := b.TempDir()
	require.NoError(b, os.WriteFile(dir+"/go.mod", []byte("module example.test/hello\n\ngo 1.22\n"), 0o644))
	build := func(i int) *exec.Cmd {
		src := fmt.Sprintf("package main\n\nimport (\n\t\"fmt\"\n\t\"net/http\"\n)\n\nfunc main() { fmt.Println(%d, http.StatusOK) }\n", i)
		require.NoError(b, os.WriteFile(dir+"/main.go", []byte(src), 0o644))
		cmd := exec.Command(goBin, "build", "-o", dir+"/hello", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOCACHE="+cache, "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		return cmd
	}
	out, err := build(-1).CombinedOutput() // warm the cache with the dependencies
	require.NoError(b, err, "%s", out)
	// A build's wall time varies by several percent from run to run here,
	// so each iteration alternates several plain and traced builds.
	const pairs = 6
	var plain, traced time.Duration
	var events int
	b.ResetTimer()
	for i := 0; i < b.N*pairs; i++ {
		start := time.Now()
		out, err := build(2 * i).CombinedOutput()
		require.NoError(b, err, "%s", out)
		plain += time.Since(start)
		start = time.Now()
		c := harness.Trace(b, build(2*i+1))
		traced += time.Since(start)
		require.Zero(b, c.ExitCode)
		events += len(c.Events)
	}
	n := float64(b.N * pairs)
	b.ReportMetric(plain.Seconds()/n, "plain-s")
	b.ReportMetric(traced.Seconds()/n, "traced-s")
	b.ReportMetric(100*(traced-plain).Seconds()/plain.Seconds(), "overhead-%")
	b.ReportMetric(float64(events)/n, "events")
}

// A long trace consumed live keeps nothing (Discard); a bound on what is
// kept ends the trace with a clear error rather than memory without end.
func TestIntegrationDiscardAndMaxEvents(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	script := `for i in $(seq 50); do /bin/true; done`
	seen := 0
	c, err := harness.Run(tracetest.Context(t), exec.Command("sh", "-c", script), harness.Kinds(tracep.KindExec),
		harness.Discard(), harness.OnEvent(func(tracep.Event) { seen++ }))
	require.NoError(t, err)
	require.Empty(t, c.Events)
	require.GreaterOrEqual(t, seen, 100, "exec and exit of each true")

	c, err = harness.Run(tracetest.Context(t), exec.Command("sh", "-c", `while :; do /bin/true; done`), harness.Kinds(tracep.KindExec), harness.MaxEvents(20))
	require.ErrorIs(t, err, harness.ErrTooManyEvents)
	require.Len(t, c.Events, 20)
}
