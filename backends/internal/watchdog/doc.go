// Package watchdog continues the processes a tracer holds stopped when the
// tracer dies, whatever the instant: a SIGKILLed tracer must never leave a
// process in state T.
//
// # The problem
//
// The TLS tracer's BPF programs stop a process (bpf_send_signal(SIGSTOP))
// that executes or maps a binary not inspected yet, and user space sends
// SIGCONT once the binary's uprobes are attached (see backends/tlstrace).
// If the tracer dies in between, nothing would ever send that SIGCONT. The
// stop comes from the kernel, so there is a window in which a process is
// stopped and the tracer's user space does not know it yet (the discovery
// record is still in its ring buffer): whatever continues held processes
// must learn of them from the kernel, not from the tracer.
//
// # The mechanism
//
// Two maps of the tracer's programs ([Maps]): On, a flag the programs test
// before they hold anything, and Held, where they record every process they
// stop, in the same program run and before the stop is sent. The tracer
// removes an entry once it has continued the process.
//
// [Start] starts a watchdog process before the tracer sets On. The watchdog
// inherits descriptors of both maps and the read end of a pipe whose only
// write end the tracer keeps. When the tracer dies, the kernel closes that
// end: the watchdog reads end-of-file and then
//
//  1. clears On, so that no program run starting from now holds anything;
//  2. waits for an RCU grace period, by updating an array-of-maps: the
//     kernel returns from such an update only when every BPF program run
//     that was in progress has finished (maybe_wait_bpf_programs in
//     kernel/bpf/syscall.c), and the tracer's hooks run under
//     rcu_read_lock. Every run that saw On set has then recorded its
//     process in Held;
//  3. sends SIGCONT to every process Held names. A SIGCONT also discards a
//     SIGSTOP still pending (sent, not yet acted on), so a process stopped
//     "just now" is covered too.
//
// The tracer's own hooks may still be attached for a moment after its death
// (its links are released as its descriptors are), which is why On exists:
// after step 2 nothing can be held any more, whether the hooks are gone or
// not. The maps live as long as one descriptor does, so the watchdog's keep
// them after the tracer's are closed, and they go when it exits: nothing
// outlives both.
//
// When the tracer stops holding on its own ([Watchdog.Close]: its programs
// detached), it performs the same three steps itself, then tells the
// watchdog there is nothing left to do (a byte on the pipe before closing
// it) and waits for it to exit. A tracer about to exit ([Watchdog.Leave])
// closes its end without a word and goes on exiting: the watchdog performs
// them as after a death, and the exit does not wait for their grace
// period.
//
// # Starting it without the program's help
//
// The watchdog has to read BPF maps, which a shell cannot do, so it is the
// tracer's own executable run again: /proc/self/exe, which names the file
// the process runs even when it was deleted or replaced since. This
// package's init function recognises the watchdog by its argv[0] and
// environment and runs it before main (and before TestMain in a test
// binary), so any program linking the TLS tracer — the tracep command or a
// test binary using the harness — can start one without calling anything.
// Programs built as a C library (-buildmode=c-shared or c-archive) have no
// executable of their own to run: Start fails there, and the tracer then
// holds nothing.
//
// The watchdog shows as "tracep-hold-watchdog PID" in ps -f, PID being the
// tracer's. It runs in a session of its own (no terminal signal reaches
// it), ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT, is named
// "hold-watchdog" (so that `pkill tracep` or `killall tracep` spare it),
// asks the OOM killer to pass it over, closes the descriptors it inherited
// by accident, keeps the capabilities it needs across the exec (CAP_KILL
// and CAP_BPF, as ambient capabilities when the tracer is not root) and
// keeps none of the tracer's standard streams open.
//
// # Costs
//
// One process per tracer process while a holding session is open (the TLS
// tracer starts it with its first holding session and stops it when its
// probes are detached), starting it costs the tracer a fork and exec (about
// a millisecond); the watchdog then sleeps in read(2). Its resident memory
// is that of an idle Go runtime with the binary's packages initialised. A
// process killed with SIGKILL at the wrong instant is thus continued within
// one grace period of the tracer's death (a fraction of a millisecond with
// this kernel's expedited grace periods, a few milliseconds without).
//
// Limits: something that kills the watchdog together with the tracer (a
// SIGKILL to both, the whole cgroup killed) leaves what the tracer held
// stopped, as before; `kill -CONT PID` releases it.
package watchdog
