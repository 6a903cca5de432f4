package exectrace

import (
	"context"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// backend is the exec programs, loaded once per process (see bpfcore).
var backend = &bpfcore.Backend{
	Kind: tracep.KindExec,
	Caps: bpfcore.TracingCaps,
	Spec: loadExec,
	KernelTypes: []string{
		"linux_binprm", "mm_struct", "pt_regs", "signal_struct",
		"btf_trace_sched_process_exec", "btf_trace_sys_exit", "btf_trace_sched_process_exit",
	},
	Prepare:   prepare,
	RingBytes: DefaultRingBytes,
}

// Known to bpfcore.Preload, which loads several tracers at once.
func init() { bpfcore.Register(backend) }

// prepare sizes the per-CPU scratch map and picks the exit program the
// kernel's sched_process_exit tracepoint suits.
func prepare(spec *ebpf.CollectionSpec, kernel *btf.Spec) error {
	if _, err := bpfcore.SizeMap(spec, execMapTpxScratch, bpfcore.OnePerCPU); err != nil {
		return err
	}

	if exitHasGroupDead(kernel) {
		delete(spec.Programs, execProgTpxExitLive)
	} else {
		delete(spec.Programs, execProgTpxExit)
	}
	return nil
}

// exitHasGroupDead reports whether the sched_process_exit tracepoint passes
// group_dead (void *, struct task_struct *, bool).
func exitHasGroupDead(kernel *btf.Spec) bool {
	var td *btf.Typedef
	if err := kernel.TypeByName("btf_trace_sched_process_exit", &td); err != nil {
		return false
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return false
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	return ok && len(proto.Params) == 3
}

// Session is a running exec trace.
type Session struct {
	core *bpfcore.Session
	dec  Decoder            // used by the core's reader, then by Close
	emit func(tracep.Event) // the caller's, with Time set
}

var _ tracep.Session = (*Session)(nil)

// Start starts tracing execs, failed execs and exits in cfg.Scope. It
// returns once the probes are attached and the scope is registered: an exec
// caused after Start returns is observed. emit is called from the session's
// own goroutine, one event at a time in the order the kernel produced them,
// and never after Close returns; it must not call Close. ctx bounds the
// start-up only.
func Start(ctx context.Context, cfg Config, emit func(tracep.Event)) (*Session, error) {
	cfg, err := bpfcore.Normalize(tracep.KindExec, cfg, Config.normalize, emit)
	if err != nil {
		return nil, err
	}
	clock := bpfcore.NewClock()
	s := &Session{emit: func(ev tracep.Event) {
		ev.Time = clock.Time(ev.KTime)
		emit(ev)
	}}
	cs, err := backend.Open(ctx, bpfcore.SessionConfig{
		Scope:     cfg.Scope,
		RingBytes: cfg.RingBytes,
		Param:     cfg.param(),
	}, func(rec []byte) error { return s.dec.Decode(rec, s.emit) })
	if err != nil {
		return nil, fmt.Errorf("exec tracer: %w", err)
	}
	s.core = cs
	return s, nil
}

// Close stops the trace: everything the kernel recorded before Close is
// delivered to emit first, then the session's goroutine ends and its
// resources are released (the programs are detached with the process's last
// exec session). Close is idempotent. It returns a *tracep.LostError
// (matching tracep.ErrLost) when events were lost.
func (s *Session) Close() error {
	err := s.core.Close()
	// The reader has ended: what it was still joining lost its last piece.
	s.dec.Flush(s.emit)
	return err
}

// Supported reports whether exec tracing can run here: nil, an error
// matching os.ErrPermission (a *tracep.PermissionError naming the missing
// capabilities), or one matching tracep.ErrNotSupported.
func Supported() error {
	return backend.Supported()
}

// Lost returns how many events were lost so far (see bpfcore.Session.Lost);
// backends.Trace reports them while the trace runs.
func (s *Session) Lost() uint64 { return s.core.Lost() }
