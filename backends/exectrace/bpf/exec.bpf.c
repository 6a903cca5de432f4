// SPDX-License-Identifier: GPL-2.0
/*
 * exec.bpf.c - exec, failed exec and process exit records for tracep.
 *
 * Only tracepoints are used: this kernel has no kprobes and refuses
 * fentry/fexit. Records are variable-sized (header, filename, argv) and are
 * built once in a per-CPU scratch buffer, then copied with
 * bpf_ringbuf_output to the ring of every session whose scope matches, each
 * with that session's argv limit. The record layout is decoded by decode.go;
 * change both together.
 */
#include "tp_core.h"

char LICENSE[] SEC("license") = "GPL";

#define TPX_FN_MAX 4096
#define TPX_ARGV_CAP (128 * 1024)

#define TPX_REC_EXEC 1
#define TPX_REC_FAIL 2
#define TPX_REC_EXIT 3

#define TPX_F_ARGV_TRUNC 1 /* argv did not fit the session's limit */
#define TPX_F_ARGV_FAULT 2 /* argv could not be read from the new image */
#define TPX_F_FN_FAULT 4   /* the filename could not be read */

#define TPX_NR_EXECVE 59
#define TPX_NR_EXECVEAT 322

struct exec_rec {
	__u64 ktime;
	__u32 type;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 flags;
	__u64 cgroup_id;
	char comm[16];
	__u32 filename_len; /* bytes of filename following the header, no NUL */
	__u32 argv_len;     /* bytes of argv following the filename */
	__u32 argv_size;    /* the process's real argv size (arg_end - arg_start) */
	__s32 status;       /* fail: errno; exit: wait status */
	__u64 runtime_ns;   /* exit: time since the process started */
};

struct exec_buf {
	struct exec_rec rec;
	char data[TPX_FN_MAX + TPX_ARGV_CAP];
};

/* One scratch buffer per CPU (Go sets max_entries to the possible CPUs).
 * These programs run with preemption disabled, so one CPU never runs two of
 * them at once. An ARRAY is used because a PERCPU_ARRAY value is capped at
 * 32 KiB. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_buf);
} tpx_scratch SEC(".maps");

static __always_inline struct exec_buf *tpx_scratch_get(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&tpx_scratch, &cpu);
}

static __always_inline void tpx_fill(struct exec_rec *r, struct task_struct *task, __u32 type)
{
	__u64 id = bpf_get_current_pid_tgid();

	r->ktime = bpf_ktime_get_ns();
	r->type = type;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->flags = 0;
	r->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->filename_len = 0;
	r->argv_len = 0;
	r->argv_size = 0;
	r->status = 0;
	r->runtime_ns = 0;
}

struct tpx_exec_ctx {
	struct tp_scope_cfg *cfg;
	struct exec_buf *b;
	struct tp_scratch *tmp;
	__u64 mask;
	__u32 fn;
	__u32 flags;
};

static long tpx_want_cb(__u32 i, void *arg)
{
	struct tpx_exec_ctx *c = arg;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if (((c->mask >> i) & 1) && c->cfg->param[i] > c->tmp->aux)
		c->tmp->aux = c->cfg->param[i];
	return 0;
}

static long tpx_emit_cb(__u32 i, void *arg)
{
	struct tpx_exec_ctx *c = arg;
	__u64 len;
	__u32 fn;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if (!((c->mask >> i) & 1))
		return 0;
	len = c->tmp->aux;
	if (len > c->cfg->param[i])
		len = c->cfg->param[i];
	barrier_var(len);
	if (len > TPX_ARGV_CAP)
		len = TPX_ARGV_CAP;
	fn = c->fn & (TPX_FN_MAX - 1);
	c->b->rec.argv_len = len;
	c->b->rec.flags = c->flags | (len < c->b->rec.argv_size ? TPX_F_ARGV_TRUNC : 0);
	tp_output(i, c->b, sizeof(c->b->rec) + fn + len);
	return 0;
}

/*
 * A successful exec. At this tracepoint the new image is installed: current
 * runs the new program and mm->arg_start..arg_end holds the argv the kernel
 * just copied onto the new stack, so this is exactly what the program got,
 * and the pages are present (the kernel wrote them a moment ago).
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tpx_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 mask, mm_start, mm_end, size, want, got;
	struct tpx_exec_ctx c = {};
	struct exec_buf *b;
	struct tp_scope_cfg *cfg;
	__u32 fn, flags = 0;
	long n;

	cfg = tp_get_cfg();
	if (!cfg)
		return 0;
	mask = tp_scope_mask(cfg, TP_KIND_EXEC);
	if (!mask)
		return 0;
	b = tpx_scratch_get();
	if (!b) {
		tp_lost_mask(mask);
		return 0;
	}
	tpx_fill(&b->rec, p, TPX_REC_EXEC);

	n = bpf_probe_read_kernel_str(b->data, TPX_FN_MAX, BPF_CORE_READ(bprm, filename));
	if (n < 0)
		flags |= TPX_F_FN_FAULT;
	fn = n > 0 ? n - 1 : 0;
	fn &= TPX_FN_MAX - 1;
	b->rec.filename_len = fn;

	mm_start = BPF_CORE_READ(p, mm, arg_start);
	mm_end = BPF_CORE_READ(p, mm, arg_end);
	size = mm_end > mm_start ? mm_end - mm_start : 0;
	b->rec.argv_size = size > 0xffffffffULL ? 0xffffffffU : size;

	/* Read as much as the most generous session wants. */
	c.cfg = cfg;
	c.b = b;
	c.mask = mask;
	c.tmp = tp_get_tmp();
	if (!c.tmp)
		return 0;
	c.tmp->aux = 0;
	bpf_loop(TP_MAX_SLOTS, tpx_want_cb, &c, 0);
	want = c.tmp->aux;
	got = size < want ? size : want;
	barrier_var(got);
	if (got > TPX_ARGV_CAP)
		got = TPX_ARGV_CAP;
	if (got && bpf_probe_read_user(b->data + fn, got, (void *)mm_start)) {
		flags |= TPX_F_ARGV_FAULT;
		got = 0;
	}

	/* One copy per session, each cut to that session's limit. */
	c.tmp->aux = got;
	c.fn = fn;
	c.flags = flags;
	bpf_loop(TP_MAX_SLOTS, tpx_emit_cb, &c, 0);
	return 0;
}

