package base

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// Extensions are the parts of the command line that link net/http,
// crypto/tls or testscript: the live page (-web, tracep view), the
// hermetic network (-net, tracep demo) and the commands ca and script.
// The tracep binary leaves them out, so that a tracer does not map and
// initialise what it never runs (~2.7 MB less resident), and hands a
// command line that needs one to tracep-full, which has them (package cli
// installs them).
type Extensions struct {
	// Commands are the commands only tracep-full runs (ca, script), by
	// name, with Run's arguments; the usage lists them either way.
	Commands map[string]func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
	// StartWeb starts the live page on addr.
	StartWeb func(ctx context.Context, addr, title string) (LivePage, error)
	// NewNetwork starts the hermetic network.
	NewNetwork func() (Network, error)
}

// LivePage is the page of -web and tracep view (package web's Server).
type LivePage interface {
	Publish(ev tracep.Event)
	SetVerdict(violations []harness.Violation, incomplete error)
	Done(status string)
	URL() string
	Close() error
}

// Network is the hermetic network of -net and tracep demo (testnet's Net).
type Network interface {
	Start(cmd *exec.Cmd) error
	Close() error
}

// extensions is what Extend installed.
var extensions Extensions

// Extend installs x, once, before Main or Run.
func Extend(x Extensions) { extensions = x }

// fullBinary is the name of the binary with every extension installed.
const fullBinary = "tracep-full"

// errNoFull says where tracep-full comes from.
var errNoFull = errors.New("needs " + fullBinary + ", which is neither beside tracep nor on PATH (go install github.com/tracep/tracep/cmd/tracep/tracep-full@latest)")

// handOver runs the whole command line again in tracep-full, for what
// needs an extension this binary lacks: in place of this process when
// Main started it (same pid, arguments, environment and descriptors, and
// nothing traced yet), or, in process (a test, testscript), not at all.
// It returns only on failure, having said why.
func (e *env) handOver(what string) int {
	err := errNoFull
	if e.args != nil {
		if path, ok := findFull(); ok {
			err = syscall.Exec(path, append([]string{path}, e.args...), os.Environ())
			err = fmt.Errorf("run %s: %w", path, err)
		}
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", what, err)
	return ExitError
}

// findFull finds tracep-full beside this binary, else on PATH; never this
// binary itself, which would hand over to itself for ever.
func findFull() (string, bool) {
	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		return "", false
	}
	if p, ok := runnable(filepath.Join(filepath.Dir(self), fullBinary), self); ok {
		return p, true
	}
	if p, err := exec.LookPath(fullBinary); err == nil {
		return runnable(p, self)
	}
	return "", false
}

// runnable resolves path and says whether it is an executable file other
// than self.
func runnable(path, self string) (string, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil || real == self {
		return "", false
	}
	st, err := os.Stat(real)
	return real, err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
