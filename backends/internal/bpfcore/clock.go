package bpfcore

import "time"

// Clock converts kernel timestamps (bpf_ktime_get_ns, CLOCK_MONOTONIC) to
// wall-clock time. It holds the offset between the two clocks measured when
// it was made, so a wall-clock step after that (NTP, settimeofday) is not
// reflected; make a new Clock per session.
type Clock struct {
	offset int64 // CLOCK_REALTIME - CLOCK_MONOTONIC, in ns
}

// ClockAt returns a Clock for which monotonic time mono corresponds to
// wall-clock time wall.
func ClockAt(mono uint64, wall time.Time) Clock {
	return Clock{offset: wall.UnixNano() - int64(mono)}
}

// Time returns the wall-clock time of kernel timestamp ktime.
func (c Clock) Time(ktime uint64) time.Time {
	return time.Unix(0, int64(ktime)+c.offset)
}
