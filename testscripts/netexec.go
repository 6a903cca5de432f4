package testscripts

import (
	"errors"
	"os/exec"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/backends/testnet"
)

var (
	netsMu sync.Mutex
	nets   = map[*testscript.TestScript]*testnet.Net{}
)

// scriptNet returns the script's hermetic network, making it on first use
// and closing it when the script ends.
func scriptNet(ts *testscript.TestScript) *testnet.Net {
	netsMu.Lock()
	defer netsMu.Unlock()
	if n := nets[ts]; n != nil {
		return n
	}
	n, err := testnet.New(nil)
	if err != nil {
		ts.Fatalf("hermetic network: %v", err)
	}
	nets[ts] = n
	ts.Defer(func() {
		netsMu.Lock()
		delete(nets, ts)
		netsMu.Unlock()
		if err := n.Close(); err != nil {
			ts.Logf("close hermetic network: %v", err)
		}
	})
	return n
}

func cmdNetexec(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: netexec program [args...]")
	}
	n := scriptNet(ts)
	cmd := scriptCommand(ts, args[0], args[1:]...)
	err := n.Run(cmd)
	var exitErr *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exitErr):
		ts.Fatalf("netexec %s: %v", args[0], err)
	case neg && err == nil:
		ts.Fatalf("%s unexpectedly succeeded", args[0])
	case !neg && err != nil:
		ts.Fatalf("%s: %v", args[0], err)
	}
}
