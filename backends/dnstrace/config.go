package dnstrace

import (
	"fmt"
	"slices"
	"time"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

const (
	// DefaultPort is the port whose traffic is DNS when Config.Ports is empty.
	DefaultPort = 53
	// MaxSnapLen is the largest Config.SnapLen, and the one used when it
	// is zero: a whole UDP message, whatever its size.
	MaxSnapLen = MaxMessageSize
	// DefaultTimeout is how long a query waits for its response before it
	// is reported unanswered, when Config.Timeout is zero (glibc's
	// resolver waits 5 s per try).
	DefaultTimeout = 5 * time.Second
	// DefaultRingBytes is the session's ring buffer when Config.RingBytes
	// is zero.
	DefaultRingBytes = 2 << 20
	// MaxPorts is how many distinct ports the sessions of a process may
	// watch together.
	MaxPorts = 1024

	// maxRecord is the largest record: the header and a 64 KiB segment
	// (TPD_CAP - 1 in bpf/dns.bpf.c).
	maxRecord = recHeaderSize + 1<<16 - 1
)

// Config configures a DNS tracing session.
type Config struct {
	// Scope selects the processes traced; the zero Scope traces the whole
	// system. A cgroup and a pid list together select their union. A
	// message belongs to the process that owns the socket sending or
	// receiving it (see the package documentation).
	Scope tracep.Scope
	// Ports are the ports that carry DNS: a UDP datagram or TCP segment
	// from or to one of them is captured. Empty means DefaultPort only;
	// add 5353 for mDNS, say. Port 0 is invalid.
	Ports []uint16
	// SnapLen, when set, caps the octets captured of each UDP message. Zero,
	// the default, captures messages whole (MaxSnapLen). A longer message
	// is decoded as far as it was captured and its event flagged: Cut says
	// how much was captured, AnswersIncomplete whether answers are missing
	// (Stats.SnapTruncated counts them). TCP segments are captured whole,
	// up to 64 KiB, since their stream must be reassembled; a larger one
	// loses the stream's place, which the queries waiting on it say.
	SnapLen int
	// Timeout is how long a query waits for its response before it is
	// reported unanswered. Zero selects DefaultTimeout.
	Timeout time.Duration
	// MaxPending bounds the queries waiting for a response. Zero selects
	// DefaultMatcherSize. When it is full the oldest is reported
	// unanswered.
	MaxPending int
	// RingBytes sizes the session's ring buffer. Zero selects
	// DefaultRingBytes; other values are rounded up to a power of two,
	// which must hold at least four of the largest records (256 KiB).
	RingBytes int
}

// normalize applies the defaults and checks the limits.
func (c Config) normalize() (Config, error) {
	if len(c.Ports) == 0 {
		c.Ports = []uint16{DefaultPort}
	}
	c.Ports = slices.Clone(c.Ports)
	slices.Sort(c.Ports)
	c.Ports = slices.Compact(c.Ports)
	if c.Ports[0] == 0 {
		return c, fmt.Errorf("port 0: %w", tracep.ErrInvalid)
	}
	if len(c.Ports) > MaxPorts {
		return c, fmt.Errorf("%d ports, more than %d: %w", len(c.Ports), MaxPorts, tracep.ErrInvalid)
	}
	var err error
	if c.SnapLen, err = bpfcore.Limit("snap length", c.SnapLen, MaxSnapLen, MaxSnapLen); err != nil {
		return c, err
	}
	if c.SnapLen < headerLen {
		return c, fmt.Errorf("snap length %d shorter than a DNS header: %w", c.SnapLen, tracep.ErrInvalid)
	}
	switch {
	case c.Timeout < 0:
		return c, fmt.Errorf("timeout %v: %w", c.Timeout, tracep.ErrInvalid)
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	if c.MaxPending < 0 {
		return c, fmt.Errorf("max pending %d: %w", c.MaxPending, tracep.ErrInvalid)
	}
	c.RingBytes, err = bpfcore.RingBytes(c.RingBytes, DefaultRingBytes, 4, maxRecord)
	return c, err
}
