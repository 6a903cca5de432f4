package bpfcore

import (
	"time"

	"golang.org/x/sys/unix"
)

// NewClock measures the current offset between CLOCK_MONOTONIC and
// CLOCK_REALTIME, taking the tightest of a few samples.
func NewClock() Clock {
	best := int64(-1)
	var c Clock
	for range 3 {
		var m1, r, m2 unix.Timespec
		if unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1) != nil ||
			unix.ClockGettime(unix.CLOCK_REALTIME, &r) != nil ||
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2) != nil {
			break
		}
		d := m2.Nano() - m1.Nano()
		if best < 0 || d < best {
			best = d
			c = Clock{offset: r.Nano() - (m1.Nano()+m2.Nano())/2}
		}
	}
	if best < 0 {
		// clock_gettime cannot fail for these clocks; fall back to Go's view.
		return ClockAt(0, time.Now())
	}
	return c
}

// Now returns the kernel's CLOCK_MONOTONIC time, the clock of event KTimes.
func Now() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return uint64(ts.Nano())
}
