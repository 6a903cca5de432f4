package exectrace

import (
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

const (
	// MaxArgvLimit is the largest Config.ArgvLimit, and the most argv
	// bytes an exec ever reports: 8 MiB, beyond the kernel's own limit
	// (the strings of argv and the environment take at most a quarter of
	// the stack rlimit, and never more than 6 MiB; one string at most
	// 128 KiB, MAX_ARG_STRLEN).
	MaxArgvLimit = pieceMax * piecesMax
	// DefaultRingBytes is the ring buffer of a session when
	// Config.RingBytes is zero. It holds an argv of 2 MiB, the most the
	// kernel accepts with the usual 8 MiB stack rlimit, twice over.
	DefaultRingBytes = 4 << 20

	// filenameMax is the longest filename a record carries (PATH_MAX).
	filenameMax = 4096
	// pieceMax is the most argv bytes one record carries (TPX_ARGV_CAP in
	// bpf/exec.bpf.c: the per-CPU scratch buffer holds this much); a
	// longer argv comes in several records, piecesMax at most
	// (TPX_PIECES_MAX).
	pieceMax  = 128 << 10
	piecesMax = 64
	// argvWhole is the session parameter asking for argv whole
	// (TPX_ARGV_WHOLE).
	argvWhole = 1<<32 - 1
)

// Config configures an exec tracing session.
type Config struct {
	// Scope selects the processes traced; the zero Scope traces the whole
	// system. A cgroup and a pid list together select their union.
	Scope tracep.Scope
	// ArgvLimit, when set, caps the argv bytes (NUL separators included)
	// captured per exec, at most MaxArgvLimit: a longer argv is cut and its
	// event has ArgvTruncated set, with ArgvSize the real size. Zero, the
	// default, captures argv whole, whatever the kernel accepted.
	ArgvLimit int
	// RingBytes sizes this session's ring buffer. Zero selects
	// DefaultRingBytes; other values are rounded up to a power of two, which
	// must hold at least four records of the largest size. An argv longer
	// than a record comes in several, all written to the ring at once: one
	// larger than the ring's free space loses pieces, which Close reports
	// as lost records and the exec event as ArgvTruncated.
	RingBytes int
}

// normalize applies the defaults and checks the limits.
func (c Config) normalize() (Config, error) {
	var err error
	if c.ArgvLimit, err = bpfcore.Limit("argv limit", c.ArgvLimit, 0, MaxArgvLimit); err != nil {
		return c, err
	}
	piece := pieceMax
	if c.ArgvLimit != 0 {
		piece = min(piece, c.ArgvLimit)
	}
	c.RingBytes, err = bpfcore.RingBytes(c.RingBytes, DefaultRingBytes, 4, recHeaderSize+filenameMax+piece)
	return c, err
}

// param is the session's parameter for the BPF programs: the argv bytes it
// wants.
func (c Config) param() uint32 {
	if c.ArgvLimit == 0 {
		return argvWhole
	}
	return uint32(c.ArgvLimit)
}
