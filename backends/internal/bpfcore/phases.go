package bpfcore

import (
	"sync/atomic"
	"time"
)

// PhaseFunc is told that a phase of a tracer's start-up (or end) named
// phase began at start and has just ended.
type PhaseFunc func(phase string, start time.Time)

var phaseHook atomic.Pointer[PhaseFunc]

// SetPhaseHook makes f receive the start-up phases of every later session
// (loading maps, probing features, loading and attaching programs,
// installing rings, registering the scope), for a start-up trace; nil
// stops it. Without a hook a phase costs one atomic load.
func SetPhaseHook(f PhaseFunc) {
	if f == nil {
		phaseHook.Store(nil)
		return
	}
	phaseHook.Store(&f)
}

// Phase reports the phase that began at start, if a hook is set.
func Phase(phase string, start time.Time) {
	if f := phaseHook.Load(); f != nil {
		(*f)(phase, start)
	}
}

// Tracing reports whether a phase hook is set, for callers that would
// compute a phase's name.
func Tracing() bool { return phaseHook.Load() != nil }
