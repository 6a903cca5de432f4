package backends

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/nettrace"
	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
)

// MaxSessions is how many tracer sessions one process can have open at
// once, over all kinds (the BPF core's slot table).
const MaxSessions = bpfcore.MaxSessions

// Config holds the options of every tracer; the zero Config selects each
// tracer's defaults. The Scope field of each is ignored: Start and
// StartTrace set it. The CLI (in every mode) and the harness (through an
// option) pass their tracer options this way, so an option means the same
// wherever it is given.
type Config struct {
	Exec exectrace.Config
	Net  nettrace.Config
	DNS  dnstrace.Config
	TLS  tlstrace.Config
}

// tracer is what this package knows of one kernel tracer.
type tracer struct {
	caps bpfcore.Caps // the capabilities it needs (measured)
	// rootHooks: its hooks sit on the root of the cgroup v2 hierarchy, so
	// it sees only what is below the root tracep reaches.
	rootHooks bool
	supported func() error
	start     func(ctx context.Context, scope tracep.Scope, cfg Config, emit func(tracep.Event)) (tracep.Session, error)
}

// tracers names the kernel tracers by kind: the one table of them. Each
// entry says where its options are in a Config, scoped as asked.
var tracers = map[tracep.Kind]tracer{
	tracep.KindExec: tracerOf(bpfcore.TracingCaps, exectrace.Supported, exectrace.Start,
		func(c Config, s tracep.Scope) exectrace.Config { c.Exec.Scope = s; return c.Exec }),
	tracep.KindNet: rooted(tracerOf(bpfcore.TracingCaps|bpfcore.CapNetAdmin, nettrace.Supported, nettrace.Start,
		func(c Config, s tracep.Scope) nettrace.Config { c.Net.Scope = s; return c.Net })),
	tracep.KindDNS: rooted(tracerOf(bpfcore.TracingCaps|bpfcore.CapNetAdmin, dnstrace.Supported, dnstrace.Start,
		func(c Config, s tracep.Scope) dnstrace.Config { c.DNS.Scope = s; return c.DNS })),
	tracep.KindTLS: tracerOf(bpfcore.TracingCaps|bpfcore.CapSysPtrace|bpfcore.CapKill|bpfcore.CapCheckpointRestore,
		tlstrace.Supported, tlstrace.Start,
		func(c Config, s tracep.Scope) tlstrace.Config { c.TLS.Scope = s; return c.TLS }),
}

// tracerOf makes a table entry from a tracer package's Supported and
// Start and its options.
func tracerOf[C any, S tracep.Session](caps bpfcore.Caps, supported func() error,
	start func(context.Context, C, func(tracep.Event)) (S, error), options func(Config, tracep.Scope) C) tracer {
	return tracer{caps: caps, supported: supported, start: func(ctx context.Context, scope tracep.Scope, cfg Config, emit func(tracep.Event)) (tracep.Session, error) {
		s, err := start(ctx, options(cfg, scope), emit)
		if err != nil {
			return nil, err // not a nil *Session in a non-nil interface
		}
		return s, nil
	}}
}

// rooted marks a tracer whose hooks sit on the root cgroup.
func rooted(t tracer) tracer { t.rootHooks = true; return t }

// Caps names the capabilities tracer k needs ("CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN)"), measured by running it without each in turn; running a
// command also needs a cgroup (see cgroup.New).
func Caps(k tracep.Kind) string { return tracers[k].caps.String() }

