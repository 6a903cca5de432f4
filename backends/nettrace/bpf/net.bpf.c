// SPDX-License-Identifier: GPL-2.0
/*
 * net.bpf.c - TCP and UDP flow records for tracep.
 *
 * This kernel has no kprobes and refuses fentry/fexit, so flows are followed
 * with cgroup socket hooks attached to the root of the cgroup v2 hierarchy
 * (they run for every socket, in every network namespace) and BTF
 * tracepoints:
 *
 *   cgroup/connect4,6   connect() on a TCP or UDP socket, in the calling
 *                       thread: the owner and the scope are decided here.
 *   sockops             TCP_CONNECT_CB, in the connecting thread once the
 *                       local port is chosen and before the SYN leaves:
 *                       the connect record.
 *   tp_btf/sys_exit     connect() returning: the record of a connect that
 *                       failed before any packet (with its errno) and of a
 *                       UDP connect (with the local address the kernel
 *                       chose); accept()/accept4() returning: the accepting
 *                       process of an inbound connection.
 *   cgroup/sendmsg4,6   a UDP datagram sent with an explicit address: the
 *                       first one per socket, destination and session.
 *   inet_sock_set_state TCP state changes (any context: the owner comes from
 *                       the flow table, never from the current task), the
 *                       creation of inbound connections and the close.
 *   cgroup/sock_release a UDP socket closed.
 *
 * Flows live in tpn_flows, keyed by the socket cookie: a 64-bit id the kernel
 * never reuses, so a recycled struct sock never inherits an old flow. Each
 * flow holds its owner and the mask of sessions it belongs to, decided in
 * the owner's context (connect, first send, accept); records produced later
 * in softirq context (state changes, close) go to that mask. A session's
 * start time (tpn_slots, written by Go before the session's slot is
 * enabled) screens out flows an earlier session of the same slot owned.
 *
 * Every record is self-contained (owner, addresses, state), so the decoder
 * in Go is a pure function of one record. Layout: struct net_rec, decoded by
 * decode.go; change both together.
 */
#include "tp_core.h"
#include "net_types.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define TPN_OP_CONNECT 1
#define TPN_OP_ACCEPT 2
#define TPN_OP_SEND 3
#define TPN_OP_STATE 4
#define TPN_OP_CLOSE 5

#define TPN_DIR_OUT 1
#define TPN_DIR_IN 2

/* Record flags. */
#define TPN_RF_NO_OWNER 1 /* no process is known to own the flow */
#define TPN_RF_NO_DST 2   /* unconnected UDP socket closed: no single peer */

/* Flow flags. */
#define TPN_FF_REPORTED 1  /* the flow's opening record was emitted */
#define TPN_FF_OWNED 2     /* owner and mask are decided */
#define TPN_FF_CONNECTED 4 /* UDP: connected to a peer */
#define TPN_FF_FIN_WAIT2 8 /* TCP: entered FIN_WAIT2 at fw2_rcv_nxt */
#define TPN_FF_CLOSED 16   /* TCP: its close was reported when released */

/* Per-slot parameter bits (tp_cfg.param). */
#define TPN_P_STATES 1 /* the session wants state-change records */

#define TPN_NR_CONNECT 42
#define TPN_NR_ACCEPT 43
#define TPN_NR_ACCEPT4 288

#define TPN_MAX_FLOWS (1 << 18)
#define TPN_MAX_SENT (1 << 12)

struct tpn_owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	char comm[16];
};

struct net_rec {
	__u64 ktime;
	__u64 cookie;
	__u64 duration_ns;
	__u64 bytes_sent;
	__u64 bytes_received;
	struct tpn_owner owner;
	__u8 op;
	__u8 proto;
	__u8 dir;
	__u8 state;
	__u16 family;
	__u16 flags;
	__s32 err;
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u8 saddr[16];
	__u8 daddr[16];
};

