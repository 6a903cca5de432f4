// Package tlstrace reports the TLS traffic of a scope: the plaintext every
// process writes and reads through OpenSSL, GnuTLS and Go's crypto/tls,
// byte for byte, and the server name (SNI) of every ClientHello written to
// a TCP socket, whatever library wrote it.
//
// # Events
//
// Each tracep.Event has a TLS payload:
//
//   - op "write" (TX) and "read" (RX): the plaintext handed to or returned
//     by the library, exactly the bytes the call transferred (reads and
//     writes are both recorded when the call returns, from the buffer
//     saved at its entry, so retried non-blocking writes are not reported
//     twice; a write is dated when the call began, a read when it
//     returned), at most Config.DataLimit bytes per call (16 KiB, a full
//     TLS record, by default) with Len the real length and Truncated set
//     beyond it; the library and function; the connection: its socket's
//     cookie and local and peer addresses, and its server name (see
//     Connections).
//   - op "handshake": a ClientHello seen on the wire, library "wire", with
//     the server name parsed from it (RFC 6066 server_name) and the
//     addresses of the TCP connection. This is how programs using rustls,
//     Java, a stripped static BoringSSL or any other TLS stack still show
//     which hosts they talk to.
//
// # Mechanism
//
// Uprobes on the libraries: OpenSSL's SSL_write, SSL_write_ex, SSL_read,
// SSL_read_ex and SSL_do_handshake at entry and return, SSL_ctrl (the
// server name set with SSL_set_tlsext_host_name, command 55) and SSL_free;
// GnuTLS's gnutls_record_send, gnutls_record_recv and gnutls_handshake at
// entry and return, gnutls_server_name_set and gnutls_deinit; and the
// crypto/tls.(*Conn).Write and Read methods of Go programs (go1.17 and
// later, register ABI: receiver in AX, the slice in BX and CX, R14 the
// goroutine) at entry and at each of their RET instructions, found by
// walking the function with an x86-64 instruction length decoder (x86.go):
// return probes would break Go's stack handling. The entry of a call saves
// its buffer, keyed by thread, or by goroutine for Go since a goroutine may
// resume on another thread; the return copies exactly the bytes returned.
// A Go write is the exception: it is reported at its first send on a TCP
// socket (Write sends all of its buffer or fails), since a goroutine
// descheduled between its last send and its RET may never return before
// the process exits, and bytes that went out must not go unreported.
//
// A tp_btf/sys_enter program sees the first bytes of every write, sendto,
// writev and sendmsg (first iovec) and notes those that start a TLS
// handshake record holding a ClientHello (22, 3.x, type 1); when the write
// reaches an IPv4 or IPv6 TCP socket (tp_btf/sock_send_length, in the same
// thread and system call), the record (at most 16 KiB) is copied to user
// space with the socket's cookie and addresses, and parsed in Go
// (ParseClientHello, fuzzed). Parsing in user space keeps the BPF program
// small and the parser testable; a ClientHello is written once per
// connection, so the copy costs little.
//
// # Connections
//
// Every plaintext event names its connection from the socket its call
// really used, not from symbols or DWARF a binary may lack: the
// tp_btf/sock_send_length and sock_recv_length tracepoints fire on every
// send and receive of a socket, in the thread that makes it, and one on a
// TCP socket made while the thread is inside a probed call (a C library
// call keyed by thread; a Go call keyed by its goroutine, whose g Go keeps
// in R14 through its system calls, read from the thread's saved user
// registers) gives the call its socket: the cookie (bpf_get_socket_cookie,
// never reused while the system runs), the network namespace and the
// addresses. The connection (SSL *, gnutls_session_t, *tls.Conn) keeps the
// socket its last call used, for a call that sends and receives nothing (a
// read served from the library's buffer). A stripped, static Go program is
// thus attributed like any other; plaintext no socket was ever seen for
// (a memory BIO, a session begun before the trace) has no addresses, and
// its event says so (tracep.TLS.Incomplete).
//
// The server name of plaintext is that of the ClientHello written on its
// socket (by cookie), else the one its library was given
// (SSL_set_tlsext_host_name, gnutls_server_name_set), else, for a server's
// socket, the one its peer's ClientHello carried (same namespace,
// addresses reversed). The socket tracepoints cost every send and receive
// of the machine a socket check while a TLS session is open; a TCP one, a
// hash lookup or three.
//
// Records are sized to their data: built in a per-CPU scratch buffer and
// copied with bpf_ringbuf_output to the ring of each session whose scope
// matches, each cut to that session's limit. Scopes are matched in the
// kernel by backends/internal/bpfcore (cgroup subtree, pid tree followed at
// fork, or the whole system), so a process outside every scope costs a
// uprobe trap and a scope check per call, and produces nothing.
//
// # Finding the code to probe
//
// Files are inspected with debug/elf (Inspect): the defined symbols of the
// dynamic and full symbol tables (so a program linking OpenSSL statically
// with its symbols is probed too), the pclntab of a stripped Go program,
// and file offsets translated from virtual addresses through the
// executable PT_LOAD segments (never the raw address). Each file is
// attached once per process, through the inspected file's own descriptor
// (/proc/self/fd/N), so the probes land in that very file whatever mount
// namespace it was found through. Files are known by device and inode and
// by what changes when a deleted file's inode number goes to a new file:
// the inode's generation (FS_IOC_GETVERSION; random on ext4, xfs and
// tmpfs), change time and size, read by the kernel side from the inode and
// by user space with statx. Where FS_IOC_GETVERSION is missing (tmpfs,
// overlayfs) the kernel reports the file once more, and its key is learnt
// then. A probed file's uprobes keep its inode allocated, so a change of
// its time or size (chmod, touch) does not make it new.
//
//   - At the first session: the system's libssl.so.* and libgnutls.so.*,
//     from ld.so.cache and the usual library directories (musl systems have
//     no cache), attached in parallel.
//   - Config.Files (tracep tls -l).
//   - For a pid scope, the executable mappings of the processes and their
//     descendants (/proc/PID/maps, opened through /proc/PID/map_files); for
//     the whole system, every process's, in the background.
//   - Later, every binary a traced process executes (tp_btf/
//     sched_process_exec) or maps executable (mmap with PROT_EXEC) that has
//     not been inspected yet: the kernel reports it on a discovery ring read
//     without batching by one goroutine of the process.
//
// A new binary races with its probes: a Go client may finish a handshake
// within milliseconds. So for a scoped session (cgroup, as the harness and
// tracep tls CMD use, or pids) the kernel stops such a process with SIGSTOP
// at exec (or mmap) until its file is inspected and probed, then user space
// sends SIGCONT, through a pidfd opened as the record is read, so that a
// process killed meanwhile leaves its pid's next owner alone; this costs
// about a millisecond per new binary, once per tracer process. A process that leads a process group of its own (a job of
// an interactive shell, which would report the stop to its user) is not
// held, nor is anything in a whole-system session; for those the first
// instructions race with the attach (a ClientHello and a request usually
// come later than the probes). Config.NoHold turns holding off.
//
// # After a SIGKILL
//
// A tracer killed at any instant, SIGKILL included, leaves no process
// stopped. The first session that holds starts a watchdog process
// (backends/internal/watchdog: the tracer's own executable, run again,
// whatever program links this package), and nothing is held until it
// runs. The programs record each process they stop in a map (tlsx_held)
// before they stop it, and only while a flag (tlsx_hold_on) is set; the
// watchdog keeps both maps and a pipe whose other end only the tracer
// holds. When the tracer dies the watchdog clears the flag, waits for an
// RCU grace period (every program run that saw the flag set has then
// finished and recorded its process) and sends SIGCONT to every process
// the map names: those the tracer was inspecting a file for, and those it
// had not even heard of yet (their records still in its ring). It then
// exits, and the maps go with it. A process stopped within the last moment
// of the tracer's life thus runs on a fraction of a millisecond after its
// death; in command mode the command and everything it started is killed
// with its cgroup (backends/cgroup), in -p mode traced processes go on
// unaffected. The watchdog costs a fork and exec at the first holding
// session (about a millisecond) and an idle process for as long as the
// probes stay attached; it ends with them (bpfcore.Linger after the last
// session), having nothing to continue. Something that kills it together
// with the tracer (SIGKILL to both, their cgroup killed) leaves held
// processes stopped: `kill -CONT PID` resumes them. In a program built as
// a C library (-buildmode c-shared, c-archive) no watchdog can be started,
// and nothing is held.
//
// # Nothing left behind
//
// Every uprobe is a BPF link owned by a file descriptor of the tracer:
// uprobe_multi links (Linux 6.6), or else one perf event per probe from the
// uprobe PMU. Nothing is ever written to tracefs's uprobe_events (without
// the PMU, Start fails rather than let cilium/ebpf fall back to it), so a
// tracer killed with SIGKILL leaves no probe and two tracers never clash.
// The probes are detached bpfcore.Linger after a process's last TLS session
// closes (uprobe_multi: ~0.15 s of unregistering in the background; perf
// events: ~2 s). A process about to exit (the tracep command) hands its
// uprobe_multi links to a short-lived child that detaches them as it exits
// (bpfcore.DetachBeforeExit), and leaves the release of what it holds to
// its watchdog (watchdog.Leave), so that its own exit waits for none of
// the kernel's grace periods (60-100 ms here for uprobes).
//
// # Measurements
//
// On the project's 2-vCPU VM (Linux 6.18, uprobe_multi; bench_linux_test.go):
// the first session of a process arms in 50-65 ms (kernel BTF, loading,
// hooks and the system libraries' uprobes), ~13 ms after an idle detach,
// ~0.2-1.3 ms while another session keeps the probes attached. 300 curl
// handshakes with a request each cost the tracer ~0.04-0.09 s of CPU with
// nothing lost. A 16 MiB response over loopback fits the default 8 MiB
// ring (4 MiB does too; 2 MiB loses records, which Close reports).
//
// Uprobes cost every process that maps a probed library, traced or not: a
// breakpoint trap, the single-step of the displaced instruction and, for
// functions probed at return, the return trampoline, before the BPF program
// finds the process out of scope. On this VM that is ~11-13 µs per
// SSL_write_ex or SSL_read_ex call (1.3 µs without probes, in a loop over
// memory BIOs with no system calls; a real connection's system calls
// dilute it). The reference tool's tracefs uprobes cost the same
// (~11.5 µs per call for an excluded process).
//
// NewDecoder, Inspect and ParseClientHello are portable and pure; Start
// and the rest need Linux.
package tlstrace
