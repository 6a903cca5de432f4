// Package exectrace reports every exec, failed exec and process exit in a
// scope, from BPF programs on tracepoints.
//
// # Mechanism
//
// The kernels tracep targets may have no kprobes and refuse fentry/fexit, so
// the tracer uses tracepoints only, as BTF-typed raw tracepoints (tp_btf):
//
//   - sched_process_exec: a successful exec. The record carries the filename
//     (linux_binprm->filename) and argv read from the new process image,
//     mm->arg_start..arg_end. At that tracepoint the new image is installed and
//     the kernel has just copied argv onto its stack, so the bytes are present
//     and are exactly what the program got. Reading /proc/PID/cmdline from
//     user space instead loses 3-30% of short-lived processes (they are gone or
//     zombies by then), and argv read from the execve arguments at syscall
//     entry is the caller's memory, possibly changed, and needs a loop per
//     argument.
//   - raw_syscalls sys_exit, for execve and execveat returning an error: a
//     failed exec. On failure the old image is still mapped and the saved
//     user registers still hold the arguments, so the filename is read
//     through them and no entry hook is needed; the errno is named with the
//     Linux table, so a shell or execvp walking PATH reports each ENOENT. The
//     syscalls/sys_exit_execve tracepoint would not run on other system
//     calls, but attaching it needs tracefs mounted and detaching it takes
//     tens of milliseconds; instead one comparison runs per failing system
//     call while a session is open (and the syscall tracepoint slow path is
//     on, as it would be for any syscall tracepoint).
//   - sched_process_exit: the exit of a thread group (the tracepoint's
//     group_dead argument; kernels without it fall back to signal->live),
//     with the wait status (exit code, or signal and core dump) and the run
//     time since the process started.
//
// Records are sized to their data: the program builds one in a per-CPU
// scratch buffer (header, filename, argv) and copies exactly its length to
// each matching session's ring with bpf_ringbuf_output. Argv is captured
// whole by default, up to what the kernel itself accepts (one argument of
// at most 128 KiB, MAX_ARG_STRLEN; the strings of argv and environment
// within a quarter of the stack rlimit, 6 MiB at most): an argv longer
// than the 128 KiB the scratch buffer holds is read and copied in pieces of
// 128 KiB, an exec record and then argv records with their offsets, and
// the Decoder joins them into one event. Argv is read once, up to the
// largest limit among the sessions that want it; a session with an
// ArgvLimit gets it cut there, with ArgvTruncated and ArgvSize (the real
// size) set. A piece the kernel could not hand over (a full ring) is
// counted as lost and leaves the argv truncated at the gap, flagged the
// same way. Measured here: an argument of 128 KiB - 1 bytes (one more is
// E2BIG), 10,000 arguments, and 15 arguments of 128 KiB (1.9 MiB, the most
// an 8 MiB stack rlimit allows) each come through whole.
//
// # Scopes and sharing
//
// Scopes (the whole system, a cgroup v2 subtree, a pid tree followed at
// fork) are matched in the kernel by backends/internal/bpfcore, which also
// loads the programs once per process: the first session pays for loading
// and attaching, later ones only for a ring buffer and their scope. Every
// session has its own ring buffer, goroutine and loss counter; Close drains
// what the kernel committed before returning and reports lost events as a
// *tracep.LostError.
//
// Events carry KTime (CLOCK_MONOTONIC) and Time (wall clock, converted with
// an offset measured at Start); Seq is left to whoever merges streams.
//
// Decoder, which turns raw records into events, is portable and pure;
// Start and the rest need Linux.
package exectrace
