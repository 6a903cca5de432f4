// Package procfs reads the process tree from /proc: the parent of a
// process, the descendants of a set of processes, every process of the
// system. The pid scopes of the BPF backends and the TLS tracer's scan of
// running programs share it.
//
// A process found by a walk may exit before the caller uses its pid, and
// one may start after the walk: callers that must miss none (a pid scope)
// walk again until a walk finds nothing new, and rely on the kernel to
// follow what forks afterwards. A process whose parent exited before the
// walk has been reparented (to init or a subreaper) and is no longer found
// below its former ancestors.
//
// ParsePPID is portable and pure; the rest needs Linux.
package procfs
