// Package tracetest helps tests of tracep and of programs built on it: a
// privilege gate that skips, or under TRACEP_REQUIRE_PRIVILEGED=1 fails,
// tests the host cannot run, and concurrency-safe collectors of events
// and output that wait for what a test expects without sleeping.
//
// # Privileges
//
// Tracing needs root (or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN) and a
// kernel with BPF features that not every host has. [SkipUnlessRoot],
// [SkipIfUnprivileged] and [RequireSupported] skip a test that cannot run
// here and say why. A CI job that runs privileged tests sets
// TRACEP_REQUIRE_PRIVILEGED=1 ([RequirePrivilegedEnv]): each of those skips
// then fails the test instead, so that no privileged test passes by
// skipping.
//
// # Waiting
//
// A [Collector] gathers the events a tracer emits and a [Buffer] the output
// of a program; both wake their waiters on every write, so that a test
// waits exactly until what it expects arrives, bounded by a context: that
// of [Context], which ends before the test's deadline, unless given
// another.
//
// # Sessions and workloads
//
// [Start] starts a tracer's session for one test and [Open] anything else
// that must be closed when it ends (a cgroup, a hermetic network);
// [BenchStart] measures a tracer's Start. [ListenTCP], [ListenUDP] and
// [Serve] serve on the loopback, [StartTree] starts a process tree whose
// grandchild acts only when the test releases it, and
// [UnprivilegedCommand] runs the test binary as a user without
// privileges.
//
// This package imports only the standard library, testify and
// github.com/tracep/tracep/tracep, so tests of every layer may use it.
package tracetest
