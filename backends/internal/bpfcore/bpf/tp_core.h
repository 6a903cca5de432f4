/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tp_core.h - scope matching and per-session output shared by every tracep
 * BPF object.
 *
 * Every object (the core's own, and each backend's) includes this header, so
 * every object declares the same tp_* maps. The Go side (package bpfcore)
 * creates them once per process and hands them to every later load as map
 * replacements: all backends of a process share one scope table and one set
 * of per-session ring buffers.
 *
 * A session owns one slot (0..TP_MAX_SLOTS-1). A slot is matched by the
 * whole system (system_mask), or by a cgroup v2 subtree (tp_cgroups[slot] and
 * cgroup_mask), a pid tree (a mark in the task's tp_tasks storage and
 * pid_mask), or both. kind_mask[kind] says which backend a slot belongs to,
 * so a backend only ever writes to its own sessions' rings.
 *
 * The Go mirror of these layouts lives in backends/internal/bpfcore; change
 * both together.
 */
#ifndef TP_CORE_H
#define TP_CORE_H

#include "tp_vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define TP_MAX_SLOTS 64
#define TP_MAX_KINDS 8

/* Backend kinds; must match bpfcore's kindIndex. */
#define TP_KIND_EXEC 0
#define TP_KIND_NET 1
#define TP_KIND_DNS 2
#define TP_KIND_TLS 3

/* x86 thread_info.status bit set while a 32-bit syscall runs. */
#define TP_TS_COMPAT 0x0002

struct tp_scope_cfg {
	__u64 system_mask;
	__u64 cgroup_mask;
	__u64 pid_mask;
	__u64 kind_mask[TP_MAX_KINDS];
	/* Backend-defined per-slot parameter (exec: argv byte limit). */
	__u32 param[TP_MAX_SLOTS];
	/* Bumped each time a slot is released, so marks left in task storage
	 * by an earlier session of the slot stop matching. */
	__u16 gen[TP_MAX_SLOTS];
};

/* Task-local scope mark: which pid-scoped slots this task belongs to. */
struct tp_task_mark {
	__u64 mask;
	__u16 gen[TP_MAX_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tp_scope_cfg);
} tp_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, TP_MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} tp_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tp_task_mark);
} tp_tasks SEC(".maps");

/* Template only: the real rings are created per session by Go, sized by
 * the session's configuration, and stored at the session's slot. */
struct tp_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, TP_MAX_SLOTS);
	__type(key, __u32);
	__array(values, struct tp_ring);
} tp_rings SEC(".maps");

/*
 * Raw tracepoints. On a kernel without BTF-typed tracepoints (tp_btf), or
 * with TRACEP_DISABLE naming them, bpfcore loads the tp_btf programs as
 * raw_tp programs and sets tp_raw before loading: their arguments are then
 * plain numbers, read with bpf_probe_read_kernel (TP_RD) rather than
 * dereferenced, and a new task's scope mark, which needs a trusted task
 * pointer, is left in tp_pending by the fork follower and moved to the
 * task's storage by the task itself (tp_current_mark). A constant: the
 * verifier drops the branch not taken, so tp_btf pays nothing.
 */
const volatile __u32 tp_raw = 0;

/* TP_RD reads field of p, a tracepoint argument. */
#define TP_RD(p, field) (tp_raw ? BPF_CORE_READ(p, field) : (p)->field)

/* A scope mark waiting for its task: the task's start time tells a reused
 * thread id apart. */
struct tp_pending {
	struct tp_task_mark mark;
	__u64 start_time;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct tp_pending);
} tp_pending SEC(".maps");

/*
 * Globals user space maps: a data section of their own (".data.tp_mapped",
 * a map the core creates and every object shares), read and written by
 * user space without a system call, and by programs without a map lookup
 * and its NULL check.
 *
 * tp_wake: per slot, set by a reader that sleeps until a record comes
 * (see TP_WAKE_SHIFT). User space sets its slot's word with a store; a
 * program clears it with a store of its own: a word per slot, so neither
 * undoes the other's.
 */