// Kinds returns the kinds that have a kernel tracer, in tracep.Kinds order.
func Kinds() []tracep.Kind {
	var out []tracep.Kind
	for _, k := range tracep.Kinds() {
		if _, ok := tracers[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// Supported reports whether kind k can be traced here: nil, or an error
// wrapping tracep.ErrNotSupported or os.ErrPermission.
func Supported(k tracep.Kind) error {
	t, ok := tracers[k]
	if !ok {
		return fmt.Errorf("%s tracer: %w", k, tracep.ErrNotSupported)
	}
	return t.supported()
}

// SupportedKinds returns the kinds this host can trace now; when it can
// trace none, the first kind's reason (a missing privilege, typically).
func SupportedKinds() ([]tracep.Kind, error) {
	bpfcore.Prime(Kinds()...) // the probes of every kind at once
	var kinds []tracep.Kind
	var first error
	for _, k := range Kinds() {
		if err := Supported(k); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return nil, first
	}
	return kinds, nil
}

// Start starts the tracer of kind k for scope, with its options from cfg;
// see tracep.Session for what Close guarantees. emit is called from the
// tracer's own goroutine.
func Start(ctx context.Context, k tracep.Kind, scope tracep.Scope, cfg Config, emit func(tracep.Event)) (tracep.Session, error) {
	t, ok := tracers[k]
	if !ok {
		return nil, fmt.Errorf("%s tracer: %w", k, tracep.ErrNotSupported)
	}
	return t.start(ctx, scope, cfg, emit)
}

// DetachIdle detaches now, all at once, the programs no session uses,
// rather than Linger after their last session.
func DetachIdle() {
	t0 := time.Now()
	bpfcore.DetachIdle()
	bpfcore.Phase("detach idle programs", t0)
}

// DetachBeforeExit is DetachIdle for a process about to exit, which calls
// it last: the kernel would detach the programs one after another as it
// closes the process's files, each waiting for a grace period, and the
// exit would wait for them all. Uprobes, whose detach waits longest
// (60-100 ms here), are left to a short-lived child process that detaches
// them while this one exits, and what the TLS tracer holds to its
// watchdog, which releases it as after a death.
func DetachBeforeExit() {
	t0 := time.Now()
	bpfcore.DetachBeforeExit()
	bpfcore.Phase("detach idle programs", t0)
}

// ReleaseLoadCaches frees what the tracers kept for loading programs (the
// kernel's BTF, reduced). Call it once tracing is armed; a later first
// start of another kind reads it again.
func ReleaseLoadCaches() {
	t0 := time.Now()
	bpfcore.ReleaseCache()
	bpfcore.Phase("release load caches", t0)
}

// ReleaseDelay is how long after arming ReleaseLoadCachesSoon frees the
// load caches.
const ReleaseDelay = time.Second

// releaseSoon is ReleaseLoadCachesSoon's timer.
var releaseSoon = &delayed{delay: ReleaseDelay, f: ReleaseLoadCaches}

// ReleaseLoadCachesSoon calls ReleaseLoadCaches ReleaseDelay from now,
// unless a call is already pending. Freeing is a garbage collection (5-20
// ms of CPU): a process that exits sooner, such as tracep tracing a short
// command, frees nothing its exit would not, and one that arms trace after
// trace frees once for many.
func ReleaseLoadCachesSoon() { releaseSoon.schedule() }

// delayed calls f delay after schedule, once for the calls made before it
// runs.
type delayed struct {
	delay time.Duration
	f     func()

	mu      sync.Mutex
	pending bool
}

// schedule arms the call unless it is pending, and reports whether it did.
func (d *delayed) schedule() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending {
		return false
	}
	d.pending = true
	time.AfterFunc(d.delay, func() {
		d.mu.Lock()
		d.pending = false
		d.mu.Unlock()
		d.f()
	})
	return true
}

// SetStartupTrace makes f receive each phase of the tracers' start-up and
// end (probing, loading, attaching, arming, draining) with the time it
// began, as it ends; nil stops it. TRACEP_STARTUP uses it to show where the
// start-up time goes.
func SetStartupTrace(f func(phase string, start time.Time)) {
	if f == nil {
		bpfcore.SetPhaseHook(nil)
		return
	}
	bpfcore.SetPhaseHook(f)
}

// Preload loads the programs of the tracers of kinds that are not loaded
// yet, all at once, and returns when they are: a StartTrace that follows
// finds them ready. A caller with other work to do before StartTrace (the
// harness makes a cgroup) runs Preload beside it. What cannot load is left
// for StartTrace to report.
func Preload(kinds ...tracep.Kind) { bpfcore.Preload(kinds...) }

// Phase reports to the start-up trace (SetStartupTrace), if one is set,
// that the phase named phase began at start and has just ended: the harness
// and the CLI report their own steps with it.
func Phase(phase string, start time.Time) { bpfcore.Phase(phase, start) }

// TraceConfig says what StartTrace traces.
type TraceConfig struct {
	// Kinds are the tracers to start; empty means every kind this host
	// supports (SupportedKinds).
	Kinds []tracep.Kind
	// Scope selects the processes; the zero Scope is the whole system.
	Scope tracep.Scope
	// Unowned adds, to a scoped trace, the events no process could be
	// found for (an inbound connection no process accepted, a DNS response
	// to a socket already closed): the CLI's "-p 0". It costs a
	// whole-system session per kind, whose owned events are dropped.
	Unowned bool
	// Config holds each tracer's options.
	Config Config
	// CaughtUp, when set, is called by the consumer's goroutine each time
	// it has handed over every event waiting, before it waits for more:
	// the moment to flush what the consumer buffers, at no cost of its
	// own (events come in batches, at most every bpfcore.Tick apart when
	// they trickle).
	CaughtUp func()
}

// Trace is a set of tracers started together, whose events are handed to
// one consumer one at a time, in the order they arrive.
type Trace struct {
	kinds    []tracep.Kind
	sessions map[tracep.Kind]tracep.Session
	all      []started
	q        *queue
	done     chan struct{} // closed when the consumer has seen the last event
	lossMu   sync.Mutex    // over all (the consumer looks for loss as they start)
	lossSeen time.Time     // when loss was last looked for
	once     sync.Once
	err      error
}

// started is one session of a Trace, with the loss already reported.
type started struct {
	kind     tracep.Kind
	s        tracep.Session
	reported uint64
}

// LossEvery is how often, at most, a Trace looks for lost events while it
// runs: after the consumer has been handed a batch of events, so that
// looking never wakes the process (the kernel loses events only while it
// produces them, and a full ring wakes its reader).
const LossEvery = 2 * bpfcore.Tick

// StartTrace starts the tracers of cfg and returns once all are armed:
// what the scope's processes do from then on is observed. emit receives
// every event, one call at a time, from a goroutine of the Trace, never
// after Close returns. The tracers drain the kernel into a queue as fast as
// they can (in memory, then a temporary file), so a slow emit does not make
// them lose events.
//
// Lost events are events too: a KindTrace event with a "lost" Note says
// how many of which kind, with the next events delivered (looked for at
// most every LossEvery) and at Close.
func StartTrace(ctx context.Context, cfg TraceConfig, emit func(tracep.Event)) (_ *Trace, err error) {
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		if kinds, err = SupportedKinds(); err != nil {
			return nil, err
		}
	}
	bpfcore.Preload(kinds...) // the probes of every kind, then their loads, at once
	t := &Trace{kinds: slices.Clone(kinds), sessions: map[tracep.Kind]tracep.Session{},
		q: newQueue(MemoryQueue), done: make(chan struct{})}
	go t.deliver(emit, cfg.CaughtUp)
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	for _, k := range kinds {
		if _, dup := t.sessions[k]; dup {
			continue
		}
		t0 := time.Now()
		s, err := Start(ctx, k, cfg.Scope, cfg.Config, t.q.push)
		if err != nil {
			return nil, fmt.Errorf("start %s tracer: %w", k, err)
		}
		bpfcore.Phase("start "+string(k)+" tracer", t0)
		t.sessions[k] = s
		t.add(k, s)
		if cfg.Unowned && !cfg.Scope.IsSystem() {
			s, err := Start(ctx, k, tracep.Scope{}, cfg.Config, func(ev tracep.Event) {
				if ev.Proc.PID == 0 {
					t.q.push(ev)
				}
			})
			if err != nil {
				return nil, fmt.Errorf("start %s tracer for unowned events: %w", k, err)
			}
			t.add(k, s)
		}
	}
	if cfg.Scope.IsSystem() || cfg.Unowned {
		for _, n := range scopeNotes(t.kinds) {
			t.Note(n)
		}
	}
	return t, nil
}

// scopeNotes says, for a whole-system trace of kinds, what it covers when
// that is less than the system. In a pid namespace other than the initial
// one (a container), the tracers report the pids it sees, and so only its
// processes. The net and dns hooks sit on the root of the cgroup v2
// hierarchy tracep can reach, which, in a cgroup namespace rooted below the
// top whose initial namespace tracep cannot enter, holds part of the
// system only.
func scopeNotes(kinds []tracep.Kind) []tracep.Note {
	pidNS, _ := bpfcore.PidNamespace()
	var notes []tracep.Note
	for _, k := range kinds {
		var only []string
		if pidNS != 0 {
			only = append(only, "the processes of tracep's pid namespace")
		}
		if tracers[k].rootHooks {
			if _, id, err := cgroup.System(); err == nil && id != cgroup.RootCgroupID {
				only = append(only, fmt.Sprintf("the processes of tracep's cgroup namespace (cgroup id %d and below)", id))
			}
		}
		if len(only) == 0 {
			continue
		}
		notes = append(notes, tracep.Note{Op: tracep.NoteScope, Of: k, Detail: fmt.Sprintf(
			"%s events of %s only, not of the whole system: tracep runs in a container's namespaces "+
				"(run it in the host's pid and cgroup namespaces to trace the whole system)", k, strings.Join(only, " and "))})
	}
	return notes
}

// Kinds returns the kinds traced.
func (t *Trace) Kinds() []tracep.Kind { return slices.Clone(t.kinds) }

// Session returns the session of kind k (for a tracer's own methods, such
// as tlstrace's Files), or nil.
func (t *Trace) Session(k tracep.Kind) tracep.Session { return t.sessions[k] }

// Queued returns how many events wait for the consumer.
func (t *Trace) Queued() int { return t.q.len() }

// Note adds a record about the trace (a KindTrace event) to the stream,
// after what the tracers delivered so far. It must not be called after
// Close.
func (t *Trace) Note(n tracep.Note) { t.q.push(NoteEvent(n)) }

// NoteEvent makes the event of a note, stamped now.
func NoteEvent(n tracep.Note) tracep.Event {
	return tracep.Event{Kind: tracep.KindTrace, KTime: bpfcore.Now(), Time: time.Now(), Trace: &n}
}

// add adds a started session; the consumer may be looking for loss.
func (t *Trace) add(k tracep.Kind, s tracep.Session) {
	t.lossMu.Lock()
	t.all = append(t.all, started{kind: k, s: s})
	t.lossMu.Unlock()
}

// reportLoss adds a note for each session that lost events since the
// last, unless it looked less than every ago.
func (t *Trace) reportLoss(every time.Duration) {
	t.lossMu.Lock()
	defer t.lossMu.Unlock()
	if time.Since(t.lossSeen) < every {
		return
	}
	t.lossSeen = time.Now()
	totals := map[tracep.Kind]uint64{}
	var news []tracep.Note
	for i := range t.all {
		st := &t.all[i]
		l, ok := st.s.(interface{ Lost() uint64 })
		if !ok {
			continue
		}
		n := l.Lost()
		totals[st.kind] += n
		if n > st.reported {
			news = append(news, tracep.Note{Op: tracep.NoteLost, Of: st.kind, Count: n - st.reported})
			st.reported = n
		}
	}
	for _, n := range news {
		n.Total = totals[n.Of]
		t.Note(n)
	}
}

// Close stops every tracer, delivers what they had captured (with a note
// of what was lost) and returns once the consumer has seen the last event.
// The error joins the tracers' errors: a *tracep.LostError (matching
// tracep.ErrLost) for each kind that lost events. Close is idempotent.
func (t *Trace) Close() error {
	t.once.Do(func() {
		var errs []error
		for i := range t.all { // by index: the consumer may be updating reported
			st := &t.all[i]
			t0 := time.Now()
			errs = append(errs, st.s.Close())
			bpfcore.Phase("close "+string(st.kind)+" tracer", t0)
		}
		t.reportLoss(0) // the final counts
		t.q.close()
		<-t.done
		if err := t.q.release(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", tracep.ErrLost, err))
		}
		t.err = errors.Join(errs...)
	})
	return t.err
}

func (t *Trace) deliver(emit func(tracep.Event), caughtUp func()) {
	defer close(t.done)
	var batch []tracep.Event
	for {
		var ok bool
		if batch, ok = t.q.pop(batch); !ok {
			return
		}
		for _, ev := range batch {
			emit(ev)
		}
		t.reportLoss(LossEvery) // its notes come next, before catching up
		if caughtUp != nil && t.q.len() == 0 {
			caughtUp()
		}
	}
}
