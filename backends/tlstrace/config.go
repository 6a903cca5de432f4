package tlstrace

import (
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

const (
	// DefaultDataLimit is the plaintext captured per call when
	// Config.DataLimit is zero: a full TLS record.
	DefaultDataLimit = 16 << 10
	// MaxDataLimit is the largest Config.DataLimit (TLSX_DATA_CAP in
	// bpf/tls.bpf.c: the per-CPU scratch buffer holds this much).
	MaxDataLimit = 256 << 10
	// DefaultRingBytes is the ring buffer of a session when
	// Config.RingBytes is zero. A 1 MiB response arrives over loopback in a
	// few milliseconds, as 64 records of 16 KiB; the reader drains the ring
	// at least every bpfcore.Coalesce, so 8 MiB leaves room for bursts of
	// several hundred MB/s.
	DefaultRingBytes = 8 << 20

	// recSlack is the ring buffer's header per record, rounded up.
	recSlack = 8
)

// Config configures a TLS tracing session.
type Config struct {
	// Scope selects the processes traced; the zero Scope traces the whole
	// system. A cgroup and a pid list together select their union.
	Scope tracep.Scope
	// DataLimit bounds the plaintext bytes captured per call. Zero selects
	// DefaultDataLimit; at most MaxDataLimit. A longer call is cut and its
	// event has Truncated set, with Len the real length.
	DataLimit int
	// RingBytes sizes this session's ring buffer. Zero selects
	// DefaultRingBytes; other values are rounded up to a power of two,
	// which must hold at least eight records of the largest size.
	RingBytes int
	// Files are extra libraries or executables to probe from the start
	// (tracep tls -l), besides the system's libssl and libgnutls and what
	// the traced processes map or execute.
	Files []string
	// NoHold lets new binaries run while they are inspected. By default a
	// scoped session (cgroup or pids) has a process that executes, or maps
	// executable, a file not inspected yet stopped (SIGSTOP) until the
	// file's probes are attached and then continued (SIGCONT), so that a Go
	// program is traced from its first instruction. Processes that lead a
	// process group of their own (jobs of an interactive shell) are never
	// held, nor is anything in a whole-system session.
	NoHold bool
	// Log, when set, receives diagnostics: the files probed (tracep tls
	// -v) and, as warnings, those that hold TLS code but could not be
	// probed, and why. It is called from the tracer's goroutines, never
	// after Close returns.
	Log func(Diagnostic)
}

// Diagnostic is a message about the probes for the user.
type Diagnostic struct {
	// Warning marks a file with TLS code that is not traced.
	Warning bool
	Msg     string
}

// normalize applies the defaults and checks the limits.
func (c Config) normalize() (Config, error) {
	var err error
	if c.DataLimit, err = bpfcore.Limit("data limit", c.DataLimit, DefaultDataLimit, MaxDataLimit); err != nil {
		return c, err
	}
	c.RingBytes, err = bpfcore.RingBytes(c.RingBytes, DefaultRingBytes, 8, recHeaderSize+c.DataLimit+recSlack)
	return c, err
}

// param is the session's parameter for the BPF programs: the data limit,
// and the top bit when new binaries are held.
func (c Config) param() uint32 {
	p := uint32(c.DataLimit)
	if c.holds() {
		p |= 1 << 31
	}
	return p
}

// holds reports whether the session holds new binaries.
func (c Config) holds() bool { return !c.NoHold && !c.Scope.IsSystem() }
