package exectrace

import (
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

const (
	// DefaultArgvLimit is the argv bytes captured per exec when
	// Config.ArgvLimit is zero.
	DefaultArgvLimit = 32 << 10
	// MaxArgvLimit is the largest Config.ArgvLimit (TPX_ARGV_CAP in
	// bpf/exec.bpf.c: the per-CPU scratch buffer holds this much).
	MaxArgvLimit = 128 << 10
	// DefaultRingBytes is the ring buffer of a session when
	// Config.RingBytes is zero.
	DefaultRingBytes = 4 << 20

	// filenameMax is the longest filename a record carries (PATH_MAX).
	filenameMax = 4096
)

// Config configures an exec tracing session.
type Config struct {
	// Scope selects the processes traced; the zero Scope traces the whole
	// system. A cgroup and a pid list together select their union.
	Scope tracep.Scope
	// ArgvLimit bounds the argv bytes (NUL separators included) captured per
	// exec. Zero selects DefaultArgvLimit; at most MaxArgvLimit. A longer
	// argv is cut and its event has ArgvTruncated set.
	ArgvLimit int
	// RingBytes sizes this session's ring buffer. Zero selects
	// DefaultRingBytes; other values are rounded up to a power of two, which
	// must hold at least four records of the largest size.
	RingBytes int
}

// normalize applies the defaults and checks the limits.
func (c Config) normalize() (Config, error) {
	var err error
	if c.ArgvLimit, err = bpfcore.Limit("argv limit", c.ArgvLimit, DefaultArgvLimit, MaxArgvLimit); err != nil {
		return c, err
	}
	c.RingBytes, err = bpfcore.RingBytes(c.RingBytes, DefaultRingBytes, 4, recHeaderSize+filenameMax+c.ArgvLimit)
	return c, err
}
