package harness_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/harness"
)

// resolveAndConnect looks up five names at once with Go's own resolver
// (A and AAAA of each in parallel, a UDP socket per query), then connects
// to two of the addresses at once.
const resolveAndConnect = `package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
)

func main() {
	names := []string{"example.test", "pki.test", "v4.test", "v6.test", "mail.example.test"}
	r := &net.Resolver{PreferGo: true}
	addrs := make([][]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			a, err := r.LookupHost(context.Background(), name)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			addrs[i] = a
		})
	}
	wg.Wait()
	for _, i := range []int{0, 1} {
		wg.Go(func() {
			c, err := net.Dial("tcp", net.JoinHostPort(addrs[i][0], "80"))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			c.Close()
		})
	}
	wg.Wait()
}
`

// parallelGetaddrinfo calls glibc's getaddrinfo from three threads at once.
const parallelGetaddrinfo = `
import socket, threading
names = ["example.test", "www.example.test", "v6.test"]
threads = [threading.Thread(target=socket.getaddrinfo, args=(n, 80), kwargs={"type": socket.SOCK_STREAM}) for n in names]
for t in threads: t.start()
for t in threads: t.join()
`

// buildGo builds the Go program src into a fresh directory and returns
// the binary's path.
func buildGo(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module prog\n\ngo 1.25\n"), 0o644))
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// Fifty consecutive runs of each workload (parallel lookups and connects
// of a Go program, glibc's getaddrinfo from one thread and from several,
// a shell pipeline) have one normal form: the golden file the first run
// writes is what every other run produces.
func TestIntegrationGoldenStableAcrossRuns(t *testing.T) {
	n := testnet.NewT(t, nil)
	prog := buildGo(t, resolveAndConnect)
	script := filepath.Join(t.TempDir(), "lookup.py")
	require.NoError(t, os.WriteFile(script, []byte(parallelGetaddrinfo), 0o644))
	python, err := exec.LookPath("python3")
	if _, statErr := os.Stat("/usr/bin/python3"); statErr == nil {
		python, err = "/usr/bin/python3", nil // not a version manager's shim script
	}
	require.NoError(t, err, "needs python3")

	const runs = 50
	for _, w := range []struct {
		name string
		argv []string
		want []string // lines the form must have
		not  []string // lines it must not have
	}{
		{"go-resolver", []string{prog},
			[]string{
				"p1 exec $TMPDIR/TestIntegrationGoldenStableAcrossRuns*/001/prog: $TMPDIR/TestIntegrationGoldenStableAcrossRuns*/001/prog\n" +
					"p1 dns A example.test → NOERROR [A 192.0.2.10]\np1 dns AAAA example.test → NOERROR [AAAA 2001:db8::10]\n" +
					"p1 dns A mail.example.test → NOERROR [A 192.0.2.11]\n",
				"p1 connect tcp → [2001:db8::10]:80\np1 close tcp → [2001:db8::10]:80\n",
				"p1 dns AAAA v6.test → NOERROR [AAAA 2001:db8::60]\n"},
			[]string{"udp"}},
		{"getent", []string{"getent", "ahosts", "example.test", "v4.test"},
			[]string{"p1 dns A example.test → NOERROR [A 192.0.2.10]\np1 dns AAAA example.test → NOERROR [AAAA 2001:db8::10]\n" +
				"p1 dns A v4.test → NOERROR [A 192.0.2.60]\np1 dns AAAA v4.test → NOERROR []\np1 exit status 0\n"},
			[]string{"udp"}},
		{"python-threads", []string{python, script},
			[]string{"p1 dns A www.example.test → NOERROR [A 192.0.2.10, CNAME example.test]\n"},
			[]string{"udp"}},
		{"pipeline", []string{"sh", "-c", "echo x | tr x y | cat"},
			[]string{"p2 exec /usr/bin/cat: cat\np2 exit status 0\np3 exec /usr/bin/tr: tr x y\np3 exit status 0\np4 exit status 0\n"},
			nil},
	} {
		t.Run(w.name, func(t *testing.T) {
			golden := filepath.Join(t.TempDir(), w.name+".golden")
			differ := 0
			var first string
			for i := range runs {
				var out strings.Builder
				cmd := n.Command(w.argv[0], w.argv[1:]...)
				cmd.Stdout, cmd.Stderr = &out, &out
				c := harness.Trace(t, cmd, harness.InNet(n))
				require.Zero(t, c.ExitCode, "run %d: %s", i, out.String())
				if i == 0 {
					t.Setenv(harness.UpdateGoldenEnv, "1")
					c.RequireGolden(t, golden)
					t.Setenv(harness.UpdateGoldenEnv, "")
					first = harness.Normalize(c.Events)
					continue
				}
				ft := &recordingTB{TB: t}
				c.RequireGolden(ft, golden)
				if ft.failed {
					differ++
					t.Errorf("run %d of %d: %s", i+1, runs, ft.msg)
				}
			}
			t.Logf("%d of %d runs differ from the golden file the first one wrote:\n%s", differ, runs-1, first)
			for _, l := range w.want {
				require.Contains(t, first, l)
			}
			for _, l := range w.not {
				require.NotContains(t, first, l)
			}
		})
	}
}

// recordingTB takes a failure instead of failing the test.
type recordingTB struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
}
func (r *recordingTB) FailNow() {}
