package tracep

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON form of Event written on every line.
const SchemaVersion = 1

// Event is one observation. Exactly the payload named by Kind is non-nil.
type Event struct {
	// Schema is the JSON schema version; the encoder sets it.
	Schema int `json:"schema"`
	// Seq numbers the events of one trace from 1 in the order they are delivered.
	Seq uint64 `json:"seq"`
	// Kind says which payload is set.
	Kind Kind `json:"kind"`
	// KTime is the kernel's CLOCK_MONOTONIC timestamp in nanoseconds (0 when
	// the event did not come from the kernel). It orders events across tracers.
	KTime uint64 `json:"ktime_ns,omitempty"`
	// Time is the wall-clock time of the event.
	Time time.Time `json:"time"`
	// Proc is the process that caused the event; zero when unknown.
	Proc Proc `json:"proc"`

	Exec *Exec  `json:"exec,omitempty"`
	Net  *Net   `json:"net,omitempty"`
	DNS  *DNS   `json:"dns,omitempty"`
	TLS  *TLS   `json:"tls,omitempty"`
	CA   *Chain `json:"ca,omitempty"`
	// Trace is set on a record about the trace itself (KindTrace).
	Trace *Note `json:"trace,omitempty"`
}

// Payload is the part of an Event that one kind of tracer fills in. Each
// payload type says, in its own file, everything tracep means by its kind,
// so that the CLI, the harness, golden files and policies never disagree.
type Payload interface {
	// Kind is the kind the payload belongs to.
	Kind() Kind
	// Text renders the payload on one line for people: everything that
	// matters, with every string escaped, starting with what happened
	// ("exec", "connect", "dns", ...).
	Text() string
	// Stable renders the payload for golden traces: the same words as Text
	// without what differs between two runs of one program (ids, times,
	// sizes, ephemeral ports). It is "" for an event that has no place in a
	// golden trace.
	Stable() string
	// IsAction reports whether the event says what the program did (ran a
	// program, opened a flow, asked a name, sent over TLS): the events a
	// policy judges and an audit lists. Exits, state changes, closes and
	// reads are consequences, not actions.
	IsAction() bool
	// DerivedKeys calls add for each matcher key computed from the payload,
	// beyond (or replacing) its JSON fields: exec's "prog" and "args", the
	// canonical form of DNS and TLS names, TLS "text".
	DerivedKeys(add func(key, value string))
	// AuditKeys names the matcher keys whose values identify an action in a
	// suggested policy; none when it cannot be identified.
	AuditKeys() []string
	// Incomplete says what of the observation was not captured whole (an
	// argv cut at a limit, plaintext beyond the capture size, a DNS message
	// cut short), or "" when nothing is missing. A verdict that a missing
	// part could change is "incomplete", never a pass.
	Incomplete() string
	// CutKeys names the matcher keys whose values may be missing a part
	// when Incomplete is not empty: a pattern on them cannot be trusted to
	// fail.
	CutKeys() []string
	// Place says where the event's Stable line goes in the golden form of
	// its process, and with which others it is grouped: events the
	// scheduler may reorder get a group and are sorted within their
	// segment, so that two runs of one program give one golden.
	Place() (place Place, group string)
}

// Place is where an event's line goes in a process's golden form, which is
// cut into segments at each exec.
type Place int

// The places of the golden form.
const (
	PlaceInOrder Place = iota // in time order, after the segment's groups
	PlaceProgram              // heads a new segment (a successful exec)
	PlaceAttempt              // in order, repeats folded (a failed exec)
	PlaceExit                 // at the end of the process
	PlaceLookup               // sorted by group (a DNS name): A and AAAA together
	PlaceFlow                 // with its socket's flow (connect to close)
	PlaceSession              // with its connection's flow, else by group (library and server name)
	PlaceNote                 // a note on the whole trace, after every process
)

// Payload returns the payload named by ev.Kind, or nil when it is missing.
func (ev Event) Payload() Payload {
	switch {
	case ev.Kind == KindExec && ev.Exec != nil:
		return ev.Exec
	case ev.Kind == KindNet && ev.Net != nil:
		return ev.Net
	case ev.Kind == KindDNS && ev.DNS != nil:
		return ev.DNS
	case ev.Kind == KindTLS && ev.TLS != nil:
		return ev.TLS
	case ev.Kind == KindCA && ev.CA != nil:
		return ev.CA
	case ev.Kind == KindTrace && ev.Trace != nil:
		return ev.Trace
	}
	return nil
}

// PayloadOf returns a new, zero payload of kind k (for the keys a kind
// has), or nil for an unknown kind.
func PayloadOf(k Kind) Payload {
	switch k {
	case KindExec:
		return &Exec{}
	case KindNet:
		return &Net{}
	case KindDNS:
		return &DNS{}
	case KindTLS:
		return &TLS{}
	case KindCA:
		return &Chain{}
	case KindTrace:
		return &Note{}
	}
	return nil
}

// Text is the payload's Text, or the kind alone when the payload is missing.
func (ev Event) Text() string {
	if p := ev.Payload(); p != nil {
		return p.Text()
	}
	return string(ev.Kind)
}

// IsAction is the payload's IsAction; false when the payload is missing.
func (ev Event) IsAction() bool {
	p := ev.Payload()
	return p != nil && p.IsAction()
}

// String renders ev on one line: its process, then its Text.
func (ev Event) String() string {
	if ev.Proc.PID == 0 {
		return ev.Text()
	}
	return ev.Proc.String() + " " + ev.Text()
}

// Proc identifies a process. PID and PPID are thread-group ids as seen in the
// initial pid namespace; TID is the thread that acted.
type Proc struct {
	PID      int32  `json:"pid"`
	PPID     int32  `json:"ppid,omitempty"`
	TID      int32  `json:"tid,omitempty"`
	UID      uint32 `json:"uid"`
	Comm     string `json:"comm,omitempty"`
	CgroupID uint64 `json:"cgroup_id,omitempty"`
}

// String renders p as comm[pid], escaped; "?" when the process is unknown.
func (p Proc) String() string {
	if p.PID == 0 {
		return NoValue
	}
	return fmt.Sprintf("%s[%d]", Escape(p.Comm), p.PID)
}

// The one wording of each state that has no value, in every output.
const (
	// NoValue stands for an address, a process or a name that is not
	// known or does not exist (the destination of an unconnected socket).
	NoValue = "?"
	// NoAnswer is the outcome of a DNS query no response came for.
	NoAnswer = "no answer"
)

// AddrText renders an address and port ("192.0.2.1:443", "[2001:db8::1]:443"),
// or NoValue when there is none.
func AddrText(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return NoValue
	}
	return ap.String()
}

// CanonicalName is the form in which tracep compares DNS and TLS server
// names: lower case, without the root's trailing dot.
func CanonicalName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
