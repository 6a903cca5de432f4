// Package harness runs a command under trace and returns the events it
// caused, for assertions in Go tests ([Trace]), scripts and the CLI ([Run]).
//
// # Scope
//
// The command runs in a fresh cgroup v2 of its own, entered at clone time
// (clone3 with CLONE_INTO_CGROUP), and the tracers are armed for that
// cgroup before the command is started, so its first instruction is already
// traced. Everything it forks stays in the cgroup, including daemonised
// grandchildren; nothing outside it is seen, which makes parallel traces in
// one test binary exact. When the command exits, whatever it left running in
// its cgroup is killed, the tracers are drained and closed, and the cgroup is
// removed.
//
// # Privileges
//
// Tracing needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN). [Trace] skips
// the test with a reason naming what is missing, or fails it when
// TRACEP_REQUIRE_PRIVILEGED=1, as in CI.
//
// # Lost events
//
// A trace that lost events fails [Trace] unless [AllowLost] is given; [Run]
// returns the capture together with an error matching tracep.ErrLost.
package harness
