package harness

import (
	"os/exec"
	"syscall"
)

// startInCgroup makes cmd start inside the cgroup open at fd (clone3 with
// CLONE_INTO_CGROUP), so it is in it from its first instruction.
func startInCgroup(cmd *exec.Cmd, fd int) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
}
