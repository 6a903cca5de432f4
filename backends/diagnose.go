package backends

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Diagnosis is what Diagnose found out about this host: what works, and
// why not. Its JSON form is `tracep doctor -j`.
type Diagnosis struct {
	Kernel       string             `json:"kernel"`
	BTF          string             `json:"btf"`
	Cgroup       CgroupDiagnosis    `json:"cgroup"`
	Tracefs      string             `json:"tracefs"`
	Namespaces   []string           `json:"namespaces,omitempty"`
	Capabilities CapsDiagnosis      `json:"capabilities"`
	Features     []FeatureDiagnosis `json:"features"`
	Tracers      []TracerDiagnosis  `json:"tracers"`
}

// CgroupDiagnosis says where the cgroup v2 hierarchy is.
type CgroupDiagnosis struct {
	// Path is the mount point tracep uses; empty for its own mount.
	Path string `json:"path,omitempty"`
	// Private: no usable cgroup2 mount is visible, so tracep mounts one
	// for itself (seen by no other process, gone when it exits).
	Private bool `json:"private,omitempty"`
	// Visible are the cgroup2 mount points this process sees.
	Visible []string `json:"visible,omitempty"`
	// ReadOnly: the mount is read-only and tracep cannot mount its own.
	ReadOnly bool `json:"read_only,omitempty"`
	// WholeSystem: the root tracep's net and dns hooks attach to is the
	// system's; otherwise they see only the processes below it.
	WholeSystem bool `json:"whole_system"`
	// Commands says whether tracep can make cgroups here, which running
	// a command (tracep exec -- CMD, harness.Trace) needs: "yes", or why
	// not.
	Commands string `json:"commands"`
	Error    string `json:"error,omitempty"`
}

// CapsDiagnosis lists the capabilities tracep holds and misses.
type CapsDiagnosis struct {
	Held []string `json:"held"`
	// Missing are those some tracer needs (counting the cgroup's
	// CAP_DAC_OVERRIDE for running commands) and this process lacks.
	Missing []string `json:"missing,omitempty"`
	// UserNamespace: tracep runs in a user namespace other than the
	// initial one, whose capabilities do not count for BPF.
	UserNamespace bool `json:"user_namespace,omitempty"`
}

// FeatureDiagnosis is one kernel feature.
type FeatureDiagnosis struct {
	Name      string        `json:"name"`
	What      string        `json:"what"`
	Since     string        `json:"since"`
	Tracers   []tracep.Kind `json:"tracers,omitempty"`
	Available bool          `json:"available"`
	Disabled  bool          `json:"disabled,omitempty"`
	Fallback  string        `json:"fallback,omitempty"`
	Error     string        `json:"error,omitempty"`
}

// TracerDiagnosis says whether one tracer works here.
type TracerDiagnosis struct {
	Kind tracep.Kind `json:"kind"`
	// Caps are the capabilities it needs (beyond root).
	Caps  string `json:"caps"`
	Works bool   `json:"works"`
	// Because is why it does not work; Fix what would make it.
	Because string `json:"because,omitempty"`
	Fix     string `json:"fix,omitempty"`
	// Partly says what works nonetheless (tracing -p or the whole system
	// when running a command does not).
	Partly string `json:"partly,omitempty"`
}

// AllWork reports whether every tracer works.
func (d *Diagnosis) AllWork() bool {
	for _, t := range d.Tracers {
		if !t.Works {
			return false
		}
	}
	return len(d.Tracers) > 0
}

// commandCaps is what making a cgroup for a command needs besides the
// tracers' capabilities, when no subtree is delegated to tracep's user.
const commandCaps = "CAP_DAC_OVERRIDE"

