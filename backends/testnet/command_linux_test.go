package testnet

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

func TestIntegrationCommand(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	needTool(t, "nsenter")
	n := NewT(t, nil)
	var insideNet, insideMnt string
	require.NoError(t, n.Do(func() error {
		var err1, err2 error
		insideNet, err1 = os.Readlink("/proc/thread-self/ns/net")
		insideMnt, err2 = os.Readlink("/proc/thread-self/ns/mnt")
		return errors.Join(err1, err2)
	}))

	t.Run("run", func(t *testing.T) {
		// What a user does with an exec.Cmd: append arguments, set Dir
		// and Env, then Output.
		cmd := n.Command("sh", "-c", `readlink /proc/self/ns/net /proc/self/ns/mnt; pwd; echo "$0 $1 $X"; `+
			`head -1 /etc/resolv.conf; getent hosts v4.test; echo $$ $PPID`, "zero")
		cmd.Args = append(cmd.Args, "one")
		cmd.Dir = t.TempDir()
		cmd.Env = append(cmd.Env, "X=x")
		require.Same(t, n, NetOf(cmd))
		out, err := cmd.Output()
		require.NoError(t, err)
		require.Equal(t, []string{
			insideNet, insideMnt, cmd.Dir, "zero one x", "# tracep testnet", "192.0.2.60      v4.test",
			strconv.Itoa(cmd.Process.Pid) + " " + strconv.Itoa(os.Getpid()),
		}, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), "inside, in its directory, with its own pid, a child of the test")
	})

	t.Run("tls", func(t *testing.T) {
		needTool(t, "curl")
		out, err := n.Command("curl", "-sS", "https://www.example.test/").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Equal(t, "hello from www.example.test\n", string(out))
	})

	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cmd := n.CommandContext(ctx, "sleep", "100")
		require.NoError(t, cmd.Start())
		cancel()
		require.ErrorContains(t, cmd.Wait(), "killed")
	})

	t.Run("start", func(t *testing.T) {
		// Net.Start forks from the namespace thread: no nsenter.
		cmd := n.Command("sh", "-c", `echo "$0"; readlink /proc/self/ns/net`, "zero")
		sh, err := exec.LookPath("sh")
		require.NoError(t, err)
		out, err := n.CombinedOutput(cmd)
		require.NoError(t, err, string(out))
		require.Equal(t, "zero\n"+insideNet+"\n", string(out))
		require.Equal(t, sh, cmd.Path)
		require.Equal(t, []string{"sh", "-c", `echo "$0"; readlink /proc/self/ns/net`, "zero"}, cmd.Args)
		require.Nil(t, NetOf(cmd))
	})

	t.Run("not-found", func(t *testing.T) {
		cmd := n.Command("tracep-no-such-program")
		require.Nil(t, NetOf(cmd))
		require.ErrorIs(t, cmd.Run(), exec.ErrNotFound)
		require.ErrorIs(t, n.Run(n.Command("tracep-no-such-program")), exec.ErrNotFound)
	})

	t.Run("netof", func(t *testing.T) {
		require.Nil(t, NetOf(exec.Command("true")))
		other := NewT(t, nil)
		require.Same(t, other, NetOf(other.Command("true")))
		require.Same(t, n, NetOf(n.Command("true")))
	})
}

// A command made before Close never runs outside after it.
func TestIntegrationCommandAfterClose(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	needTool(t, "nsenter")
	n, err := New(nil)
	require.NoError(t, err)
	cmd := n.Command("true")
	require.NoError(t, n.Close())
	require.Nil(t, NetOf(cmd))
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "nsenter")
	require.ErrorIs(t, n.Start(n.Command("true")), tracep.ErrClosed)
}

// Without nsenter a command says how to run it, and Net.Start runs it.
func TestIntegrationCommandWithoutNsenter(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	n := NewT(t, nil)
	defer func(f func() (string, error)) { nsenterPath = f }(nsenterPath)
	nsenterPath = func() (string, error) { return "", exec.ErrNotFound }

	cmd := n.Command("sh", "-c", "getent hosts v4.test")
	require.Nil(t, NetOf(cmd))
	require.ErrorIs(t, cmd.Run(), errNoNsenter)
	require.ErrorContains(t, cmd.Err, "Net.Start")

	cmd = n.Command("sh", "-c", "getent hosts v4.test")
	out, err := n.CombinedOutput(cmd)
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "192.0.2.60")
}
