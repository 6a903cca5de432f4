//go:build !linux

package harness

import "os/exec"

// startInCgroup does nothing: cgroup.New has already failed with
// tracep.ErrNotSupported off Linux.
func startInCgroup(cmd *exec.Cmd, fd int) {}
