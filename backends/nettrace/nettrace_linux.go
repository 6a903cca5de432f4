package nettrace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// caps are what the net programs need: loading cgroup socket programs is
// network administration.
const caps = bpfcore.TracingCaps | bpfcore.CapNetAdmin

// backend is the net programs, loaded once per process (see bpfcore).
var backend = &bpfcore.Backend{
	Kind: tracep.KindNet,
	Caps: caps,
	Spec: loadNet,
	KernelTypes: []string{
		"fdtable", "file", "files_struct", "inet_sock", "pt_regs", "sock", "socket", "tcp_sock",
		"btf_trace_inet_sock_set_state", "btf_trace_sys_exit", "btf_trace_sock_send_length",
	},
	Attach:    attach,
	RingBytes: DefaultRingBytes,
}

// Known to bpfcore.Preload, which loads several tracers at once.
func init() { bpfcore.Register(backend) }

// cgroupHooks are the programs attached to the root cgroup, with their
// attach types.
var cgroupHooks = []struct {
	prog   string
	attach ebpf.AttachType
}{
	{netProgTpnConnect4, ebpf.AttachCGroupInet4Connect},
	{netProgTpnConnect6, ebpf.AttachCGroupInet6Connect},
	{netProgTpnSendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
	{netProgTpnSendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
	{netProgTpnRelease, ebpf.AttachCgroupInetSockRelease},
	{netProgTpnSockops, ebpf.AttachCGroupSockOps},
}

// tracepoints are the tp_btf programs.
var tracepoints = []string{netProgTpnState, netProgTpnSysExit, netProgTpnSendLength}

// attach attaches the loaded programs: the tracepoints first, so that a
// flow the cgroup hooks open is followed from its start, then the cgroup
// hooks on the root of the cgroup v2 hierarchy, where they see every socket
// of the system, whatever its cgroup and network namespace. Links (not
// legacy attachments) leave other programs on the root cgroup untouched.
func attach(coll *ebpf.Collection) (_ []link.Link, err error) {
	slotsMap.Store(coll.Maps[netMapTpnSlots])
	ctlMap.Store(coll.Maps[netMapTpnControl])
	// Flows still open when the programs were last detached never saw
	// their end: forget them.
	if err := bpfcore.ClearMap(coll.Maps[netMapTpnFlows]); err != nil {
		return nil, err
	}
	root, _, err := cgroup.System()
	if err != nil {
		return nil, err
	}
	var links []link.Link
	defer func() {
		if err != nil {
			for _, l := range links {
				_ = l.Close()
			}
		}
	}()
	for _, name := range tracepoints {
		l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs[name]})
		if err != nil {
			return nil, caps.WrapErr("attach "+name, err)
		}
		links = append(links, l)
	}
	for _, h := range cgroupHooks {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: h.attach, Program: coll.Programs[h.prog]})
		if err != nil {
			return nil, caps.WrapErr(fmt.Sprintf("attach %s to cgroup %s", h.prog, root), err)
		}
		links = append(links, l)
	}
	return links, nil
}

// slotsMap is tpn_slots once the programs are loaded: the start time of
// the net session at each slot, which the programs compare with a flow's
// to keep flows of a slot's earlier session away from its next one.
var slotsMap atomic.Pointer[ebpf.Map]

// ctlMap is tpn_ctl once the programs are loaded.
var ctlMap atomic.Pointer[ebpf.Map]

// opening serialises the start and end of net sessions: the start times of
// the free slots are written before a session takes one, so a slot is
// never enabled with an older session's time.
var opening struct {
	sync.Mutex
	busy   [bpfcore.MaxSessions]bool // slots held by open net sessions
	states uint64                    // slots whose session wants state changes
}

// writeStates publishes opening.states. Called with opening held.
func writeStates() error {
	m := ctlMap.Load()
	if m == nil {
		return nil
	}
	if err := m.Put(uint32(0), netTpnCtl{StatesMask: opening.states}); err != nil {
		return fmt.Errorf("write session options: %w", err)
	}
	return nil
}

