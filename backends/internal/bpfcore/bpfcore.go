package bpfcore

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracep/tracep/tracep"
)

// MaxSessions is how many sessions, over all backends, a process can have
// open at once: each holds one slot of the kernel's tables. It matches
// TP_MAX_SLOTS in bpf/tp_core.h.
const MaxSessions = 64

// Tick is how long a record may wait in its ring for the reader. The
// programs wake a session's reader only once a quarter of its ring is full
// (TP_WAKE_SHIFT in bpf/tp_core.h); otherwise the reader looks at the ring
// every Tick, and at once when the session closes. A tick that finds
// nothing puts the reader to sleep until the next record (tp_wake), so an
// idle session costs nothing. A wake-up per record cost ~100 µs of tracer
// CPU per record arriving on its own (a DNS lookup, a connect); a look
// every Tick costs a few hundred µs here whatever the rate, and delays
// delivery by at most Tick. The ticks of every session fall on the same
// multiples of Tick (of the monotonic clock), so that a process's readers
// wake together, from one timer. Half a
// second keeps live output under a second late, and cut the tracer's CPU
// during spread-out whole-system workloads by a quarter against 250 ms
// (4,000 execs at 240/s: 63-83 → 47-51 ms; 300 connects at 60/s: 24-31 →
// 18-20 ms).
const Tick = 500 * time.Millisecond

// Coalesce is the longest a record waits for the reader: Tick.
//
// Deprecated: use Tick.
const Coalesce = Tick

// ErrNoSlot is returned when MaxSessions sessions are already open.
var ErrNoSlot = errors.New("no free session slot")

// MinRingBytes is the smallest ring buffer a session may ask for.
const MinRingBytes = 64 << 10

// kindIndexes are the TP_KIND_* indexes of bpf/tp_core.h.
var kindIndexes = map[tracep.Kind]int{tracep.KindExec: 0, tracep.KindNet: 1, tracep.KindDNS: 2, tracep.KindTLS: 3}

// kindIndex returns the TP_KIND_* index of backend kind k.
func kindIndex(k tracep.Kind) (int, error) {
	if i, ok := kindIndexes[k]; ok {
		return i, nil
	}
	return 0, fmt.Errorf("kind %q has no kernel backend: %w", k, tracep.ErrInvalid)
}

// RingSize returns n rounded up to a power of two of at least MinRingBytes,
// the sizes a BPF ring buffer accepts.
func RingSize(n int) (int, error) {
	if n < 0 {
		return 0, fmt.Errorf("ring size %d: %w", n, tracep.ErrInvalid)
	}
	if n > 1<<30 {
		return 0, fmt.Errorf("ring size %d above 1 GiB: %w", n, tracep.ErrInvalid)
	}
	size := MinRingBytes
	for size < n {
		size <<= 1
	}
	return size, nil
}

// RingBytes returns the ring buffer size of a session configured with n
// bytes: def when n is zero, else n rounded up by RingSize. A ring must hold
// at least records records of the largest size, largest bytes; a smaller
// one fails with an error wrapping tracep.ErrInvalid.
func RingBytes(n, def, records, largest int) (int, error) {
	if n == 0 {
		n = def
	}
	size, err := RingSize(n)
	if err != nil {
		return 0, err
	}
	if size < records*largest {
		return 0, fmt.Errorf("ring of %d bytes smaller than %d records of %d bytes: %w", size, records, largest, tracep.ErrInvalid)
	}
	return size, nil
}

// Limit returns a configured limit v of at most max, named name in
// errors: def when v is zero, an error wrapping tracep.ErrInvalid when v
// is negative or above max.
func Limit(name string, v, def, max int) (int, error) {
	switch {
	case v < 0 || v > max:
		return 0, fmt.Errorf("%s %d outside 0..%d: %w", name, v, max, tracep.ErrInvalid)
	case v == 0:
		return def, nil
	}
	return v, nil
}

// Normalize begins a backend's Start: it refuses a nil emit and returns
// cfg normalized by normalize. Its errors, like the rest of Start's, say
// "<kind> tracer: ...".
func Normalize[C any](k tracep.Kind, cfg C, normalize func(C) (C, error), emit func(tracep.Event)) (C, error) {
	if emit == nil {
		return cfg, fmt.Errorf("%s tracer: nil emit: %w", k, tracep.ErrInvalid)
	}
	cfg, err := normalize(cfg)
	if err != nil {
		return cfg, fmt.Errorf("%s tracer: %w", k, err)
	}
	return cfg, nil
}

// SessionConfig configures one session of a backend.
type SessionConfig struct {
	// Scope selects the processes whose events reach the session.
	Scope tracep.Scope
	// RingBytes is the size of the session's ring buffer, a power of two of
	// at least MinRingBytes (see RingSize).
	RingBytes int
	// MaxRingBytes is the size up to which the ring grows, by four times
	// at a step, when its reader falls behind: when half of it waited to
	// be read. Zero selects GrowRings times RingBytes (at most 1 GiB);
	// RingBytes keeps the ring's size fixed.
	MaxRingBytes int
	// Param is handed to the backend's programs as the slot's parameter
	// (tp_cfg.param); its meaning is the backend's.
	Param uint32
}

// GrowRings is how many times its first size a session's ring grows to at
// most, unless SessionConfig.MaxRingBytes says otherwise.
const GrowRings = 16

// maxRing returns the size up to which the ring may grow.
func (c SessionConfig) maxRing() int {
	if c.MaxRingBytes != 0 {
		return c.MaxRingBytes
	}
	return min(c.RingBytes*GrowRings, 1<<30)
}

func (c SessionConfig) validate() error {
	if c.RingBytes < MinRingBytes || c.RingBytes&(c.RingBytes-1) != 0 {
		return fmt.Errorf("ring size %d is not a power of two of at least %d: %w", c.RingBytes, MinRingBytes, tracep.ErrInvalid)
	}
	if m := c.MaxRingBytes; m != 0 && (m < c.RingBytes || m > 1<<30 || m&(m-1) != 0) {
		return fmt.Errorf("largest ring size %d is not a power of two from %d to 1 GiB: %w", m, c.RingBytes, tracep.ErrInvalid)
	}
	if c.Scope.CgroupID != 0 && c.Scope.CgroupID == ^uint64(0) {
		return fmt.Errorf("cgroup id %d: %w", c.Scope.CgroupID, tracep.ErrInvalid)
	}
	for _, pid := range c.Scope.PIDs {
		if pid <= 0 {
			return fmt.Errorf("scope pid %d: %w", pid, tracep.ErrInvalid)
		}
	}
	return nil
}
