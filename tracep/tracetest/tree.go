package tracetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// Tree is a process tree running before a trace starts, for tests of pid
// scopes: a root shell, its child, and the child's child, the grandchild.
// The grandchild waits until Release, then executes its command; the
// child waits for it, and the root for the child.
type Tree struct {
	// Root is the root shell; Root.Process.Pid is the pid to trace.
	Root *exec.Cmd
	// Grandchild is the grandchild's pid, which its command keeps.
	Grandchild int
	// Output is what the tree writes to its standard output and error.
	Output Buffer

	release *os.File
	waited  chan struct{}
	err     error
}

// The shell scripts of the three processes: each passes the scripts below
// it and the command on as arguments. The child backgrounds the
// grandchild and waits, so each stays the other's parent; the grandchild
// reports its pid on fd 4 and waits for EOF on fd 3.
const (
	treeRoot  = `c=$1; shift; /bin/sh -c "$c" tracep-child "$@"; exit $?`
	treeChild = `g=$1; shift; /bin/sh -c "$g" tracep-grandchild "$@" & wait $!; exit $?`
	treeGrand = `echo $$ >&4; exec 4>&-; read _ <&3; exec "$@" 3<&-`
)

// StartTree starts a Tree whose grandchild executes argv once released,
// with start (nil means (*exec.Cmd).Start; a hermetic network's Start, say,
// runs the tree inside it). It returns once the grandchild runs. The tree
// is a process group of its own, killed when t ends.
func StartTree(t testing.TB, start func(*exec.Cmd) error, argv ...string) *Tree {
	t.Helper()
	hold, release, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pidR, pidW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pidR.Close()
	tr := &Tree{release: release, waited: make(chan struct{})}
	t.Cleanup(func() { release.Close() })

	tr.Root = exec.Command("/bin/sh", append([]string{"-c", treeRoot, "tracep-root", treeChild, treeGrand}, argv...)...)
	tr.Root.ExtraFiles = []*os.File{hold, pidW}
	tr.Root.Stdout, tr.Root.Stderr = &tr.Output, &tr.Output
	tr.Root.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if start == nil {
		start = (*exec.Cmd).Start
	}
	err = start(tr.Root)
	hold.Close()
	pidW.Close()
	if err != nil {
		t.Fatalf("start process tree: %v", err)
	}
	go func() {
		tr.err = tr.Root.Wait()
		close(tr.waited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-tr.Root.Process.Pid, syscall.SIGKILL)
		<-tr.waited
	})
	if _, err := fmt.Fscan(pidR, &tr.Grandchild); err != nil {
		t.Fatalf("read the grandchild's pid: %v", err)
	}
	return tr
}

// Release lets the grandchild execute its command.
func (tr *Tree) Release() error { return tr.release.Close() }

// Wait waits until the tree has exited, the grandchild first, and returns
// the root's error: the command's exit status passes up unchanged. It
// fails with the error of ctx if that ends first.
func (tr *Tree) Wait(ctx context.Context) error {
	select {
	case <-tr.waited:
		return tr.err
	case <-ctx.Done():
		return fmt.Errorf("wait for process tree: %w", context.Cause(ctx))
	}
}