volatile __u32 tp_wake[TP_MAX_SLOTS] SEC(".data.tp_mapped");

/*
 * tp_lost: per slot, the records the kernel could not hand over, added to
 * atomically (loss is rare: the contention of one counter for every CPU
 * costs nothing while nothing is lost). User space reads it with a load
 * where a per-CPU map took a system call, which at a few records a second
 * cost more than the records (a system call after a sleep wakes the Go
 * runtime's monitor thread, ~100 us here).
 */
__u64 tp_lost[TP_MAX_SLOTS] SEC(".data.tp_mapped");

/*
 * Per-CPU working memory. Masks built bit by bit in loops are kept here, in
 * map memory the verifier does not track, rather than in registers or on
 * the stack: a register that differs on each path through a 64-slot loop
 * would make the verifier walk every combination of bits.
 */
struct tp_scratch {
	/* volatile: clang must not keep them in registers across iterations. */
	volatile __u64 mask;
	volatile __u64 aux;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tp_scratch);
} tp_tmp SEC(".maps");

/*
 * Pid namespaces. In the initial pid namespace (tp_pidns_ino 0, the
 * default) records carry the kernel's pids. When tracep runs in another
 * one (a container), bpfcore sets tp_pidns_ino, before loading, to the
 * inode number of its namespace: records then carry the pids tracep's
 * namespace sees (0 for a task it does not see), and whole-system sessions
 * see only the tasks of that namespace. A constant: the verifier drops the
 * branch not taken, so the initial namespace pays nothing.
 */
const volatile __u32 tp_pidns_ino = 0;

/* How many levels of nested pid namespaces a task may be below tracep's. */
#define TP_PIDNS_DEPTH 8

/* tp_ns_nr returns the number of pid p in tracep's pid namespace, or 0. */
static __always_inline __u32 tp_ns_nr(struct pid *p)
{
	unsigned int level;

	if (!p)
		return 0;
	level = BPF_CORE_READ(p, level);
	/* Deepest first: a task is most often in tracep's own namespace. */
#pragma clang loop unroll(disable)
	for (unsigned int k = 0; k < TP_PIDNS_DEPTH; k++) {
		struct upid *u;
		struct pid_namespace *ns;

		if (k > level)
			break;
		u = (void *)p + bpf_core_field_offset(struct pid, numbers) +
		    (level - k) * bpf_core_type_size(struct upid);
		ns = BPF_CORE_READ(u, ns);
		if (ns && BPF_CORE_READ(ns, ns.inum) == tp_pidns_ino)
			return BPF_CORE_READ(u, nr);
	}
	return 0;
}

/*
 * tp_task_ids sets the process id, thread id and parent process id of task
 * t as tracep's pid namespace sees them (see tp_pidns_ino).
 */
static __always_inline void tp_task_ids(struct task_struct *t, __u32 *pid, __u32 *tid, __u32 *ppid)
{
	if (!tp_pidns_ino) {
		*pid = BPF_CORE_READ(t, tgid);
		*tid = BPF_CORE_READ(t, pid);
		*ppid = BPF_CORE_READ(t, real_parent, tgid);
		return;
	}
	*tid = tp_ns_nr(BPF_CORE_READ(t, thread_pid));
	*pid = tp_ns_nr(BPF_CORE_READ(t, group_leader, thread_pid));
	*ppid = tp_ns_nr(BPF_CORE_READ(t, real_parent, group_leader, thread_pid));
}

/* tp_current_ids is tp_task_ids for the current task. */
static __always_inline void tp_current_ids(__u32 *pid, __u32 *tid, __u32 *ppid)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	if (!tp_pidns_ino) {
		__u64 id = bpf_get_current_pid_tgid();

		*pid = id >> 32;
		*tid = (__u32)id;
		*ppid = BPF_CORE_READ(t, real_parent, tgid);
		return;
	}
	tp_task_ids(t, pid, tid, ppid);
}

