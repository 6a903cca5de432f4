// Package envtest runs tracep where its users run it, and checks that it
// traces there exactly as on the host, or fails with its documented
// one-line error: under `ip netns exec` (which remounts /sys), in a mount
// namespace without any cgroup mount, with cgroup2 mounted at an unusual
// place or alone (pure v2), in a cgroup namespace rooted below the top, in
// a container-like sandbox (new mount, pid, network and cgroup namespaces
// with a read-only cgroup mount), in a user namespace, as a non-root user
// holding only the documented capabilities, and with each kernel feature's
// fallback forced (TRACEP_DISABLE).
//
// Each environment runs a workload of known activity (an exec, a TCP
// connection, a DNS query and answer, a TLS session, all on loopback)
// under every tracer, through the CLI (tracep KIND -j -- CMD) and through
// harness.Trace (a helper process: this package's test binary), and
// compares the normalized trace of each kind with the host's.
//
// The tests also run `go test` the two documented ways of giving only the
// test binary privilege (go test -exec sudo, sudo -E go test).
//
// The package has tests only.
package envtest
