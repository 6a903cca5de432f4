package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"sync"
	"time"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/tracep"
)

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
	kinds := cfg.kinds
	if len(kinds) == 0 {
		var err error
		if kinds, err = supportedKinds(); err != nil {
			return nil, err
		}
	}

	// Each tracer of a trace takes one of the kernel side's session slots;
	// wait for enough of them rather than fail when many traces run at once.
	if err := slots.acquire(ctx, len(kinds)); err != nil {
		return nil, err
	}
	defer slots.release(len(kinds))

	cg, err := cgroup.New()
	if err != nil {
		return nil, err
	}
	defer cg.Close()

	var (
		mu     sync.Mutex
		events []tracep.Event
	)
	emit := func(ev tracep.Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		if cfg.onEvent != nil {
			cfg.onEvent(ev)
		}
	}

	start := time.Now()
	scope := tracep.Scope{CgroupID: cg.ID()}
	var sessions []tracep.Session
	closeAll := func() error {
		var errs []error
		for _, s := range sessions {
			errs = append(errs, s.Close())
		}
		return errors.Join(errs...)
	}
	for _, k := range kinds {
		s, err := backends.Start(ctx, k, scope, emit)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("start %s tracer: %w", k, err)
		}
		sessions = append(sessions, s)
	}
	capture := &Capture{CgroupID: cg.ID(), Arm: time.Since(start)}
	backends.ReleaseLoadCaches()

	startInCgroup(cmd, cg.FD())
	if cfg.net != nil {
		err = cfg.net.Start(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		closeAll()
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
		closeAll()
		return nil, fmt.Errorf("wait for %s: %w", cmd.Path, waitErr)
	}

	var waitAllErr error
	if cfg.waitAll {
		waitAllErr = cg.WaitEmpty(waitCtx)
	}
	// Whatever the command left behind is part of its trace until killed.
	killErr := cg.Kill(10 * time.Second)
	closeErr := closeAll()

	sort.SliceStable(events, func(i, j int) bool { return events[i].KTime < events[j].KTime })
	for i := range events {
		events[i].Seq = uint64(i + 1)
		events[i].Schema = tracep.SchemaVersion
	}
	capture.Events = events

	var lost *tracep.LostError
	var errs []error
	for _, err := range unjoin(closeErr) {
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
		errs = append(errs, ctx.Err())
	}
	return capture, errors.Join(errs...)
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// supportedKinds returns the kinds this host can trace now; when it can
// trace none, the first kind's reason (a missing privilege, typically).
func supportedKinds() ([]tracep.Kind, error) {
	var kinds []tracep.Kind
	var first error
	for _, k := range backends.Kinds() {
		if err := backends.Supported(k); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return nil, first
	}
	return kinds, nil
}
