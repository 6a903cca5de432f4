package dnstrace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// caps are what the DNS programs need: loading cgroup socket and packet
// programs is network administration.
const caps = bpfcore.TracingCaps | bpfcore.CapNetAdmin

// backend is the DNS programs, loaded once per process (see bpfcore).
var backend = &bpfcore.Backend{
	Kind:        tracep.KindDNS,
	Caps:        caps,
	Spec:        loadDns,
	KernelTypes: []string{"sk_buff", "skb_drop_reason", "sock", "btf_trace_kfree_skb"},
	Prepare:     prepare,
	Attach:      attach,
	RingBytes:   DefaultRingBytes,
}

// Known to bpfcore.Preload, which loads several tracers at once.
func init() { bpfcore.Register(backend) }

// poolSize is the number of record buffers (64 KiB each) for ncpu CPUs:
// enough for every CPU to be in a softirq while a thread it interrupted
// holds one, bounded so that a large machine does not pin megabytes.
func poolSize(ncpu int) int {
	return min(max(2*ncpu, 4), 64)
}

// prepare sizes the record buffer pool.
func prepare(spec *ebpf.CollectionSpec, _ *btf.Spec) error {
	n, err := bpfcore.SizeMap(spec, dnsMapTpdPool, poolSize)
	if err != nil {
		return err
	}
	v, ok := spec.Variables[dnsVarTpdPoolN]
	if !ok {
		return fmt.Errorf("variable %s missing", dnsVarTpdPoolN)
	}
	return v.Set(n)
}

// attach attaches the programs to the root of the cgroup v2 hierarchy,
// where they see every socket's binds and packets, and the drop program to
// kfree_skb (the packets no socket received), and keeps the port maps for
// the sessions to fill.
func attach(coll *ebpf.Collection) ([]link.Link, error) {
	root, _, err := cgroup.System()
	if err != nil {
		return nil, err
	}
	var links []link.Link
	for _, a := range []struct {
		prog string
		typ  ebpf.AttachType
	}{
		{dnsProgTpdBind4, ebpf.AttachCGroupInet4PostBind},
		{dnsProgTpdBind6, ebpf.AttachCGroupInet6PostBind},
		{dnsProgTpdEgress, ebpf.AttachCGroupInetEgress},
		{dnsProgTpdIngress, ebpf.AttachCGroupInetIngress},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: a.typ, Program: coll.Programs[a.prog]})
		if err != nil {
			for _, l := range links {
				_ = l.Close()
			}
			return nil, caps.WrapErr(fmt.Sprintf("attach %s to cgroup %s", a.prog, root), err)
		}
		links = append(links, l)
	}
	drop, err := bpfcore.AttachTracepoint(coll, dnsProgTpdDrop)
	if err != nil {
		for _, l := range links {
			_ = l.Close()
		}
		return nil, err
	}
	links = append(links, drop)
	watched.mu.Lock()
	watched.bits, watched.ports = coll.Maps[dnsMapTpdPortbits], coll.Maps[dnsMapTpdPorts]
	watched.mu.Unlock()
	return links, nil
}

// watched mirrors the ports the open sessions of the process want, and
// writes them to the kernel: tpd_ports maps a port to the slots wanting it,
// tpd_portbits has a bit per wanted port for the programs' fast path.
var watched struct {
	mu    sync.Mutex
	bits  *ebpf.Map
	ports *ebpf.Map
	slots map[uint16]uint64
	set   [1024]uint64
}

