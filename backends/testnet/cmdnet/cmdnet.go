package cmdnet

import (
	"os/exec"
	"sync/atomic"
)

// A Network starts commands inside its network namespace.
type Network interface {
	Start(cmd *exec.Cmd) error
}

// finder is the function Register installed, or nil.
var finder atomic.Pointer[func(*exec.Cmd) Network]

// Register installs f as the way Of finds a command's network; testnet calls
// it once, when it is initialised. A later call replaces f.
func Register(f func(*exec.Cmd) Network) { finder.Store(&f) }

// Of returns the network cmd was made to start in, or nil: nil also when
// no package registered a finder (testnet is not linked in, so made no
// command).
func Of(cmd *exec.Cmd) Network {
	f := finder.Load()
	if f == nil {
		return nil
	}
	return (*f)(cmd)
}