/*
 * A failed execve/execveat, at syscall exit. On failure the old image is
 * still mapped and the saved user registers still hold the arguments, so
 * the filename pointer is read from them: no entry hook is needed.
 * raw_syscalls/sys_exit is used rather than syscalls/sys_exit_execve
 * because the latter needs tracefs to attach and tens of milliseconds to
 * detach; the price is that this runs on every system call while a session
 * is open, returning after one comparison for every call that succeeded.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(tpx_sys_exit, struct pt_regs *regs, long ret)
{
	struct exec_buf *b;
	struct tp_scope_cfg *cfg;
	__u64 filename, mask;
	__u32 fn = 0, flags = 0;
	long nr, n;

	if (ret >= 0)
		return 0;
	nr = regs->orig_ax;
	if (nr != TPX_NR_EXECVE && nr != TPX_NR_EXECVEAT)
		return 0;
	if (bpf_get_current_task_btf()->thread_info.status & TP_TS_COMPAT)
		return 0; /* 32-bit syscall numbers differ; not traced */
	cfg = tp_get_cfg();
	if (!cfg)
		return 0;
	mask = tp_scope_mask(cfg, TP_KIND_EXEC);
	if (!mask)
		return 0;
	b = tpx_scratch_get();
	if (!b) {
		tp_lost_mask(mask);
		return 0;
	}
	filename = nr == TPX_NR_EXECVE ? regs->di : regs->si;
	tpx_fill(&b->rec, bpf_get_current_task_btf(), TPX_REC_FAIL);
	b->rec.status = -ret;
	n = bpf_probe_read_user_str(b->data, TPX_FN_MAX, (void *)filename);
	if (n < 0)
		flags |= TPX_F_FN_FAULT;
	else if (n > 0)
		fn = n - 1;
	fn &= TPX_FN_MAX - 1;
	b->rec.filename_len = fn;
	b->rec.flags = flags;
	tp_output_mask(mask, b, sizeof(b->rec) + fn);
	return 0;
}

static __always_inline int tpx_report_exit(struct task_struct *p)
{
	struct tp_scope_cfg *cfg;
	struct exec_rec r;
	__u64 mask;

	cfg = tp_get_cfg();
	if (!cfg)
		return 0;
	mask = tp_scope_mask(cfg, TP_KIND_EXEC);
	if (!mask)
		return 0;
	tpx_fill(&r, p, TPX_REC_EXIT);
	r.status = p->exit_code;
	r.runtime_ns = r.ktime - BPF_CORE_READ(p, group_leader, start_time);
	tp_output_mask(mask, &r, sizeof(r));
	return 0;
}

/*
 * Process exit: only the thread that ends its thread group reports, so this
 * is one record per process, not per thread. Go loads one of the two
 * programs below, by the tracepoint's signature in the kernel's BTF.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tpx_exit, struct task_struct *p, bool group_dead)
{
	if (!group_dead)
		return 0;
	return tpx_report_exit(p);
}

/*
 * For kernels whose tracepoint lacks group_dead: the last thread is the one
 * that finds signal->live at zero. Threads exiting together may both see
 * zero, so a process may then report twice.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tpx_exit_live, struct task_struct *p)
{
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	return tpx_report_exit(p);
}