// watchPorts adds (on) or removes slot's interest in ports. Entries are
// written before their bit is set, and the bit cleared before they go, so
// the programs never see a bit without its entry.
func watchPorts(slot int, ports []uint16, on bool) error {
	w := &watched
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bits == nil || w.ports == nil {
		return fmt.Errorf("dns port maps not loaded")
	}
	if w.slots == nil {
		w.slots = make(map[uint16]uint64)
	}
	bit := uint64(1) << slot
	var errs []error
	setBits := func() {
		if err := w.bits.Put(uint32(0), &w.set); err != nil {
			errs = append(errs, fmt.Errorf("update dns port bitmap: %w", err))
		}
	}
	if on {
		for _, p := range ports {
			if _, ok := w.slots[p]; !ok && len(w.slots) >= MaxPorts {
				return fmt.Errorf("more than %d ports watched: %w", MaxPorts, tracep.ErrInvalid)
			}
			w.slots[p] |= bit
			if err := w.ports.Put(p, w.slots[p]); err != nil {
				return fmt.Errorf("watch port %d: %w", p, err)
			}
			w.set[p>>6] |= 1 << (p & 63)
		}
		setBits()
		return errors.Join(errs...)
	}
	var gone []uint16
	for _, p := range ports {
		m := w.slots[p] &^ bit
		if m != 0 {
			w.slots[p] = m
			if err := w.ports.Put(p, m); err != nil {
				errs = append(errs, fmt.Errorf("unwatch port %d: %w", p, err))
			}
			continue
		}
		delete(w.slots, p)
		w.set[p>>6] &^= 1 << (p & 63)
		gone = append(gone, p)
	}
	if len(gone) > 0 {
		setBits()
		for _, p := range gone {
			if err := w.ports.Delete(p); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, fmt.Errorf("unwatch port %d: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Session is a running DNS trace.
type Session struct {
	core  *bpfcore.Session
	slot  int
	ports []uint16

	mu       sync.Mutex // guards t and expiring, and serialises emit
	t        *tracker
	expiring bool // expireLoop looks, or has been kicked to

	kick chan struct{} // something waits to expire
	stop chan struct{}
	done chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ tracep.Session = (*Session)(nil)

// Start starts tracing the DNS messages of cfg.Scope. It returns once the
// programs are attached and the scope and ports are registered: a message
// sent or received after Start returns is observed.
//
// emit receives one event per query: with its response when one arrived,
// or without (Answered false) once cfg.Timeout has passed, the table of
// pending queries was full, or the session closed first. It is called from
// the session's goroutines, one event at a time, never after Close returns,
// and must not call Close or Stats. Events come in the order responses arrive; their
// KTime and Time are those of the query. ctx bounds the start-up only.
func Start(ctx context.Context, cfg Config, emit func(tracep.Event)) (*Session, error) {
	cfg, err := bpfcore.Normalize(tracep.KindDNS, cfg, Config.normalize, emit)
	if err != nil {
		return nil, err
	}
	clock := bpfcore.NewClock()
	s := &Session{
		ports: cfg.Ports,
		t:     newTracker(cfg.Timeout, cfg.MaxPending, clock.Time, emit),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		kick:  make(chan struct{}, 1),
	}
	cs, err := backend.Open(ctx, bpfcore.SessionConfig{
		Scope:     cfg.Scope,
		RingBytes: cfg.RingBytes,
		Param:     uint32(cfg.SnapLen),
	}, s.handle)
	if err != nil {
		return nil, fmt.Errorf("dns tracer: %w", err)
	}
	s.core, s.slot = cs, cs.Slot()
	if err := watchPorts(s.slot, s.ports, true); err != nil {
		_ = watchPorts(s.slot, s.ports, false)
		return nil, errors.Join(fmt.Errorf("dns tracer: %w", err), cs.Close())
	}
	go s.expireLoop(cfg.Timeout)
	return s, nil
}

// handle takes one raw record from the ring.
func (s *Session) handle(raw []byte) error {
	r, err := decodeRecord(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.t.feed(&r)
	if !s.expiring && s.t.waiting() {
		s.expiring = true
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	return nil
}

// expireLoop reports unanswered queries while the session runs, looking a
// few times per timeout while a query or stream waits, and not at all
// otherwise: an idle tracer does not wake. It looks on multiples of
// bpfcore.Tick where it can, when the session's reader wakes anyway.
func (s *Session) expireLoop(timeout time.Duration) {
	defer close(s.done)
	every := min(max(timeout/4, 10*time.Millisecond), time.Second)
	if every > bpfcore.Tick {
		every = every.Truncate(bpfcore.Tick)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		for waiting := true; waiting; {
			timer.Reset(time.Until(time.Now().Truncate(every).Add(every)))
			select {
			case <-s.stop:
				return
			case <-timer.C:
			}
			s.mu.Lock()
			s.t.expire(monotonicNow())
			waiting = s.t.waiting()
			s.expiring = waiting
			s.mu.Unlock()
		}
	}
}

// monotonicNow is CLOCK_MONOTONIC in nanoseconds, the clock of
// bpf_ktime_get_ns.
func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return ts.Nano()
}

// Stats returns what the session has seen so far.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.stats
}

// Close stops the trace: every message the kernel recorded before Close is
// processed first, then the queries still waiting are reported unanswered,
// the session's goroutines end and its resources are released (the
// programs are detached with the process's last DNS session). Close is
// idempotent. It returns a *tracep.LostError (matching tracep.ErrLost) when
// the kernel dropped records.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		portErr := watchPorts(s.slot, s.ports, false)
		coreErr := s.core.Close()
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.t.drain()
		s.mu.Unlock()
		s.closeErr = errors.Join(coreErr, portErr)
	})
	return s.closeErr
}

// Supported reports whether DNS tracing can run here: nil, an error
// matching os.ErrPermission (a *tracep.PermissionError naming the missing
// capabilities), or one matching tracep.ErrNotSupported.
func Supported() error {
	if err := backend.Supported(); err != nil {
		return err
	}
	_, err := cgroup.Mount()
	return err
}

// Lost returns how many events were lost so far (see bpfcore.Session.Lost);
// backends.Trace reports them while the trace runs.
func (s *Session) Lost() uint64 { return s.core.Lost() }
