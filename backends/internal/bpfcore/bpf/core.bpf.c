// SPDX-License-Identifier: GPL-2.0
/*
 * core.bpf.c - the programs every tracep process needs once, whatever its
 * backends: pid-tree scopes followed at fork.
 */
#include "tp_core.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * A pid-scoped slot covers its processes and every process or thread they
 * create: the child inherits the parent's mark here, before it first runs,
 * so even a child that execs a microsecond later is in scope. The mark lives
 * in task-local storage, which the kernel frees with the task, so a reused
 * pid never inherits it.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tpc_fork, struct task_struct *parent, struct task_struct *child)
{
	struct tp_scope_cfg *cfg = tp_get_cfg();
	struct tp_task_mark *pt, *ct;
	__u64 live;

	if (!cfg || !cfg->pid_mask)
		return 0;
	/* The parent is the current task. */
	pt = tp_current_mark();
	if (!pt)
		return 0;
	live = pt->mask & cfg->pid_mask;
	if (!live)
		return 0;
	if (tp_raw) {
		/* No trusted pointer to the child: it takes its mark itself. */
		struct tp_pending p;
		__u32 tid = BPF_CORE_READ(child, pid);

		__builtin_memcpy(&p.mark, pt, sizeof(p.mark));
		p.start_time = BPF_CORE_READ(child, start_time);
		if (bpf_map_update_elem(&tp_pending, &tid, &p, BPF_ANY))
			tp_lost_mask(live);
		return 0;
	}
	ct = bpf_task_storage_get(&tp_tasks, child, pt, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ct)
		tp_lost_mask(live);
	return 0;
}