// Diagnose finds out what works here: it probes the kernel's features,
// looks for the cgroup v2 hierarchy, makes (and removes) a cgroup as
// running a command would, and starts (and stops) each tracer for this
// process. ctx bounds the starts.
func Diagnose(ctx context.Context) *Diagnosis {
	d := &Diagnosis{Kernel: kernelRelease(), BTF: "/sys/kernel/btf/vmlinux", Tracefs: tracefs()}
	if err := bpfcore.Have("btf"); err != nil {
		d.BTF = "missing: " + err.Error()
	}
	cgNS, pidNS, userNS := namespaces()
	if cgNS {
		d.Namespaces = append(d.Namespaces, "cgroup: tracep runs in a cgroup namespace of its own; cgroup paths are relative to its root")
	}
	if pidNS {
		d.Namespaces = append(d.Namespaces, "pid: tracep runs in a pid namespace of its own; events carry its pids, and whole-system traces cover its processes only")
	}
	if userNS {
		d.Namespaces = append(d.Namespaces, "user: tracep runs in a user namespace of its own, whose capabilities do not count for BPF")
	}

	// The cgroup v2 hierarchy, and making a cgroup in it.
	var cmdErr error
	if h, err := cgroup.Find(); err != nil {
		d.Cgroup.Error = err.Error()
		cmdErr = err
	} else {
		d.Cgroup.Path, d.Cgroup.Private, d.Cgroup.Visible, d.Cgroup.ReadOnly = h.MountPoint, h.Private, h.Visible, h.ReadOnly
		if _, id, err := cgroup.System(); err == nil {
			d.Cgroup.WholeSystem = id == cgroup.RootCgroupID
		}
		var cg *cgroup.Cgroup
		if cg, cmdErr = cgroup.New(); cmdErr == nil {
			cmdErr = cg.Close()
		}
	}
	d.Cgroup.Commands = "yes"
	if cmdErr != nil {
		d.Cgroup.Commands = cmdErr.Error()
	}

	// Capabilities.
	held, herr := bpfcore.Effective()
	d.Capabilities.UserNamespace = bpfcore.InUserNamespace()
	if herr == nil {
		d.Capabilities.Held = held.Names()
	}
	var need bpfcore.Caps
	for _, k := range Kinds() {
		need |= tracers[k].caps
	}
	if herr == nil {
		d.Capabilities.Missing = need.Missing(held).Names()
		if errors.Is(cmdErr, os.ErrPermission) && held&bpfcore.CapDacOverride == 0 {
			d.Capabilities.Missing = append(d.Capabilities.Missing, commandCaps)
		}
	}

	// Kernel features.
	for _, st := range bpfcore.Probe() {
		fd := FeatureDiagnosis{Name: st.Name, What: st.What, Since: st.Since, Tracers: st.Kinds,
			Available: st.Err == nil, Fallback: st.Fallback}
		var mf *bpfcore.MissingFeatureError
		var pe *tracep.PermissionError
		switch {
		case errors.As(st.Err, &mf):
			fd.Disabled = mf.Disabled
		case errors.As(st.Err, &pe):
			fd.Error = "not probed: needs " + pe.Capability
		case st.Err != nil:
			fd.Error = st.Err.Error()
		}
		if fd.Available {
			fd.Fallback = ""
		}
		d.Features = append(d.Features, fd)
	}

	// Each tracer, started for real.
	for _, k := range Kinds() {
		td := TracerDiagnosis{Kind: k, Caps: tracers[k].caps.String()}
		err := Supported(k)
		if err == nil {
			err = tryStart(ctx, k)
		}
		switch {
		case err != nil:
			td.Because, td.Fix = explain(err)
		case cmdErr != nil:
			td.Because, td.Fix = explain(cmdErr)
			td.Because = "running a command needs a cgroup of its own: " + td.Because
			td.Partly = "tracing running processes (-p) and the whole system works"
		default:
			td.Works = true
		}
		d.Tracers = append(d.Tracers, td)
	}
	return d
}

// tryStart starts tracer k for this process and stops it.
func tryStart(ctx context.Context, k tracep.Kind) error {
	s, err := Start(ctx, k, tracep.Scope{PIDs: []int{os.Getpid()}}, Config{}, func(tracep.Event) {})
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil && !errors.Is(err, tracep.ErrLost) {
		return err
	}
	return nil
}

// explain returns, for why something does not work, the reason on one
// line and what would fix it.
func explain(err error) (because, fix string) {
	because = err.Error()
	var pe *tracep.PermissionError
	var mf *bpfcore.MissingFeatureError
	switch {
	case errors.As(err, &mf) && mf.Disabled:
		fix = "unset " + bpfcore.DisableEnv + " (or leave " + mf.Feature.Name + " out of it)"
	case errors.As(err, &mf) && mf.Feature.Name == "btf":
		fix = fmt.Sprintf("run a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux %s or later)", mf.Feature.Since)
	case errors.As(err, &mf):
		fix = fmt.Sprintf("run Linux %s or later, with %s enabled", mf.Feature.Since, mf.Feature.What)
	case errors.As(err, &pe) && bpfcore.InUserNamespace():
		caps, _, _ := strings.Cut(pe.Capability, " in the initial user namespace")
		fix = "run tracep outside the user namespace (not under unshare -U, nor in a rootless container), as root or with " + caps
	case errors.As(err, &pe) && strings.HasPrefix(pe.Op, "create cgroup"):
		fix = "run as root, or grant tracep " + commandCaps + ", or run it in a cgroup v2 subtree delegated to its user"
	case errors.As(err, &pe) && strings.Contains(pe.Op, "cgroup2"):
		fix = "run as root, or grant tracep CAP_SYS_ADMIN so that it mounts its own cgroup2, or mount one (mount -t cgroup2 none /sys/fs/cgroup)"
	case errors.As(err, &pe):
		fix = "run as root, or grant tracep " + pe.Capability + " (ambient capabilities or setcap; see the README's Security section)"
	case errors.Is(err, tracep.ErrNotSupported) && strings.Contains(because, "cgroup2"):
		fix = "mount cgroup2 read-write (mount -t cgroup2 none /sys/fs/cgroup), or grant tracep CAP_SYS_ADMIN so that it mounts its own"
	case errors.Is(err, tracep.ErrNotSupported) && strings.Contains(because, "/proc"):
		fix = "mount /proc for tracep's pid namespace (unshare --pid --fork --mount-proc)"
	case errors.Is(err, tracep.ErrNotSupported) && strings.Contains(because, "pid namespace"):
		fix = "run tracep in the host's pid namespace"
	}
	return because, fix
}
