package main_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// Into a pipe, lines are batched, yet each reaches the reader while the
// tracer runs on: the batch is flushed once the tracer has caught up, with
// no timer of its own. Following a running process (-p) and running the
// command (harness), each reading the line of a program the shell runs on
// cue.
func TestIntegrationLinesReachAPipeLive(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	const shell = `while read -r line; do /bin/echo "$line"; done`
	for _, args := range [][]string{{"exec", "-p"}, {"run", "-p"}, {"exec", "--"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cueR, cue, err := os.Pipe()
			require.NoError(t, err)
			t.Cleanup(func() { cueR.Close(); cue.Close() })
			argv := append([]string{args[0], "-j"}, args[1:]...)
			if args[1] == "-p" {
				sh := exec.Command("sh", "-c", shell)
				sh.Stdin = cueR
				require.NoError(t, sh.Start())
				t.Cleanup(func() { _ = sh.Process.Kill(); _ = sh.Wait() })
				argv = append(argv, strconv.Itoa(sh.Process.Pid))
			} else {
				argv = append(argv, "sh", "-c", shell)
			}

			r, w, err := os.Pipe()
			require.NoError(t, err)
			defer r.Close()
			tracer := exec.Command(tracepBin, argv...)
			tracer.Stdin, tracer.Stdout = cueR, w
			var stderr tracetest.Buffer
			tracer.Stderr = &stderr
			require.NoError(t, tracer.Start())
			w.Close()
			t.Cleanup(func() { _ = tracer.Process.Kill(); _ = tracer.Wait() })
			if args[1] == "-p" {
				stderr.WaitFor(t, "Ctrl-C to stop")
			}

			events := tracep.NewDecoder(r)
			for _, word := range []string{"first", "second"} {
				_, err := io.WriteString(cue, word+"\n")
				require.NoError(t, err)
				// A guard against a line that never comes, not a wait.
				require.NoError(t, r.SetReadDeadline(time.Now().Add(30*time.Second)))
				for {
					ev, err := events.Decode()
					require.NoError(t, err, "no line for %q while the tracer runs: %s", word, stderr.String())
					if ev.Exec != nil && len(ev.Exec.Argv) == 2 && ev.Exec.Argv[1] == word {
						break
					}
				}
			}
			if args[1] == "-p" {
				require.NoError(t, tracer.Process.Signal(syscall.SIGINT))
			} else {
				cue.Close() // the shell's loop ends, and the command with it
			}
			require.NoError(t, tracer.Wait(), stderr.String())
		})
	}
}

// Loss is said while the tracer runs, with the events that follow it: a
// tracer stopped while its process storms loses events, and once it runs
// again the note comes before Ctrl-C, with no timer of its own.
func TestIntegrationLossIsSaidLive(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing")
	dir := t.TempDir()
	goOn, done := fifo(t, dir, "go"), fifo(t, dir, "done")
	// Records of 30 KB each: a few hundred fill the kernel's ring.
	storm := exec.Command("sh", "-c", `read x <`+goOn+`; long=$(head -c 30000 /dev/zero | tr '\0' a); `+
		`i=0; while [ $i -lt 1000 ]; do /bin/true "$long"; i=$((i+1)); done; echo done >`+done+`; sleep 3600`)
	require.NoError(t, storm.Start())
	t.Cleanup(func() { _ = storm.Process.Kill(); _ = storm.Wait() })

	tracer := exec.Command(tracepBin, "exec", "-o", filepath.Join(dir, "trace.txt"), "-p", strconv.Itoa(storm.Process.Pid))
	var stderr tracetest.Buffer
	tracer.Stderr = &stderr
	require.NoError(t, tracer.Start())
	t.Cleanup(func() { _ = tracer.Process.Signal(syscall.SIGCONT); _ = tracer.Process.Kill(); _ = tracer.Wait() })
	stderr.WaitFor(t, "Ctrl-C to stop")
	require.NoError(t, tracer.Process.Signal(syscall.SIGSTOP))
	require.NoError(t, os.WriteFile(goOn, []byte("go\n"), 0o600))
	readFifo(t, done)
	require.NoError(t, tracer.Process.Signal(syscall.SIGCONT))

	// A guard against a note that never comes, not a wait.
	ctx, cancel := context.WithTimeout(tracetest.Context(t), 60*time.Second)
	defer cancel()
	said, err := stderr.Wait(ctx, func(s string) bool { return strings.Contains(s, "trace lost") })
	require.NoError(t, err, "no loss said while the tracer runs: %s", said)
	require.NoError(t, tracer.Process.Signal(syscall.SIGINT))
	require.Error(t, tracer.Wait(), "a trace that lost events fails")
}
