// SPDX-License-Identifier: GPL-2.0
/*
 * exec.bpf.c - exec, failed exec and process exit records for tracep.
 *
 * Only tracepoints are used: this kernel has no kprobes and refuses
 * fentry/fexit. Records are variable-sized (header, filename, argv) and are
 * built once in a per-CPU scratch buffer, then copied with
 * bpf_ringbuf_output to the ring of every session whose scope matches, each
 * with that session's argv limit. An argv longer than the scratch buffer
 * holds (TPX_ARGV_CAP) comes in pieces: the exec record carries the first,
 * TPX_REC_ARGV records the rest, each with its offset, and every record but
 * a session's last has TPX_F_MORE. The record layout is decoded by
 * decode.go; change both together.
 */
#include "tp_core.h"

char LICENSE[] SEC("license") = "GPL";

#define TPX_FN_MAX 4096
/* Argv bytes per record: MAX_ARG_STRLEN, the longest single argument. */
#define TPX_ARGV_CAP (128 * 1024)
/* Records per argv: 8 MiB in all, beyond the kernel's own limit (the
 * strings of argv and envp take at most a quarter of the stack rlimit and
 * never more than 6 MiB). */
#define TPX_PIECES_MAX 64
/* A session parameter of this value wants argv whole. */
#define TPX_ARGV_WHOLE 0xffffffffU

#define TPX_REC_EXEC 1
#define TPX_REC_FAIL 2
#define TPX_REC_EXIT 3
#define TPX_REC_ARGV 4 /* a later piece of the argv of the exec before it */

#define TPX_F_ARGV_TRUNC 1 /* argv did not fit the session's limit */
#define TPX_F_ARGV_FAULT 2 /* argv could not be read from the new image */
#define TPX_F_FN_FAULT 4   /* the filename could not be read */
#define TPX_F_MORE 8       /* more pieces of this argv follow */

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
	__u32 argv_off;     /* offset in argv of the bytes this record carries */
	__u32 pad;
};

/*
 * The state of the argv loops. It lives in the scratch buffer, map memory
 * whose contents the verifier does not track, rather than on the stack:
 * there every value it takes (offsets, lengths, flags, "last") made a state
 * of its own, walked through both nested loops (45,000 instructions and
 * ~100 ms of load time).
 */
struct tpx_state {
	__u64 start; /* user address of argv */
	__u64 size;  /* the process's argv size */
	__u64 got;   /* argv bytes to read: what the most generous session wants */
	__u32 fn;    /* filename bytes, in the first record only */
	__u32 flags;
	__u32 off;   /* offset of the piece being output */
	__u32 plen;  /* its length */
	__u32 last;  /* it is the last piece read */
	__u32 pad;
};

struct exec_buf {
	struct exec_rec rec;
	char data[TPX_FN_MAX + TPX_ARGV_CAP];
	struct tpx_state st;
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
	r->ktime = bpf_ktime_get_ns();
	r->type = type;
	tp_current_ids(&r->pid, &r->tid, &r->ppid);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->flags = 0;
	r->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->filename_len = 0;
	r->argv_len = 0;
	r->argv_size = 0;
	r->status = 0;
	r->runtime_ns = 0;
	r->argv_off = 0;
	r->pad = 0;
}

struct tpx_exec_ctx {
	struct tp_scope_cfg *cfg;
	struct exec_buf *b;
	struct tp_scratch *tmp;
	__u64 mask;
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

/* Outputs the current piece to slot i, cut to the slot's limit. */
static long tpx_emit_cb(__u32 i, void *arg)
{
	struct tpx_exec_ctx *c = arg;
	struct tpx_state *st = &c->b->st;
	__u64 want, n, off = st->off;
	__u32 fn, flags = st->flags;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if (!((c->mask >> i) & 1))
		return 0;
	/* The argv bytes this session gets in all. */
	want = c->cfg->param[i];
	if (want > st->got)
		want = st->got;
	if (off && off >= want)
		return 0; /* it has had all its pieces */
	n = want - off;
	if (n > st->plen)
		n = st->plen;
	if (want < st->size)
		flags |= TPX_F_ARGV_TRUNC;
	if (off + n < want && !st->last)
		flags |= TPX_F_MORE;
	barrier_var(n);
	if (n > TPX_ARGV_CAP)
		n = TPX_ARGV_CAP;
	fn = off ? 0 : st->fn & (TPX_FN_MAX - 1);
	c->b->rec.argv_len = n;
	c->b->rec.flags = flags;
	tp_output(i, c->b, sizeof(c->b->rec) + fn + n);
	return 0;
}

/* Reads piece k of argv into the scratch buffer and outputs it. The first
 * follows the filename in the exec record; the others are TPX_REC_ARGV
 * records of their own, read into the same buffer once the previous one
 * was copied out. */
static long tpx_piece_cb(__u32 k, void *arg)
{
	struct tpx_exec_ctx *c = arg;
	struct tpx_state *st = &c->b->st;
	__u64 off = (__u64)k * TPX_ARGV_CAP, n, got = st->got;
	__u32 fn = 0, last;

	if (k >= TPX_PIECES_MAX || (k && off >= got))
		return 1;
	n = got - off;
	if (n > TPX_ARGV_CAP)
		n = TPX_ARGV_CAP;
	if (k) {
		c->b->rec.type = TPX_REC_ARGV;
		c->b->rec.filename_len = 0;
		st->flags &= ~TPX_F_FN_FAULT;
	} else {
		fn = st->fn & (TPX_FN_MAX - 1);
	}
	barrier_var(n);
	if (n > TPX_ARGV_CAP)
		n = TPX_ARGV_CAP;
	if (n && bpf_probe_read_user(c->b->data + fn, n, (void *)(st->start + off))) {
		st->flags |= TPX_F_ARGV_FAULT;
		n = 0;
	}
	st->off = off;
	st->plen = n;
	last = !n || off + n >= got;
	st->last = last;
	c->b->rec.argv_off = off;
	bpf_loop(TP_MAX_SLOTS, tpx_emit_cb, c, 0);
	return last;
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
	__u64 mask, mm_start, mm_end, size;
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

	/* Read as much as the most generous session wants, in pieces. */
	c.cfg = cfg;
	c.b = b;
	c.mask = mask;
	c.tmp = tp_get_tmp();
	if (!c.tmp)
		return 0;
	c.tmp->aux = 0;
	bpf_loop(TP_MAX_SLOTS, tpx_want_cb, &c, 0);
	b->st.got = size < c.tmp->aux ? size : c.tmp->aux;
	if (b->st.got > (__u64)TPX_PIECES_MAX * TPX_ARGV_CAP)
		b->st.got = (__u64)TPX_PIECES_MAX * TPX_ARGV_CAP;
	b->st.start = mm_start;
	b->st.size = size;
	b->st.fn = fn;
	b->st.flags = flags;
	bpf_loop(TPX_PIECES_MAX, tpx_piece_cb, &c, 0);
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
	nr = TP_RD(regs, orig_ax);
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
	filename = nr == TPX_NR_EXECVE ? TP_RD(regs, di) : TP_RD(regs, si);
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
	r.status = TP_RD(p, exit_code);
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
