package tracep

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrNotSupported means the platform or kernel lacks what a tracer needs.
	ErrNotSupported = errors.New("not supported")
	// ErrLost means the kernel dropped events; the error is a *LostError with the count.
	ErrLost = errors.New("events lost")
	// ErrInvalid marks bad input: a flag, a matcher, a policy line.
	ErrInvalid = errors.New("invalid argument")
	// ErrSchema means a JSON line was written by a newer, incompatible schema.
	ErrSchema = errors.New("unsupported schema version")
	// ErrIncomplete means a verdict cannot be given: the trace lost events,
	// or cut one, that could hide what the verdict is about.
	ErrIncomplete = errors.New("trace incomplete")
	// ErrClosed is returned by operations on a closed session.
	ErrClosed = os.ErrClosed
)

// LostError reports events the kernel could not hand over. It matches ErrLost.
type LostError struct {
	Kind  Kind
	Count uint64
}

func (e *LostError) Error() string {
	return fmt.Sprintf("%s: %d events lost", e.Kind, e.Count)
}

// Is makes errors.Is(err, ErrLost) true.
func (e *LostError) Is(target error) bool { return target == ErrLost }

// PermissionError says which capability an operation needs. It matches
// os.ErrPermission, so callers can test for it without knowing tracep.
type PermissionError struct {
	Op         string // what was attempted, e.g. "load bpf program"
	Capability string // e.g. "CAP_BPF and CAP_PERFMON (or root)"
	Err        error  // the underlying error, usually EPERM
}

func (e *PermissionError) Error() string {
	msg := e.Op + ": needs " + e.Capability
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, os.ErrPermission) true.
func (e *PermissionError) Is(target error) bool { return target == os.ErrPermission }

// Unwrap returns the underlying error.
func (e *PermissionError) Unwrap() error { return e.Err }

// SplitErrors returns the parts of an error made by errors.Join (at any
// depth), or err alone; nil for nil.
func SplitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, SplitErrors(e)...)
		}
		return out
	}
	return []error{err}
}
