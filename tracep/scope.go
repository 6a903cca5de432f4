package tracep

// Scope limits a trace to part of the system. The zero Scope traces the
// whole system. Backends enforce it in the kernel, so activity outside the
// scope costs next to nothing.
type Scope struct {
	// CgroupID, when non-zero, selects the processes in this cgroup v2 and in
	// cgroups below it. This is the harness's scope: exact, parallel-safe,
	// and it keeps daemonised grandchildren.
	CgroupID uint64
	// PIDs, when non-empty, selects these processes and all their
	// descendants: those already running when the trace starts (found in
	// /proc while the kernel follows forks) and every one forked later
	// (marked in the kernel at fork time).
	PIDs []int
}

// IsSystem reports whether s selects the whole system.
func (s Scope) IsSystem() bool { return s.CgroupID == 0 && len(s.PIDs) == 0 }

// Session is a running trace. Close stops it: it drains what the kernel has
// buffered, delivers it, detaches, and waits for the session's goroutines, so
// no callback runs after Close returns. Close is idempotent; it returns a
// *LostError (matching ErrLost) when the kernel dropped events.
type Session interface {
	Close() error
}
