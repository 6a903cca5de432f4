package nettrace

import (
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// DefaultRingBytes is the ring buffer of a session when Config.RingBytes is
// zero: room for about 15,000 records (128 bytes each, plus an 8-byte
// header), over 100 ms of the fastest loopback connection storm measured
// here while the reader batches for 10 ms.
const DefaultRingBytes = 2 << 20

// Config configures a network tracing session.
type Config struct {
	// Scope selects the processes traced; the zero Scope traces the whole
	// system. A cgroup and a pid list together select their union.
	Scope tracep.Scope
	// States adds an event (Op "state") for every TCP state change of a
	// reported connection after it was opened: ESTABLISHED, FIN_WAIT1...
	States bool
	// RingBytes sizes this session's ring buffer. Zero selects
	// DefaultRingBytes; other values are rounded up to a power of two.
	RingBytes int
}

// param bits of a session's slot (TPN_P_* in bpf/net.bpf.c).
const paramStates = 1 << 0

// normalize applies the defaults and checks the limits.
func (c Config) normalize() (Config, error) {
	var err error
	c.RingBytes, err = bpfcore.RingBytes(c.RingBytes, DefaultRingBytes, 1, recSize)
	return c, err
}

func (c Config) param() uint32 {
	if c.States {
		return paramStates
	}
	return 0
}