/* tp_current_visible reports whether tracep's pid namespace sees the
 * current task. */
static __always_inline int tp_current_visible(void)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	return !tp_pidns_ino || tp_ns_nr(BPF_CORE_READ(t, thread_pid)) != 0;
}

static __always_inline struct tp_scope_cfg *tp_get_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tp_cfg, &zero);
}

static __always_inline struct tp_scratch *tp_get_tmp(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tp_tmp, &zero);
}

static __always_inline void tp_lost_inc(__u32 slot)
{
	__sync_fetch_and_add(&tp_lost[slot & (TP_MAX_SLOTS - 1)], 1);
}

/*
 * Loops over the 64 slots run through bpf_loop: the verifier checks a
 * callback once for an unknown index, where an open-coded loop is walked
 * iteration by iteration for every path (which cost ~100 ms of verification
 * per program here). Callbacks stop at the highest set bit, so the usual
 * one or two sessions cost one or two iterations.
 */

struct tp_mask_ctx {
	__u64 mask;
	void *data;
	__u64 size;
};

static __attribute__((unused)) long tp_lost_cb(__u32 i, void *arg)
{
	struct tp_mask_ctx *c = arg;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if ((c->mask >> i) & 1)
		tp_lost_inc(i);
	return 0;
}

/* Counts one lost record for every slot in mask. */
static __always_inline void tp_lost_mask(__u64 mask)
{
	struct tp_mask_ctx c = { .mask = mask };

	bpf_loop(TP_MAX_SLOTS, tp_lost_cb, &c, 0);
}

/*
 * Marks are per thread: user space marks every thread of a pid it registers
 * and the fork follower copies the creating thread's mark to each new thread
 * and process. Looking only at the task itself avoids loading a pointer from
 * a BTF pointer (task->group_leader): on this kernel each such load makes
 * the verifier scan all of vmlinux's BTF by name (~0.5 ms of load time).
 * Elsewhere pointer chains are read with BPF_CORE_READ for the same reason.
 */
static __always_inline struct tp_task_mark *tp_task_mark(struct task_struct *task)
{
	return bpf_task_storage_get(&tp_tasks, task, 0, 0);
}

/*
 * tp_current_mark returns the current task's scope mark; with raw
 * tracepoints, it first takes the mark the fork follower left for it.
 */
static __always_inline struct tp_task_mark *tp_current_mark(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct tp_task_mark *m = tp_task_mark(t);
	struct tp_pending *p;
	__u32 tid;

	if (m || !tp_raw)
		return m;
	tid = BPF_CORE_READ(t, pid);
	p = bpf_map_lookup_elem(&tp_pending, &tid);
	if (!p)
		return 0;
	if (p->start_time == BPF_CORE_READ(t, start_time))
		m = bpf_task_storage_get(&tp_tasks, t, &p->mark, BPF_LOCAL_STORAGE_GET_F_CREATE);
	bpf_map_delete_elem(&tp_pending, &tid);
	return m;
}

struct tp_scope_ctx {
	struct tp_scope_cfg *cfg;
	struct tp_scratch *tmp;
	struct tp_task_mark *task;
	__u64 bits;
};

static __attribute__((unused)) long tp_cgroup_cb(__u32 i, void *arg)
{
	struct tp_scope_ctx *c = arg;

	if (i >= TP_MAX_SLOTS || !(c->bits >> i))
		return 1;
	if (((c->bits >> i) & 1) && bpf_current_task_under_cgroup(&tp_cgroups, i) == 1)
		c->tmp->mask |= 1ULL << i;
	return 0;
}

