package cmdnet

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

type network struct{ started *exec.Cmd }

func (n *network) Start(cmd *exec.Cmd) error { n.started = cmd; return nil }

func TestOf(t *testing.T) {
	saved := finder.Load()
	t.Cleanup(func() { finder.Store(saved) })
	finder.Store(nil)
	mine := exec.Command("true")
	require.Nil(t, Of(mine), "no finder registered")

	n := &network{}
	Register(func(cmd *exec.Cmd) Network {
		if cmd == mine {
			return n
		}
		return nil
	})
	require.Same(t, n, Of(mine))
	require.Nil(t, Of(exec.Command("true")))
}
