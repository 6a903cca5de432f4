package bpfcore

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/tracep/tracep/backends/internal/procfs"
	"github.com/tracep/tracep/tracep"
)

// pidnsVar is the constant of bpf/tp_core.h that selects the pid namespace
// whose pids records carry.
const pidnsVar = "tp_pidns_ino"

var pidns struct {
	once sync.Once
	ino  uint32
	err  error
}

// PidNamespace returns the inode number of tracep's pid namespace when it
// is not the initial one (a container), else 0. Records then carry the
// pids that namespace sees, and whole-system sessions see only its
// processes. It fails when /proc belongs to another pid namespace (a pid
// namespace made without mounting its own /proc): /proc's pids would not be
// the records'.
func PidNamespace() (uint32, error) {
	pidns.once.Do(func() {
		if ino := procfs.NSInode("pid"); ino != procfs.InitPidNS && ino != 0 {
			pidns.ino = uint32(ino)
			if procfs.ForeignProc() {
				pidns.err = fmt.Errorf("tracep runs in a pid namespace whose /proc is not mounted (/proc shows another namespace's pids; unshare --pid needs --mount-proc): %w", tracep.ErrNotSupported)
			}
		}
	})
	return pidns.ino, pidns.err
}

// setPidNamespace sets the pid namespace of spec's programs (see
// PidNamespace). An object built before pid namespaces were handled cannot
// run in one: its records would carry pids tracep's namespace does not see.
func setPidNamespace(what string, spec *ebpf.CollectionSpec) error {
	ino, err := PidNamespace()
	if err != nil {
		return err
	}
	v, ok := spec.Variables[pidnsVar]
	if !ok {
		if ino != 0 {
			return fmt.Errorf("%s: its bpf programs cannot report the pids of a pid namespace other than the initial one (tracep runs in one): %w", what, tracep.ErrNotSupported)
		}
		return nil
	}
	if err := v.Set(ino); err != nil {
		return fmt.Errorf("%s: set %s: %w", what, pidnsVar, err)
	}
	return nil
}