static __attribute__((unused)) long tp_pid_cb(__u32 i, void *arg)
{
	struct tp_scope_ctx *c = arg;

	if (i >= TP_MAX_SLOTS || !(c->bits >> i))
		return 1;
	if (((c->bits >> i) & 1) && c->task->gen[i] == c->cfg->gen[i])
		c->tmp->mask |= 1ULL << i;
	return 0;
}

/*
 * tp_scope_mask returns the slots of backend kind that want events caused by
 * the current task.
 */
static __always_inline __u64 tp_scope_mask(struct tp_scope_cfg *cfg, int kind)
{
	struct tp_scope_ctx c = { .cfg = cfg };
	__u64 want;

	if (kind < 0 || kind >= TP_MAX_KINDS)
		return 0;
	want = cfg->kind_mask[kind];
	if (!want)
		return 0;
	c.tmp = tp_get_tmp();
	if (!c.tmp)
		return 0;
	c.tmp->mask = cfg->system_mask & want;
	if (c.tmp->mask && !tp_current_visible())
		c.tmp->mask = 0;

	c.bits = cfg->cgroup_mask & want;
	if (c.bits)
		bpf_loop(TP_MAX_SLOTS, tp_cgroup_cb, &c, 0);

	c.bits = cfg->pid_mask & want;
	if (c.bits) {
		c.task = tp_current_mark();
		if (c.task) {
			c.bits &= c.task->mask;
			if (c.bits)
				bpf_loop(TP_MAX_SLOTS, tp_pid_cb, &c, 0);
		}
	}
	return c.tmp->mask;
}

/*
 * Wake-ups. A reader woken for every record costs far more than the record
 * (an epoll return, a futex, goroutine hand-offs: ~100 us of tracer CPU per
 * record when they come one at a time). So a record wakes the reader only
 * once 1/2^TP_WAKE_SHIFT of the ring waits, and then forcibly (a default
 * wake-up is skipped when older records wait unread); otherwise the reader
 * finds it at its next tick (bpfcore.Tick) or when the session closes
 * (everything committed is read). The rest of the ring absorbs what
 * arrives between the wake-up and the read. A reader whose tick found
 * nothing sleeps without ticking and sets its slot in tp_wake: the next
 * record clears it and wakes the reader.
 */
#define TP_WAKE_SHIFT 2

/* tp_output copies data to the ring of slot, counting a failure as lost. */
static __always_inline void tp_output(__u32 slot, void *data, __u64 size)
{
	void *ring = bpf_map_lookup_elem(&tp_rings, &slot);
	__u64 flags = BPF_RB_NO_WAKEUP;

	__u64 full;

	if (!ring) {
		tp_lost_inc(slot);
		return;
	}
	/* 1 when the ring is a quarter full with this record, computed
	 * without a branch: every branch here doubles the states the
	 * verifier walks in the callers' loops. */
	full = ((bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) >> TP_WAKE_SHIFT) - 1 -
		(bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) + size)) >> 63;
	flags = BPF_RB_NO_WAKEUP + full; /* or BPF_RB_FORCE_WAKEUP */
	/* A sleeping reader: this record wakes it. */
	if (tp_wake[slot & (TP_MAX_SLOTS - 1)]) {
		tp_wake[slot & (TP_MAX_SLOTS - 1)] = 0;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(ring, data, size, flags))
		tp_lost_inc(slot);
}

static __attribute__((unused)) long tp_output_cb(__u32 i, void *arg)
{
	struct tp_mask_ctx *c = arg;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if ((c->mask >> i) & 1)
		tp_output(i, c->data, c->size);
	return 0;
}

/*
 * tp_output_mask copies size bytes at data to the ring of every slot in
 * mask. data must be a map value or stack memory the callback may read.
 */
#define tp_output_mask(m, d, s)                                         \
	({                                                              \
		struct tp_mask_ctx __c = { .mask = (m), .data = (d), .size = (s) }; \
		bpf_loop(TP_MAX_SLOTS, tp_output_cb, &__c, 0);          \
	})

#endif /* TP_CORE_H */
