package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"time"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/testnet/cmdnet"
	"github.com/tracep/tracep/tracep"
)

// ErrTooManyEvents means a trace made more events than MaxEvents allows.
var ErrTooManyEvents = errors.New("too many events to keep (MaxEvents; or Discard and OnEvent)")

// Capture is what a traced run produced.
type Capture struct {
	// Events are ordered by kernel time and numbered from 1.
	Events []tracep.Event
	// ExitCode is the command's exit status, or -1 if a signal ended it.
	ExitCode int
	// Lost counts events the kernel dropped, over all kinds.
	Lost uint64
	// CgroupID is the id of the cgroup the command ran in.
	CgroupID uint64
	// Arm is how long arming the tracers took.
	Arm time.Duration
	// Leftover are the processes still running in the command's cgroup
	// when it exited: killed then, or waited for with WaitAll (a
	// "leftover" note in Events says which).
	Leftover []tracep.Proc
}

// Run runs cmd under the tracers and returns what they saw once cmd has
// exited and the tracers have drained. cmd must not have been started.
//
// The error is nil when cmd ran, whatever its exit status; it wraps
// os.ErrPermission when a privilege is missing (a *tracep.PermissionError
// says which) and matches tracep.ErrLost, with the capture still returned,
// when events were dropped.
func Run(ctx context.Context, cmd *exec.Cmd, opts ...Option) (*Capture, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.net == nil {
		// A command made by Net.Command: started from inside, so that the
		// step that enters the network (nsenter) is not in the trace.
		cfg.net = cmdnet.Of(cmd)
	}
	kinds := cfg.kinds
	if len(kinds) == 0 {
		var err error
		if kinds, err = backends.SupportedKinds(); err != nil {
			return nil, err
		}
	}

	// Loading the tracers' programs is most of a first trace's start: it
	// runs while the cgroup and its watchdog are made.
	go backends.Preload(kinds...)

	// Each tracer of a trace takes one of the kernel side's session slots;
	// wait for enough of them rather than fail when many traces run at once.
	if err := slots.acquire(ctx, len(kinds)); err != nil {
		return nil, err
	}
	defer slots.release(len(kinds))

	t0 := time.Now()
	cg, err := cgroup.New()
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	backends.Phase("harness: cgroup", t0)

	// The trace's consumer: one event at a time, from the trace's goroutine.
	var events []tracep.Event
	ctx, tooMany := context.WithCancelCause(ctx)
	defer tooMany(nil)
	emit := func(ev tracep.Event) {
		if !cfg.discard {
			if cfg.maxEvents > 0 && len(events) >= cfg.maxEvents {
				tooMany(fmt.Errorf("%w: more than %d", ErrTooManyEvents, cfg.maxEvents))
			} else {
				events = append(events, ev)
			}
		}
		if cfg.onEvent != nil {
			cfg.onEvent(ev)
		}
	}

	start := time.Now()
	trace, err := backends.StartTrace(ctx, backends.TraceConfig{
		Kinds:    kinds,
		Scope:    tracep.Scope{CgroupID: cg.ID()},
		Config:   cfg.tracers,
		CaughtUp: cfg.caughtUp,
	}, emit)
	if err != nil {
		return nil, err
	}
	capture := &Capture{CgroupID: cg.ID(), Arm: time.Since(start)}
	// Off the command's path, and not at all for a command that is done
	// sooner: freeing is a garbage collection.
	backends.ReleaseLoadCachesSoon()
	if cfg.onArmed != nil {
		cfg.onArmed(trace)
	}

	startInCgroup(cmd, cg.FD())
	if cfg.net != nil {
		err = cfg.net.Start(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		trace.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}

	// The command ends when it exits, when ctx is done or when the timeout
	// expires; the last two kill its whole cgroup.
	waitCtx := ctx
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-waitCtx.Done():
			_ = cg.Kill(10 * time.Second)
		case <-done:
		}
	}()
	waitErr := cmd.Wait()
	close(done)
	capture.ExitCode = cmd.ProcessState.ExitCode()
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		trace.Close()
		return nil, fmt.Errorf("wait for %s: %w", cmd.Path, waitErr)
	}

	// Whatever the command left running is part of its trace: said in the
	// trace, waited for (WaitAll) or killed.
	// When the wait was cut short (cancelled, timed out), the whole tree
	// is being killed on purpose and the error says so: nothing was left.
	var waitAllErr error
	if left, _ := cg.Procs(); len(left) > 0 && waitCtx.Err() == nil {
		capture.Leftover = left
		action := tracep.LeftoverKilled
		if cfg.waitAll {
			action = tracep.LeftoverWaited
		}
		trace.Note(tracep.Note{Op: tracep.NoteLeftover, Procs: left, Action: action})
		if cfg.waitAll {
			allCtx := waitCtx
			if cfg.waitMax > 0 {
				var cancel context.CancelFunc
				allCtx, cancel = context.WithTimeout(waitCtx, cfg.waitMax)
				defer cancel()
			}
			if waitAllErr = cg.WaitEmpty(allCtx); waitAllErr != nil {
				if still, _ := cg.Procs(); len(still) > 0 {
					trace.Note(tracep.Note{Op: tracep.NoteLeftover, Procs: still, Action: tracep.LeftoverKilled,
						Detail: "still running when the wait ended"})
				}
				if ctx.Err() == nil && waitCtx.Err() == nil {
					waitAllErr = nil // the bound of WaitAll was reached: not an error
				}
			}
		}
	}
	killErr := cg.Kill(10 * time.Second)
	closeErr := trace.Close()

	SortEvents(events)
	capture.Events = events

	var lost *tracep.LostError
	var errs []error
	for _, err := range tracep.SplitErrors(closeErr) {
		if errors.As(err, &lost) {
			capture.Lost += lost.Count
		}
		errs = append(errs, err)
	}
	if killErr != nil {
		errs = append(errs, killErr)
	}
	if waitAllErr != nil && waitCtx.Err() == nil {
		errs = append(errs, waitAllErr)
	}
	if waitCtx.Err() != nil && ctx.Err() == nil {
		errs = append(errs, fmt.Errorf("%s: timed out after %v", cmd.Path, cfg.timeout))
	} else if ctx.Err() != nil {
		errs = append(errs, context.Cause(ctx))
	}
	return capture, errors.Join(errs...)
}

// SortEvents puts events of several tracers in kernel-time order (stable
// for equal times) and numbers them from 1, as a Capture has them.
func SortEvents(evs []tracep.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].KTime < evs[j].KTime })
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		evs[i].Schema = tracep.SchemaVersion
	}
}
