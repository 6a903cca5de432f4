package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"

	"github.com/tracep/tracep/backends/testnet/cmdnet"
)

// harness.Run finds the Net of a command through cmdnet, so that it need
// not import this package.
func init() {
	cmdnet.Register(func(cmd *exec.Cmd) cmdnet.Network {
		if n := NetOf(cmd); n != nil {
			return n
		}
		return nil // not a nil *Net in an interface
	})
}

// A command made by Command enters the namespaces itself: it runs nsenter
// (util-linux), which joins the namespace thread's network and mount
// namespaces and then executes the program in the same process. So
// cmd.Run, cmd.Output or a tracer starting cmd need nothing of Net, and
// the program keeps the pid, cgroup and parent that cmd.Start gave it.
// Net.Start takes the nsenter step out again and forks from the namespace
// thread, as it does for any command.

// nsenterPath finds nsenter once.
var nsenterPath = sync.OnceValues(func() (string, error) { return exec.LookPath("nsenter") })

// errNoNsenter is left in Cmd.Err by Command when nsenter is missing:
// the command can still be started with Net.Start, which clears it.
var errNoNsenter = errors.New("testnet: nsenter (util-linux) is not installed, so the command cannot enter the namespace itself: start it with Net.Start or Net.Run")

// nets finds a Net by the --net argument of the commands it made.
var nets sync.Map // string → *Net

// Command is like exec.Command for a process that runs inside the fake
// internet: cmd.Run, cmd.Start, cmd.Output or harness.Trace run it inside,
// and so do Net.Start, Net.Run and Net.CombinedOutput. The command must be
// started before Close.
//
// cmd.Env is set to the process environment without proxy variables and
// with SSL_CERT_FILE naming CAFile; add to it or replace it as usual (the
// system CA bundles inside trust the fake root anyway). cmd.Args ends with
// the program's own argv, so appending arguments works. Started by itself,
// the command first executes nsenter (util-linux), which joins the
// namespaces and then executes the program in the same process: a trace
// of it shows that exec of nsenter before the program's (harness.InNet
// avoids it). It needs CAP_SYS_ADMIN, so a command given
// SysProcAttr.Credential must be started with Net.Start, as must every
// command where nsenter is not installed (cmd.Err says so).
func (n *Net) Command(name string, args ...string) *exec.Cmd {
	return n.enterItself(exec.Command(name, args...))
}

// CommandContext is like exec.CommandContext; see Command.
func (n *Net) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return n.enterItself(exec.CommandContext(ctx, name, args...))
}

// enterItself makes cmd run nsenter, which joins the namespaces and then
// executes what cmd named.
func (n *Net) enterItself(cmd *exec.Cmd) *exec.Cmd {
	cmd.Env = n.env(nil)
	if cmd.Err != nil {
		return cmd // the program was not found: Start says so
	}
	nsenter, err := nsenterPath()
	if err != nil {
		cmd.Err = errNoNsenter
		return cmd
	}
	cmd.Path = nsenter
	cmd.Args = append(n.wrapper(), cmd.Args...)
	return cmd
}

// wrapper is the argv that runs nsenter before the program's own argv.
// --wd=. opens the directory the command starts in (cmd.Dir) before
// entering the mount namespace, which would otherwise move it to /, and
// returns there.
func (n *Net) wrapper() []string {
	return []string{"nsenter", n.ns.nsArg("net"), n.ns.nsArg("mnt"), "--wd=.", "--"}
}

// unwrap undoes enterItself on a command that is to be forked from the
// namespace thread instead.
func (n *Net) unwrap(cmd *exec.Cmd) {
	if errors.Is(cmd.Err, errNoNsenter) {
		cmd.Err = nil
		return
	}
	w := n.wrapper()
	if nsenter, err := nsenterPath(); err != nil || cmd.Path != nsenter ||
		len(cmd.Args) <= len(w) || !slices.Equal(cmd.Args[:len(w)], w) {
		return // not made by Command, or changed since
	}
	cmd.Args = cmd.Args[len(w):]
	// The program's path as exec.Command found it (the same lookup).
	cmd.Path = exec.Command(cmd.Args[0]).Path
}

// register makes n known to NetOf.
func (n *Net) register() { nets.Store(n.ns.nsArg("net"), n) }

func (n *Net) unregister() { nets.CompareAndDelete(n.ns.nsArg("net"), n) }

// NetOf returns the Net whose Command or CommandContext made cmd, or nil,
// for code that starts commands it is given (a tracer, say) and wants to
// start them with Net.Start, so that the nsenter step is not part of what
// they run.
func NetOf(cmd *exec.Cmd) *Net {
	nsenter, err := nsenterPath()
	if err != nil || cmd.Path != nsenter || len(cmd.Args) < 3 {
		return nil
	}
	v, ok := nets.Load(cmd.Args[1])
	if !ok {
		return nil
	}
	n := v.(*Net)
	w := n.wrapper()
	if len(cmd.Args) <= len(w) || !slices.Equal(cmd.Args[:len(w)], w) {
		return nil
	}
	return n
}

// nsArgFor is the nsenter option that joins the namespace of kind (net,
// mnt) of thread tid of this process.
func nsArgFor(kind string, tid int) string {
	opt := map[string]string{"net": "--net", "mnt": "--mount"}[kind]
	return fmt.Sprintf("%s=/proc/%d/task/%d/ns/%s", opt, os.Getpid(), tid, kind)
}