// stampFreeSlots sets the start time of every slot no net session holds to
// now. Called with opening held. Before the first load the map does not
// exist and will start zeroed, with no earlier flows to screen out.
func stampFreeSlots() error {
	m := slotsMap.Load()
	if m == nil {
		return nil
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("clock: %w", err)
	}
	now := uint64(ts.Nano())
	var keys []uint32
	var vals []uint64
	for i, busy := range opening.busy {
		if !busy {
			keys = append(keys, uint32(i))
			vals = append(vals, now)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("write session start times: %w", err)
		}
		for i, k := range keys {
			if err := m.Put(k, vals[i]); err != nil {
				return fmt.Errorf("write session start times: %w", err)
			}
		}
	}
	return nil
}

// Session is a running network trace.
type Session struct {
	core *bpfcore.Session
	once sync.Once
	err  error
}

var _ tracep.Session = (*Session)(nil)

// Start starts tracing the TCP and UDP flows of cfg.Scope. It returns once
// the hooks are attached and the scope is registered: a flow opened after
// Start returns is observed. emit is called from the session's own
// goroutine, one event at a time in the order the kernel produced them, and
// never after Close returns; it must not call Close. ctx bounds the
// start-up only.
func Start(ctx context.Context, cfg Config, emit func(tracep.Event)) (*Session, error) {
	cfg, err := bpfcore.Normalize(tracep.KindNet, cfg, Config.normalize, emit)
	if err != nil {
		return nil, err
	}
	opening.Lock()
	defer opening.Unlock()
	if err := stampFreeSlots(); err != nil {
		return nil, fmt.Errorf("net tracer: %w", err)
	}
	cs, err := backend.Open(ctx, bpfcore.SessionConfig{
		Scope:     cfg.Scope,
		RingBytes: cfg.RingBytes,
		Param:     cfg.param(),
	}, bpfcore.Emitter(bpfcore.Always(Decode), emit))
	if err != nil {
		return nil, fmt.Errorf("net tracer: %w", err)
	}
	opening.busy[cs.Slot()] = true
	if cfg.States {
		// Until this is written, which is right away, the session gets
		// its flows' opening and closing events but no state changes.
		opening.states |= 1 << cs.Slot()
		if err := writeStates(); err != nil {
			_ = cs.Close()
			opening.busy[cs.Slot()] = false
			opening.states &^= 1 << cs.Slot()
			return nil, fmt.Errorf("net tracer: %w", err)
		}
	}
	return &Session{core: cs}, nil
}

// Close stops the trace: everything the kernel recorded before Close is
// delivered to emit first, then the session's goroutine ends and its
// resources are released (the hooks are detached with the process's last
// net session, after bpfcore.Linger). Close is idempotent. It returns a
// *tracep.LostError (matching tracep.ErrLost) when events were lost.
func (s *Session) Close() error {
	s.once.Do(func() {
		// Held across the core's Close, which frees the slot: a Start
		// must not take the slot before it counts as free here, or the
		// slot would keep this session's start time.
		opening.Lock()
		s.err = s.core.Close()
		slot := s.core.Slot()
		opening.busy[slot] = false
		if opening.states&(1<<slot) != 0 {
			opening.states &^= 1 << slot
			if err := writeStates(); err != nil && s.err == nil {
				s.err = err
			}
		}
		opening.Unlock()
	})
	return s.err
}

var (
	supportedOnce sync.Once
	supportedErr  error
)

// Supported reports whether network tracing can run here: nil, an error
// matching os.ErrPermission (a *tracep.PermissionError naming the missing
// capabilities), or one matching tracep.ErrNotSupported (no cgroup v2, or a
// kernel feature missing: cgroup socket hooks, the TCP state tracepoints).
func Supported() error {
	if err := backend.Supported(); err != nil {
		return err
	}
	supportedOnce.Do(func() { supportedErr = probe() })
	return supportedErr
}

func probe() error {
	_, err := cgroup.Mount()
	return err
}

// Lost returns how many events were lost so far (see bpfcore.Session.Lost);
// backends.Trace reports them while the trace runs.
func (s *Session) Lost() uint64 { return s.core.Lost() }
