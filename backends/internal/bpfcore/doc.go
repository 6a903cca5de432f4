// Package bpfcore is the Linux BPF machinery shared by tracep's kernel
// backends (exec, net, dns and tls): scopes enforced in the kernel, objects
// loaded once per process, one ring buffer per session, loss accounting,
// the kernel-clock conversion, the capability check and the decoding of
// the process fields every record carries.
//
// # Why these hooks
//
// The kernels tracep targets may lack kprobes (CONFIG_KPROBES unset) and
// refuse fentry/fexit (ftrace is locked down), so every program here is a
// BTF-typed raw tracepoint (tp_btf): they load without tracefs, attach and
// detach in well under a millisecond, and read kernel structs with CO-RE
// relocations resolved against /sys/kernel/btf/vmlinux.
//
// # Kernel features and fallbacks
//
// Every kernel feature the tracers use is in [Features], probed once per
// process ([Probe], [Need]); a tracer lacking one fails with a
// [MissingFeatureError], one line naming the feature and the Linux version
// that brought it. Where a substitute is cheap it is used instead:
//
//   - raw tracepoints for tp_btf ([RawTracepoints]): the programs load as
//     raw_tp programs and tp_raw (bpf/tp_core.h) makes them read their
//     arguments with bpf_probe_read_kernel (TP_RD); the fork follower,
//     without a trusted pointer to the child, leaves its mark in tp_pending
//     for the child to take at its first event (tp_current_mark). Not for
//     the net tracer, whose socket tracepoints need a tp_btf helper
//     (bpf_get_socket_cookie); tls then leaves out its socket programs.
//   - one perf event per uprobe for uprobe_multi links (tlstrace).
//
// [DisableEnv] (TRACEP_DISABLE=tp_btf,uprobe_multi,...) makes a process
// behave as if the kernel lacked features, so that tests run every
// fallback on a kernel that has what it replaces.
//
// # Pid namespaces
//
// In a pid namespace other than the initial one (a container), bpfcore sets
// tp_pidns_ino before loading: records carry the pids tracep's namespace
// sees (tp_task_ids walks the task's struct pid), and whole-system slots see
// only the tasks of that namespace. In the initial namespace the branch is
// dropped by the verifier.
//
// # Sessions and slots
//
// A [Session] owns one of [MaxSessions] slots. Its ring buffer serves it alone
// and sits at its slot in an array-of-maps (tp_rings), so every session has
// its own ring, its own reader goroutine and its own loss counter (a word
// of tp_lost, a global user space maps and reads without a system call).
// A BPF program computes, for the task that caused an event, the mask of
// slots whose scope matches (tp_scope_mask in bpf/tp_core.h) and copies
// the record to each of those rings.
//
// # Scopes
//
// A slot is matched in the kernel by the whole system, by a cgroup v2 subtree,
// or by a pid tree (a cgroup and pids together select their union):
//
//   - cgroup: the cgroup's directory fd is stored at the slot in a
//     BPF_MAP_TYPE_CGROUP_ARRAY and tested with bpf_current_task_under_cgroup,
//     which matches the cgroup and every cgroup below it. On this kernel the
//     verifier accepts that helper, bpf_get_current_ancestor_cgroup_id and
//     bpf_task_storage_get in tp_btf, raw_tp and tracepoint programs alike;
//     the cgroup array needs no walk over ancestors and costs one cheap call
//     per cgroup-scoped session. The fd comes from the id through
//     cgroup.OpenByID.
//   - pids: every thread of each pid gets a mark in task-local storage
//     (tp_tasks, written from user space through a pidfd). The fork follower
//     (tp_btf/sched_process_fork) copies the creating task's mark to each new
//     process and thread before it first runs, so a child that execs a
//     microsecond after fork is in scope, and so is a grandchild whose parent
//     has exited. The processes already below the pids when the session
//     opens are found in /proc and marked too, walking again until a walk
//     finds them all marked: a fork racing the walk either copies a mark
//     or is found by the next walk. The kernel frees the mark with the
//     task: a reused pid never inherits it. Marks carry a per-slot
//     generation, so a slot's next session ignores marks an earlier one
//     left on still-running tasks.
//
// Activity outside every scope costs a map lookup and a few comparisons.
//
// # Capabilities
//
// A [Backend] declares the capabilities it needs ([Caps]). Open and
// Supported check them before anything loads (without them some loads fail
// with misleading errors: cilium/ebpf reads EPERM from a feature probe as
// "not supported"), and the *tracep.PermissionError they return names
// exactly the missing ones. In a user namespace other than the initial one
// the capabilities held there do not count for BPF ([Effective]): the error
// says they are needed in the initial one, and never blames RLIMIT_MEMLOCK.
//
// # Shared objects
//
// The first session of a process creates the tp_* maps, loads and attaches
// the fork follower and its backend's programs; a backend's objects reuse the
// core's maps through map replacements, and all loads share one copy of the
// kernel's BTF. Later sessions create a ring buffer, or reuse one,
// and register their scope: about 0.5 ms here against 25-35 ms for the first
// (most of which is the verifier's). A backend's programs are detached
// when its last session closes, and the core when the process's last session
// closes: nothing stays attached while idle, at the price of paying the
// first-session cost again for the next one.
//
// Every update of an array-of-maps from user space waits for an RCU grace
// period (5-20 ms here). So a ring stays installed at its slot after its
// session closes, for the next session asking for that size; [Preload]
// installs a ring of each backend's default size while the programs load
// ([InstallRings]: installs begun together share one grace period, where
// tracep run's four sessions waited for four in a row), a session opened
// without it installs its own while its programs load, and, while sessions
// overlap, a spare ring of the same size is installed in the background for
// the next one. Each costs its size in kernel memory for the life of the
// process.
//
// A ring grows when its reader falls behind (grow_linux.go): when half of
// it waited to be read at once, the reader makes one four times the size,
// up to [SessionConfig.MaxRingBytes] (16 times the first by default), and
// installs it at the slot while it goes on reading the old one. Programs
// write to the new ring from the swap on; once the install's grace period
// is over none writes to the old one, and the reader reads the old ring to
// its end before it moves, so nothing is lost and the order holds. The
// grown ring stays at the slot, as any other.
//
// # Records and loss
//
// Programs build a record in a per-CPU scratch buffer and copy exactly its
// length with bpf_ringbuf_output: a fixed large reservation per record loses
// events long before the ring is full of data. Every failed copy (ring full,
// missing ring, failed allocation) is counted per slot; [Session.Close]
// returns the total as a *tracep.LostError.
//
// # Reading
//
// Waking the reader costs far more than a record: an epoll return, a
// futex and goroutine hand-offs, ~100 µs of tracer CPU per record when
// records come one at a time. So a program wakes a session's reader only
// once a quarter of its ring is full (bpf_ringbuf_query against the ring's
// size; then with BPF_RB_FORCE_WAKEUP, since a default wake-up is skipped
// while older records wait), and writes with BPF_RB_NO_WAKEUP otherwise;
// the reader looks at its ring every [Tick] (500 ms), on tick boundaries
// every session shares, and at once when the session closes. The ticks
// come from one timerfd of the process in the netpoller (tick_linux.go),
// not a runtime timer per reader: a runtime timer also wakes the
// runtime's system monitor, which then polls every 20 µs until the
// program is idle, and cost six more context switches a tick. A tick that
// finds nothing puts the reader to sleep without a deadline after setting
// its slot's word in tp_wake (a global of every object, in a data section
// the core creates, shares and maps): the next record clears it and wakes
// the reader. An idle session so costs no wake-ups at all. The wake-up
// decision is computed without branches where it can be: each branch in
// tp_output doubles the states the verifier walks in a caller's loops.
//
// The reader (ring_linux.go) waits in Go's netpoller rather than in a
// thread blocked in epoll_wait, so that a parked reader costs no thread,
// and the runtime's monitor rests while nothing runs. It hands each record
// to the handler as a slice of the mapped ring, without a copy or an
// allocation. It maps the ring's data a 64 KiB window at a time, where the
// reader is: a mapping counts in the resident set whole and at once (a
// 4 MiB ring, which the kernel maps twice in a row, would cost 8 MiB of
// RSS); the ring itself is kernel memory, charged to the memory cgroup.
//
// # Start-up
//
// The feature probes and every load share one copy of the kernel's BTF
// ([ReleaseCache] drops it once tracing is armed), reduced to the types the
// backends being loaded relocate against ([CoreKernelTypes] and each
// Backend's KernelTypes) and their tracepoints' typedefs, each filed under
// its kernel ID (package kernelbtf, setKernelIDs): a fifth of the CPU and
// memory of decoding it whole, 26 KB for exec, 76 KB for every tracer. A
// load or probe that needs a type it lacks reduces it again, for everything
// asked so far. A spec that relocates against a type no backend lists, or
// attaches to a tracepoint a kernel module defines, loads against the
// whole, as every load does with reduced_btf in [DisableEnv] or when a
// typedef's kernel ID is one a reduced type has. Maps the kernel creates as
// well without BTF are created without (dropMapBTF): a BTF load fewer each.
// Features found present are remembered for the boot in /run/tracep (root's
// only), so a later process probes only what it has not seen; [Prime]
// decodes BTF only while something remains to probe. [Preload] loads the
// backends of a trace in parallel (each registers with [Register]), so that
// their verifier runs overlap. [SetPhaseHook] reports each phase of a start
// (probes, maps, loads, attaching, the ring, the scope) for TRACEP_STARTUP.
// Links are closed all at once ([CloseLinks]): each detach waits for a
// grace period of the kernel. A process about to exit ([DetachBeforeExit])
// hands its uprobe links to a child process instead (package handoff),
// whose exit detaches them: the uprobes' grace periods (60-100 ms here) are
// then no part of the exit.
//
// # Close
//
// Close first removes the slot from every mask, so nothing new is produced
// for it, then flushes the reader: every record the kernel committed before
// that point is handed to the session's handler before Close returns. Then
// the reader goroutine ends and Close waits for it.
//
// # Verifier notes
//
// Loops over the 64 slots go through bpf_loop: open-coded, the verifier walks
// each iteration on every path, and a mask or length kept in a register and
// refined differently on each branch made the exec program exceed the
// 1M-instruction limit; with callbacks each program verifies in a few hundred
// instructions. Loading a pointer field from a BTF pointer (task->mm, say)
// makes this kernel's verifier scan all of vmlinux's BTF by name, about
// 0.5 ms per access, so pointer chains are read with BPF_CORE_READ instead.
package bpfcore
