//go:build !linux

package cgroup

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/tracep/tracep/tracep"
)

// Cgroup is a cgroup v2 directory made for one workload (Linux only).
type Cgroup struct{}

var errNotLinux = fmt.Errorf("cgroup v2: %w", tracep.ErrNotSupported)

// Mount fails: cgroups exist only on Linux.
func Mount() (string, error) { return "", errNotLinux }

// New fails: cgroups exist only on Linux.
func New() (*Cgroup, error) { return nil, errNotLinux }

// ID fails: cgroups exist only on Linux.
func ID(path string) (uint64, error) { return 0, errNotLinux }

// OpenByID fails: cgroups exist only on Linux.
func OpenByID(id uint64) (int, error) { return -1, errNotLinux }

func (c *Cgroup) ID() uint64                                    { return 0 }
func (c *Cgroup) Path() string                                  { return "" }
func (c *Cgroup) FD() int                                       { return -1 }
func (c *Cgroup) Enroll(cmd *exec.Cmd)                          {}
func (c *Cgroup) Command(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
func (c *Cgroup) Kill(timeout time.Duration) error              { return errNotLinux }
func (c *Cgroup) WaitEmpty(ctx context.Context) error           { return errNotLinux }
func (c *Cgroup) Close() error                                  { return nil }
func (c *Cgroup) Procs() ([]tracep.Proc, error)                 { return nil, errNotLinux }

// Find fails: cgroups exist only on Linux.
func Find() (*Hierarchy, error) { return nil, errNotLinux }

// System fails: cgroups exist only on Linux.
func System() (string, uint64, error) { return "", 0, errNotLinux }
