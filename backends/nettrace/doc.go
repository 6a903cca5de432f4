// Package nettrace reports the TCP and UDP flows of a scope, each attributed
// to the process that opened or accepted it, from BPF programs in the
// kernel: connects, accepted connections, UDP datagrams to new peers,
// TCP state changes and closes.
//
// # Events
//
// Every event is a tracep.Event of kind net whose Net payload says:
//
//   - connect: an outbound TCP connection, reported when its SYN is about to
//     leave (after the local port is chosen), whatever the handshake's
//     outcome; or a connected UDP socket, reported at its first datagram.
//     A TCP connect that fails before any packet (no route, address in use,
//     refused by a firewall hook) is this event with Errno set and the
//     destination the program asked for.
//   - accept: an inbound TCP connection, attributed to the process whose
//     accept()/accept4() took it. An inbound connection no process accepts
//     (the listener closed, or the peer reset it first) is reported when it
//     ends, with no process, to sessions tracing the whole system.
//   - send: the first datagram an unconnected UDP socket sends to a peer
//     (sendto, sendmsg with an address), once per socket, peer and session.
//   - state: a TCP state change of a reported connection (Config.States).
//   - close: the end of a reported flow, with its Duration. For TCP this is
//     when the program closes the socket, or when the connection ends
//     before that (reset, refused, timed out: Errno then says why), with the
//     payload bytes written (BytesSent, acknowledged or not) and received
//     (BytesReceived). For UDP it is the socket's close; an unconnected
//     socket has no single peer, so Dst is the zero AddrPort.
//
// Src is the end that initiated the flow: the local end of a connect or a
// datagram, the remote peer of an accepted connection; Dst the end it was
// addressed to. A failed TCP connect thus reads connect (dst) then close
// (dst, errno ECONNREFUSED) when the SYN was answered by a reset, or one
// connect with errno ENETUNREACH when no route existed. IPv4 flows of
// dual-stack IPv6 sockets (v4-mapped addresses, ::ffff:a.b.c.d) are
// reported with the IPv4 addresses they use on the wire. An unconnected UDP
// socket's source is the address it is bound to, usually the wildcard: it
// picks a source per datagram. A UDP socket connected and closed without
// sending anything, as getaddrinfo does to choose among addresses (RFC
// 6724), is not a flow and is not reported.
//
// # Mechanism
//
// The kernels tracep targets may have no kprobes and refuse fentry/fexit.
// What remains is enough, and exact:
//
//   - cgroup sock_addr hooks (connect4/6, sendmsg4/6) and cgroup/sock_release,
//     attached with BPF links to the root of the cgroup v2 hierarchy: they
//     run for every inet socket of the system, in every network namespace,
//     in the thread making the call, so the owner (pid, tid, comm, uid,
//     cgroup) and the session scope are decided there, before any packet.
//   - a sockops program for TCP_CONNECT_CB, which runs in the connecting
//     thread once the local port is chosen, right before the SYN.
//   - BTF tracepoints: sock/inet_sock_set_state (state changes, the creation
//     of inbound connections, the end of a connection; they often run in
//     softirq context, so the owner comes from the flow, never from the
//     current task), raw_syscalls/sys_exit for connect (the errno of a
//     connect that failed before its SYN) and accept/accept4 (the accepting
//     process: the new fd leads to its socket through the task's fd
//     table), and sock/sock_send_length for a connected UDP socket's first
//     datagram.
//
// Flows live in a hash map keyed by the socket cookie, a 64-bit id the
// kernel never reuses, so a recycled socket never inherits a flow. A flow
// holds its owner and the mask of sessions it belongs to, decided in the
// owner's context; records produced later, in any context, go to that
// mask. Each session's start time screens out flows that a closed session
// of the same slot owned. Every record carries the owner and both ends, so
// Decode is a pure function of one record.
//
// Conntrack is not used: it needs firewall rules in each network namespace
// to fire at all, and gives no process. Polling sock_diag and /proc misses
// every flow shorter than the poll interval and cannot attribute a closed
// or timewait socket.
//
// # Cost
//
// Measured on a 2-vCPU VM (kernel 6.18) with 1,000 loopback connections
// made back to back by a child process, both ends traced (4,000 events):
// the tracer spends 3-5 ms of CPU, decoding and delivering included
// (BenchmarkConnects1000; the reference conntrack tracer spent 1.6 s and
// missed most of them), and tracep net -t writing the lines to a file
// 14-17 ms (BenchmarkNetCLI1000 in cmd/tracep/internal/base). The highest rate this
// machine could drive, 20,000-28,000 connections per second from up to
// eight processes, lost nothing (BenchmarkMaxRate). The BPF programs run in
// the traced processes: about 9 µs per loopback connection with both ends
// on the machine (connect, accept, ten state changes, two closes: the
// benchmark's workload takes about 50 ms instead of 41). The first session
// of a process loads and verifies the programs (a first session arms in
// about 45 ms, tracep net -- CMD runs CMD about 100 ms after it starts); re-attaching after an idle detach takes 8-13 ms,
// a session while others run about 0.5 ms (BenchmarkArm in
// backends/internal/integration).
//
// Scopes (the whole system, a cgroup v2 subtree, a pid tree followed at
// fork), shared loading, per-session ring buffers, loss counting and the
// linger after the last session come from backends/internal/bpfcore.
//
// Decode, the parser of raw records, is portable and pure; Start and the
// rest need Linux.
package nettrace