struct tpn_flow {
	__u64 sk;    /* kernel address; read only while the socket is pinned */
	__u64 start; /* when the flow began */
	__u64 mtime; /* when mask was decided */
	__u64 mask;  /* sessions the flow belongs to */
	struct tpn_owner owner;
	__u8 proto;
	__u8 dir;
	__u16 flags;
	__u16 family; /* of the requested destination */
	__u16 dport;  /* requested destination, host order */
	__u8 daddr[16];
	__u32 fw2_rcv_nxt; /* rcv_nxt on entering FIN_WAIT2 */
	__u32 pad;
};

struct tpn_send_key {
	__u64 cookie;
	__u8 daddr[16];
	__u16 dport;
	__u16 family;
	__u32 slot;
};

struct tpn_task {
	__u64 cookie; /* the flow whose connect() this thread is in */
};

const struct net_rec *tpn_unused_rec __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TPN_MAX_FLOWS);
	__type(key, __u64);
	__type(value, struct tpn_flow);
} tpn_flows SEC(".maps");

/* (socket, destination, session) pairs already reported, with when. Only
 * saves repeating a record: one evicted is reported again, never lost, so
 * it is small (an LRU hash is allocated whole when created: 32,768 entries
 * took 5 ms of each start). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TPN_MAX_SENT);
	__type(key, struct tpn_send_key);
	__type(value, __u64);
} tpn_sent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tpn_task);
} tpn_task SEC(".maps");

/* Which slots want state changes (written by Go): the state program skips
 * building a record nobody asked for. */
struct tpn_ctl {
	__u64 states_mask;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tpn_ctl);
} tpn_control SEC(".maps");

/* Start time of the net session at each slot (written by Go). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TP_MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} tpn_slots SEC(".maps");

static __always_inline __u8 tpn_proto(__u32 type, __u32 protocol)
{
	if (type == SOCK_STREAM && protocol == IPPROTO_TCP)
		return IPPROTO_TCP;
	if (type == SOCK_DGRAM && protocol == IPPROTO_UDP)
		return IPPROTO_UDP;
	return 0;
}

static __always_inline void tpn_owner_current(struct tpn_owner *o)
{
	o->cgroup_id = bpf_get_current_cgroup_id();
	tp_current_ids(&o->pid, &o->tid, &o->ppid);
	o->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline void tpn_rec_init(struct net_rec *r, __u8 op, struct tpn_flow *f, __u64 cookie, __u64 now)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->ktime = now;
	r->cookie = cookie;
	r->op = op;
	if (f) {
		r->owner = f->owner;
		r->proto = f->proto;
		r->dir = f->dir;
	}
}

/*
 * tpn_local reads the local end of socket skp into addr/port and returns its
 * family. The local port comes from inet_sport: the tracepoint for the close
 * runs after inet_put_port has cleared skc_num.
 */
static __always_inline __u16 tpn_local(__u64 skp, __u8 *addr, __u16 *port)
{
	struct sock *sk = (struct sock *)skp;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	*port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	if (family == AF_INET6)
		bpf_core_read(addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	else
		bpf_core_read(addr, 4, &sk->__sk_common.skc_rcv_saddr);
	return family;
}

static __always_inline void tpn_remote(__u64 skp, __u16 family, __u8 *addr, __u16 *port)
{
	struct sock *sk = (struct sock *)skp;

	*port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6)
		bpf_core_read(addr, 16, &sk->__sk_common.skc_v6_daddr);
	else
		bpf_core_read(addr, 4, &sk->__sk_common.skc_daddr);
}

/* tpn_ends fills both ends from the socket: the initiator is the source. */
static __always_inline void tpn_ends(struct net_rec *r, __u64 skp)
{
	if (r->dir == TPN_DIR_IN) {
		r->family = tpn_local(skp, r->daddr, &r->dport);
		tpn_remote(skp, r->family, r->saddr, &r->sport);
	} else {
		r->family = tpn_local(skp, r->saddr, &r->sport);
		tpn_remote(skp, r->family, r->daddr, &r->dport);
	}
}

/* tpn_ends_asked fills the local end from the socket and the destination
 * from the address the program asked for. */
static __always_inline void tpn_ends_asked(struct net_rec *r, struct tpn_flow *f)
{
	tpn_local(f->sk, r->saddr, &r->sport);
	r->family = f->family;
	r->dport = f->dport;
	__builtin_memcpy(r->daddr, f->daddr, sizeof(r->daddr));
}

/*
 * tpn_tcp_stats fills the payload counters and the error of a TCP flow
 * ending in state, from the socket's sequence counters:
 *
 *   sent: what the program wrote, acknowledged or not: bytes_acked (the
 *   acknowledged sequence space) plus write_seq - snd_una (the rest),
 *   less the SYN of an active open and our FIN once queued (fin_out),
 *   which take sequence numbers too.
 *   received: bytes_received, the peer's sequence space, less its FIN when
 *   it arrived (peer_fin).
 */
static __always_inline void tpn_tcp_stats(struct net_rec *r, struct tpn_flow *f, __u64 skp, int fin_out, int peer_fin)
{
	struct tcp_sock *tp = (struct tcp_sock *)skp;
	__u64 sent, less, recv;

	sent = BPF_CORE_READ(tp, bytes_acked);
	sent += (__u32)(BPF_CORE_READ(tp, write_seq) - BPF_CORE_READ(tp, snd_una));
	less = (f->dir == TPN_DIR_OUT) + (fin_out != 0);
	recv = BPF_CORE_READ(tp, bytes_received);
	if (recv && peer_fin)
		recv--;
	r->bytes_sent = sent > less ? sent - less : 0;
	r->bytes_received = recv;
	r->err = BPF_CORE_READ((struct sock *)skp, sk_err);
}

static __always_inline int tpn_fin_sent(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING || state == TCP_LAST_ACK ||
	       state == TCP_TIME_WAIT;
}

static __always_inline int tpn_fin_received(int state)
{
	return state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING || state == TCP_TIME_WAIT;
}

struct tpn_out {
	struct tp_scope_cfg *cfg;
	struct net_rec *rec;
	__u64 mask;
	__u64 mtime;
};

static long tpn_out_cb(__u32 i, void *arg)
{
	struct tpn_out *c = arg;
	__u32 slot = i;
	__u64 *start;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if (!((c->mask >> i) & 1))
		return 0;
	if (c->rec->op == TPN_OP_STATE && !(c->cfg->param[i] & TPN_P_STATES))
		return 0;
	start = bpf_map_lookup_elem(&tpn_slots, &slot);
	if (!start || *start > c->mtime)
		return 0; /* the slot's session began after the flow was scoped */
	tp_output(i, c->rec, sizeof(*c->rec));
	return 0;
}

/* tpn_emit copies rec to the rings of the net sessions in mask that were
 * open when the mask was decided (mtime). */
static __always_inline void tpn_emit(struct tp_scope_cfg *cfg, struct net_rec *rec, __u64 mask, __u64 mtime)
{
	struct tpn_out c = {
		.cfg = cfg,
		.rec = rec,
		.mask = mask & cfg->kind_mask[TP_KIND_NET],
		.mtime = mtime,
	};

	if (c.mask)
		bpf_loop(TP_MAX_SLOTS, tpn_out_cb, &c, 0);
}

static __always_inline struct tp_scope_cfg *tpn_cfg(void)
{
	struct tp_scope_cfg *cfg = tp_get_cfg();

	if (!cfg || !cfg->kind_mask[TP_KIND_NET])
		return 0;
	return cfg;
}

/* A UDP socket's flow ends: its close, if it was reported. */
static __always_inline void tpn_udp_close(struct tp_scope_cfg *cfg, struct tpn_flow *f, __u64 cookie)
{
	struct net_rec r;
	__u64 now;

	if (!f->mask || !(f->flags & TPN_FF_REPORTED))
		return;
	now = bpf_ktime_get_ns();
	tpn_rec_init(&r, TPN_OP_CLOSE, f, cookie, now);
	r.duration_ns = now - f->start;
	if (f->flags & TPN_FF_CONNECTED) {
		tpn_ends(&r, f->sk);
	} else {
		r.family = tpn_local(f->sk, r.saddr, &r.sport);
		r.flags |= TPN_RF_NO_DST;
	}
	tpn_emit(cfg, &r, f->mask, f->mtime);
}

/* ---------------------------------------------------------------- connect */

static __always_inline int tpn_connect(struct bpf_sock_addr *ctx, const int v6)
{
	struct tp_scope_cfg *cfg = tpn_cfg();
	struct tpn_flow f = {}, *old;
	struct bpf_sock *sk;
	struct tpn_task *tt;
	__u64 mask, cookie;
	__u32 *d;
	__u8 proto;

	if (!cfg)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	proto = tpn_proto(ctx->type, ctx->protocol);
	if (!proto)
		return 1;
	mask = tp_scope_mask(cfg, TP_KIND_NET);
	if (!mask)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	if (proto == IPPROTO_UDP) {
		/* Connecting a UDP socket again ends what it did before. */
		old = bpf_map_lookup_elem(&tpn_flows, &cookie);
		if (old && (old->flags & TPN_FF_REPORTED))
			tpn_udp_close(cfg, old, cookie);
	}

	f.sk = (__u64)sk;
	f.start = bpf_ktime_get_ns();
	f.mtime = f.start;
	f.mask = mask;
	tpn_owner_current(&f.owner);
	f.proto = proto;
	f.dir = TPN_DIR_OUT;
	/* A UDP socket counts as connected from here (a connect that fails
	 * is forgotten at its syscall exit); it is reported at its first
	 * datagram, so the probes getaddrinfo makes to pick a source address
	 * (connect, getsockname, close: RFC 6724) show as nothing. */
	f.flags = TPN_FF_OWNED | (proto == IPPROTO_UDP ? TPN_FF_CONNECTED : 0);
	d = (__u32 *)f.daddr;
	if (v6) {
		f.family = AF_INET6;
		d[0] = ctx->user_ip6[0];
		d[1] = ctx->user_ip6[1];
		d[2] = ctx->user_ip6[2];
		d[3] = ctx->user_ip6[3];
	} else {
		f.family = AF_INET;
		d[0] = ctx->user_ip4;
	}
	f.dport = bpf_ntohs((__u16)ctx->user_port);
	if (bpf_map_update_elem(&tpn_flows, &cookie, &f, BPF_ANY)) {
		tp_lost_mask(mask);
		return 1;
	}
	tt = bpf_task_storage_get(&tpn_task, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (tt)
		tt->cookie = cookie;
	return 1;
}

SEC("cgroup/connect4")
int tpn_connect4(struct bpf_sock_addr *ctx)
{
	return tpn_connect(ctx, 0);
}

SEC("cgroup/connect6")
int tpn_connect6(struct bpf_sock_addr *ctx)
{
	return tpn_connect(ctx, 1);
}

/*
 * TCP_CONNECT_CB runs in the connecting thread after the local port is
 * chosen and right before the SYN is sent: the connect is reported here,
 * with both ends, whatever the handshake's outcome and however long it
 * takes. A connect that fails later ends with a close carrying the errno.
 */
SEC("sockops")
int tpn_sockops(struct bpf_sock_ops *ctx)
{
	struct tp_scope_cfg *cfg;
	struct tpn_flow *f, nf = {};
	struct net_rec r;
	struct bpf_sock *sk;
	__u64 cookie, mask;

	if (ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	cfg = tpn_cfg();
	if (!cfg)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	f = bpf_map_lookup_elem(&tpn_flows, &cookie);
	if (!f) {
		/* connect() began before the hooks were attached: adopt the
		 * flow now, still in the connecting thread. */
		mask = tp_scope_mask(cfg, TP_KIND_NET);
		if (!mask)
			return 1;
		nf.sk = (__u64)sk;
		nf.start = bpf_ktime_get_ns();
		nf.mtime = nf.start;
		nf.mask = mask;
		tpn_owner_current(&nf.owner);
		nf.proto = IPPROTO_TCP;
		nf.dir = TPN_DIR_OUT;
		nf.flags = TPN_FF_OWNED;
		bpf_map_update_elem(&tpn_flows, &cookie, &nf, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&tpn_flows, &cookie);
		if (!f) {
			tp_lost_mask(mask); /* the flow map is full */
			return 1;
		}
	}
	if (f->flags & TPN_FF_REPORTED)
		return 1;
	f->flags |= TPN_FF_REPORTED;
	tpn_rec_init(&r, TPN_OP_CONNECT, f, cookie, bpf_ktime_get_ns());
	tpn_ends(&r, f->sk);
	tpn_emit(cfg, &r, f->mask, f->mtime);
	return 1;
}

/* -------------------------------------------------------------- sys_exit */

/* connect() returns: report what TCP_CONNECT_CB could not. */
static __always_inline int tpn_connect_exit(struct tp_scope_cfg *cfg, long ret)
{
	struct tpn_task *tt;
	struct tpn_flow *f;
	struct net_rec r;
	__u64 cookie;

	tt = bpf_task_storage_get(&tpn_task, bpf_get_current_task_btf(), 0, 0);
	if (!tt || !tt->cookie)
		return 0;
	cookie = tt->cookie;
	tt->cookie = 0;
	f = bpf_map_lookup_elem(&tpn_flows, &cookie);
	if (!f || (f->flags & TPN_FF_REPORTED))
		return 0;
	if (ret < 0 && ret != -EINPROGRESS) {
		/* Failed before any packet: no route, no port, refused by
		 * policy... A TCP attempt is reported with the destination it
		 * asked for; a UDP one sent nothing and is forgotten. */
		if (f->proto == IPPROTO_TCP) {
			tpn_rec_init(&r, TPN_OP_CONNECT, f, cookie, bpf_ktime_get_ns());
			r.err = -ret;
			tpn_ends_asked(&r, f);
			tpn_emit(cfg, &r, f->mask, f->mtime);
		}
		bpf_map_delete_elem(&tpn_flows, &cookie);
		return 0;
	}
	if (f->proto != IPPROTO_TCP)
		return 0; /* UDP: reported at its first datagram */
	/* A TCP connect whose TCP_CONNECT_CB was not seen. */
	f->flags |= TPN_FF_REPORTED;
	tpn_rec_init(&r, TPN_OP_CONNECT, f, cookie, bpf_ktime_get_ns());
	tpn_ends(&r, f->sk);
	tpn_emit(cfg, &r, f->mask, f->mtime);
	return 0;
}

/* tpn_fd_sock returns the struct sock behind the current task's fd. */
static __always_inline __u64 tpn_fd_sock(long fd)
{
	struct task_struct___tpn *t = (void *)bpf_get_current_task_btf();
	struct files_struct *files = BPF_CORE_READ(t, files);
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	struct file **fds, *file = 0;
	struct socket *sock;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	return (__u64)BPF_CORE_READ(sock, sk);
}

/*
 * accept()/accept4() returned fd: the current task is the server that takes
 * the connection, so the flow's owner and scope are decided here.
 */
static __always_inline int tpn_accept_exit(struct tp_scope_cfg *cfg, long fd)
{
	struct tpn_flow *f;
	struct net_rec r;
	__u64 skp, cookie, mask, now;

	skp = tpn_fd_sock(fd);
	if (!skp)
		return 0;
	cookie = BPF_CORE_READ((struct sock *)skp, __sk_common.skc_cookie.counter);
	if (!cookie)
		return 0;
	f = bpf_map_lookup_elem(&tpn_flows, &cookie);
	if (!f || f->dir != TPN_DIR_IN || (f->flags & TPN_FF_OWNED))
		return 0;
	mask = tp_scope_mask(cfg, TP_KIND_NET);
	now = bpf_ktime_get_ns();
	tpn_owner_current(&f->owner);
	f->mask = mask;
	f->mtime = now;
	f->flags |= TPN_FF_OWNED | TPN_FF_REPORTED;
	if (!mask)
		return 0;
	tpn_rec_init(&r, TPN_OP_ACCEPT, f, cookie, now);
	tpn_ends(&r, skp);
	tpn_emit(cfg, &r, mask, now);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tpn_sys_exit, struct pt_regs *regs, long ret)
{
	struct tp_scope_cfg *cfg;
	long nr = regs->orig_ax;

	if (nr != TPN_NR_CONNECT && nr != TPN_NR_ACCEPT && nr != TPN_NR_ACCEPT4)
		return 0;
	if (bpf_get_current_task_btf()->thread_info.status & TP_TS_COMPAT)
		return 0; /* 32-bit syscall numbers differ */
	cfg = tpn_cfg();
	if (!cfg)
		return 0;
	if (nr == TPN_NR_CONNECT)
		return tpn_connect_exit(cfg, ret);
	if (ret >= 0)
		return tpn_accept_exit(cfg, ret);
	return 0;
}

/* ------------------------------------------------------------------- UDP */

static __always_inline int tpn_same_addr(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

struct tpn_send {
	struct tpn_send_key key;
	struct net_rec *rec;
	__u64 mask;
};

static long tpn_send_cb(__u32 i, void *arg)
{
	struct tpn_send *c = arg;
	__u32 slot = i;
	__u64 *start, *seen;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if (!((c->mask >> i) & 1))
		return 0;
	start = bpf_map_lookup_elem(&tpn_slots, &slot);
	if (!start)
		return 0;
	c->key.slot = i;
	seen = bpf_map_lookup_elem(&tpn_sent, &c->key);
	if (seen && *seen >= *start)
		return 0; /* this session has seen the pair */
	bpf_map_update_elem(&tpn_sent, &c->key, &c->rec->ktime, BPF_ANY);
	tp_output(i, c->rec, sizeof(*c->rec));
	return 0;
}

/*
 * A datagram sent with an explicit destination (sendto, sendmsg with
 * msg_name). The socket is bound by now (inet_sendmsg autobinds first), so
 * its port is known; its address is the bound one, the wildcard for most
 * clients, since an unconnected socket picks a source per datagram.
 */
static __always_inline int tpn_sendmsg(struct bpf_sock_addr *ctx, const int v6)
{
	struct tp_scope_cfg *cfg = tpn_cfg();
	struct tpn_send c = {};
	struct tpn_flow *f;
	struct bpf_sock *sk;
	struct net_rec r;
	__u64 mask, cookie, now;
	__u32 *d = (__u32 *)c.key.daddr;

	if (!cfg)
		return 1;
	if (ctx->type != SOCK_DGRAM || ctx->protocol != IPPROTO_UDP)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	mask = tp_scope_mask(cfg, TP_KIND_NET);
	if (!mask)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	now = bpf_ktime_get_ns();
	if (v6) {
		c.key.family = AF_INET6;
		d[0] = ctx->user_ip6[0];
		d[1] = ctx->user_ip6[1];
		d[2] = ctx->user_ip6[2];
		d[3] = ctx->user_ip6[3];
	} else {
		c.key.family = AF_INET;
		d[0] = ctx->user_ip4;
	}
	c.key.dport = bpf_ntohs((__u16)ctx->user_port);
	c.key.cookie = cookie;

	f = bpf_map_lookup_elem(&tpn_flows, &cookie);
	if (f && (f->flags & TPN_FF_CONNECTED) && f->dport == c.key.dport && tpn_same_addr(f->daddr, c.key.daddr))
		return 1; /* sendto() naming the connected peer: reported as the connect */

	tpn_rec_init(&r, TPN_OP_SEND, 0, cookie, now);
	tpn_owner_current(&r.owner);
	r.proto = IPPROTO_UDP;
	r.dir = TPN_DIR_OUT;
	/* The bound end, from the context's socket (its fields are rewritten
	 * by the verifier; a struct sock read needs a scalar pointer). */
	r.family = c.key.family;
	r.sport = sk->src_port;
	d = (__u32 *)r.saddr;
	if (v6) {
		d[0] = sk->src_ip6[0];
		d[1] = sk->src_ip6[1];
		d[2] = sk->src_ip6[2];
		d[3] = sk->src_ip6[3];
	} else {
		d[0] = sk->src_ip4;
	}
	r.dport = c.key.dport;
	__builtin_memcpy(r.daddr, c.key.daddr, sizeof(r.daddr));

	if (!f) {
		/* The socket's flow, for its close. */
		struct tpn_flow nf = {
			.sk = (__u64)sk,
			.start = now,
			.mtime = now,
			.mask = mask,
			.proto = IPPROTO_UDP,
			.dir = TPN_DIR_OUT,
			.flags = TPN_FF_OWNED | TPN_FF_REPORTED,
			.family = c.key.family,
		};
		nf.owner = r.owner;
		if (bpf_map_update_elem(&tpn_flows, &cookie, &nf, BPF_NOEXIST))
			tp_lost_mask(mask); /* its close will be missing */
	}

	c.rec = &r;
	c.mask = mask & cfg->kind_mask[TP_KIND_NET];
	bpf_loop(TP_MAX_SLOTS, tpn_send_cb, &c, 0);
	return 1;
}

SEC("cgroup/sendmsg4")
int tpn_sendmsg4(struct bpf_sock_addr *ctx)
{
	return tpn_sendmsg(ctx, 0);
}

SEC("cgroup/sendmsg6")
int tpn_sendmsg6(struct bpf_sock_addr *ctx)
{
	return tpn_sendmsg(ctx, 1);
}

/*
 * Every successful send on any socket (sock_sendmsg): a connected UDP
 * socket's first datagram reports its connect, in the sending thread, with
 * the local address the kernel chose. Everything else returns after a
 * field read.
 */
SEC("tp_btf/sock_send_length")
int BPF_PROG(tpn_send_length, struct sock *sk, int ret, int flags)
{
	struct tp_scope_cfg *cfg;
	struct tpn_flow *f;
	struct net_rec r;
	__u64 cookie;

	if (ret <= 0 || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	cfg = tpn_cfg();
	if (!cfg)
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	f = bpf_map_lookup_elem(&tpn_flows, &cookie);
	if (!f || (f->flags & (TPN_FF_CONNECTED | TPN_FF_REPORTED)) != TPN_FF_CONNECTED)
		return 0;
	f->flags |= TPN_FF_REPORTED;
	tpn_rec_init(&r, TPN_OP_CONNECT, f, cookie, bpf_ktime_get_ns());
	tpn_ends(&r, f->sk);
	tpn_emit(cfg, &r, f->mask, f->mtime);
	return 0;
}

/* The socket is released (its last file reference closed). */
SEC("cgroup/sock_release")
int tpn_release(struct bpf_sock *ctx)
{
	struct tp_scope_cfg *cfg = tpn_cfg();
	struct tpn_flow *f;
	struct net_rec r;
	__u64 cookie, now;
	__u8 proto;
	int state;

	if (!cfg)
		return 1;
	proto = tpn_proto(ctx->type, ctx->protocol);
	if (!proto)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	f = bpf_map_lookup_elem(&tpn_flows, &cookie);
	if (!f)
		return 1;
	if (proto == IPPROTO_TCP) {
		state = ctx->state;
		if (state != TCP_CLOSE) {
			/* The program is done with the connection: that is its
			 * close, with what it wrote and read. TCP may go on
			 * without the file (FIN handshake, timewait); the state
			 * change to CLOSE then only forgets the flow. A flow not
			 * reported yet (accepted through io_uring) is left to
			 * that state change. */
			if (!(f->flags & TPN_FF_REPORTED))
				return 1;
			if (f->mask) {
				now = bpf_ktime_get_ns();
				tpn_rec_init(&r, TPN_OP_CLOSE, f, cookie, now);
				tpn_ends(&r, f->sk);
				r.duration_ns = now - f->start;
				tpn_tcp_stats(&r, f, f->sk, tpn_fin_sent(state), tpn_fin_received(state));
				tpn_emit(cfg, &r, f->mask, f->mtime);
			}
			f->flags |= TPN_FF_CLOSED;
			return 1;
		}
		if (f->dir == TPN_DIR_OUT && !(f->flags & TPN_FF_REPORTED) && f->mask) {
			/* A connect whose syscall exit was not seen (io_uring). */
			tpn_rec_init(&r, TPN_OP_CONNECT, f, cookie, bpf_ktime_get_ns());
			tpn_ends_asked(&r, f);
			tpn_emit(cfg, &r, f->mask, f->mtime);
		}
	} else {
		tpn_udp_close(cfg, f, cookie);
	}
	bpf_map_delete_elem(&tpn_flows, &cookie);
	return 1;
}

/* ------------------------------------------------------------ TCP states */

/* The end of a TCP flow. */
static __always_inline void tpn_tcp_close(struct tp_scope_cfg *cfg, struct tpn_flow *f, __u64 cookie, __u64 skp,
					  int oldstate)
{
	struct net_rec r;
	__u64 now, mask;

	int peer_fin;

	if (f->dir == TPN_DIR_OUT && !(f->flags & TPN_FF_REPORTED))
		return; /* connect() failed before its SYN: its syscall exit reports it */
	if (f->flags & TPN_FF_CLOSED) {
		bpf_map_delete_elem(&tpn_flows, &cookie); /* reported when released */
		return;
	}
	/* The peer's FIN arrived if the state left says so; FIN_WAIT2 closes
	 * both when it arrives and, for a socket its program closed, as soon
	 * as our FIN is acknowledged (a timewait socket carries on): there
	 * rcv_nxt moved since FIN_WAIT2 began only if the FIN came. */
	peer_fin = tpn_fin_received(oldstate);
	if (oldstate == TCP_FIN_WAIT2 && (f->flags & TPN_FF_FIN_WAIT2))
		peer_fin = BPF_CORE_READ((struct tcp_sock *)skp, rcv_nxt) != f->fw2_rcv_nxt;
	now = bpf_ktime_get_ns();
	if (!(f->flags & TPN_FF_OWNED)) {
		/* An inbound connection no process accepted: reported, without an
		 * owner, to the sessions tracing the whole system. */
		mask = cfg->system_mask;
		if (mask) {
			tpn_rec_init(&r, TPN_OP_ACCEPT, f, cookie, now);
			r.flags = TPN_RF_NO_OWNER;
			tpn_ends(&r, skp);
			tpn_emit(cfg, &r, mask, now);
			r.op = TPN_OP_CLOSE;
			r.duration_ns = now - f->start;
			tpn_tcp_stats(&r, f, skp, tpn_fin_sent(oldstate), peer_fin);
			tpn_emit(cfg, &r, mask, now);
		}
	} else if (f->mask) {
		tpn_rec_init(&r, TPN_OP_CLOSE, f, cookie, now);
		tpn_ends(&r, skp);
		r.duration_ns = now - f->start;
		tpn_tcp_stats(&r, f, skp, tpn_fin_sent(oldstate), peer_fin);
		tpn_emit(cfg, &r, f->mask, f->mtime);
	}
	bpf_map_delete_elem(&tpn_flows, &cookie);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tpn_state, struct sock *sk, int oldstate, int newstate)
{
	struct tp_scope_cfg *cfg = tpn_cfg();
	struct tpn_ctl *ctl;
	struct tpn_flow *f;
	struct net_rec r;
	__u32 zero = 0;
	__u64 cookie;

	if (!cfg)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		/* A listener's new connection (softirq: no owner yet; the
		 * accept decides it). */
		struct tpn_flow nf = {
			.sk = (__u64)sk,
			.start = bpf_ktime_get_ns(),
			.proto = IPPROTO_TCP,
			.dir = TPN_DIR_IN,
		};
		if (bpf_map_update_elem(&tpn_flows, &cookie, &nf, BPF_ANY))
			tp_lost_mask(cfg->system_mask & cfg->kind_mask[TP_KIND_NET]);
		return 0;
	}
	f = bpf_map_lookup_elem(&tpn_flows, &cookie);
	if (!f)
		return 0;
	if (newstate == TCP_FIN_WAIT2) {
		f->fw2_rcv_nxt = BPF_CORE_READ((struct tcp_sock *)sk, rcv_nxt);
		f->flags |= TPN_FF_FIN_WAIT2;
	}
	if (newstate == TCP_CLOSE) {
		tpn_tcp_close(cfg, f, cookie, (__u64)sk, oldstate);
		return 0;
	}
	if (!(f->flags & TPN_FF_REPORTED) || !f->mask)
		return 0;
	ctl = bpf_map_lookup_elem(&tpn_control, &zero);
	if (!ctl || !(ctl->states_mask & f->mask))
		return 0;
	tpn_rec_init(&r, TPN_OP_STATE, f, cookie, bpf_ktime_get_ns());
	r.state = newstate;
	tpn_ends(&r, (__u64)sk);
	tpn_emit(cfg, &r, f->mask, f->mtime);
	return 0;
}
