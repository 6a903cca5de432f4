// SPDX-License-Identifier: GPL-2.0
/*
 * dns.bpf.c - DNS messages (UDP payloads and TCP segments on the DNS ports)
 * for tracep, attributed to the process that owns the socket.
 *
 * Two cgroup_skb programs attached to the root of the cgroup v2 hierarchy
 * see every IPv4 and IPv6 packet a socket sends or receives, in every
 * network namespace, after defragmentation on the way in and before
 * fragmentation on the way out (so a UDP message is always whole):
 *
 *   cgroup_skb/egress   a socket sends: UDP sends run in the sending thread
 *                       (the sendmsg or sendmmsg call), and so does the SYN
 *                       of a TCP connect(); those decide the socket's owner
 *                       and scope, kept in socket-local storage.
 *   cgroup_skb/ingress  a socket receives, in softirq context: whatever task
 *                       runs then is unrelated, so the owner and scope come
 *                       from the socket's storage, never from the current
 *                       task.
 *   cgroup/post_bind4,6 a socket is bound to a DNS port (a server), in the
 *                       binding thread: its owner is known before the first
 *                       query arrives, and the connections a TCP listener
 *                       accepts inherit it (BPF_F_CLONE).
 *   tp_btf/kfree_skb    a received packet dropped because no socket wants
 *                       it: a response that arrived after its client closed
 *                       the socket (glibc closes its UDP socket when it
 *                       retries over TCP), which the ingress program never
 *                       sees. It has no owner and goes to every DNS session
 *                       on the port, flagged undelivered: a session uses it
 *                       only to answer a query of its own still pending.
 *
 * A TCP segment arriving at a socket its owner has closed (orphaned, in
 * FIN_WAIT) passes ingress before the kernel resets the connection; it is
 * flagged undelivered too.
 *
 * Unrelated traffic costs a read of the headers in place and a bitmap test
 * (about 80 ns a packet here): only packets from or to a port some DNS
 * session asked for (tpd_portbits, tpd_ports) go further. Those are copied,
 * header and payload, from a buffer claimed from a small pool to the ring
 * of each session that wants them. A socket
 * whose owner is not known (a TCP connection made, or a server socket
 * bound, before the programs were attached) is reported without an owner,
 * and only to the sessions tracing the whole system.
 *
 * Layout: struct dns_rec then caplen payload octets, decoded by record.go;
 * change both together.
 */
#include "tp_core.h"
#include "dns_types.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* Largest payload copied per record: a TCP segment (GSO included) or a UDP
 * message; the pool's buffers are this size. Power of two. */
#define TPD_CAP (1 << 16)
#define TPD_POOL_MAX 64

#define TPD_DIR_EGRESS 1
#define TPD_DIR_INGRESS 2

/* Record flags. */
#define TPD_RF_NO_OWNER 1    /* the socket's owner is not known */
#define TPD_RF_UNDELIVERED 2 /* for a socket its owner closed, or none */

struct tpd_owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	char comm[16];
};

struct dns_rec {
	__u64 ktime;
	__u64 cookie; /* socket cookie: never reused, keys TCP streams */
	struct tpd_owner owner;
	__u32 seq;    /* TCP: sequence number of the first payload octet */
	__u32 len;    /* payload octets in the packet */
	__u32 caplen; /* payload octets following this header */
	__u16 sport;  /* host order */
	__u16 dport;  /* host order */
	__u8 family;  /* 4 or 6 */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 dir;     /* TPD_DIR_* */
	__u8 flags;   /* TPD_RF_* */
	__u8 tcp_flags;
	__u8 pad[3];
	__u8 saddr[16]; /* IPv4 in the first four octets */
	__u8 daddr[16];
};

const struct dns_rec *tpd_unused_rec __attribute__((unused));

/* Who owns a socket and which sessions want it, decided in the owner's
 * thread. gen is the slots' generations then: a slot's later session
 * (gen bumped) does not inherit the decision. */
struct tpd_sock {
	struct tpd_owner owner;
	__u64 mask;
	__u16 gen[TP_MAX_SLOTS];
};

/* BPF_F_CLONE: a connection accepted from a listener inherits its storage,
 * so a server's owner is known for every connection it serves. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct tpd_sock);
} tpd_socks SEC(".maps");

/* Ports any DNS session wants, one bit each (written by Go). */
struct tpd_portset {
	__u64 w[1024];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tpd_portset);
} tpd_portbits SEC(".maps");

/* Port (host order) -> the slots wanting it (written by Go). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u64);
} tpd_ports SEC(".maps");

struct tpd_buf {
	__u32 busy;
	__u32 pad;
	struct dns_rec rec;
	__u8 data[TPD_CAP];
};

/*
 * Record buffers, claimed with a compare-and-swap. cgroup_skb programs run
 * with migration disabled but not preemption: an egress in a thread can be
 * interrupted by a softirq's ingress or egress on the same CPU, or (on a
 * preemptible kernel) by another thread, so a plain per-CPU buffer could be
 * overwritten mid-record. Go sizes the pool (tpd_pool_n entries).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tpd_buf);
} tpd_pool SEC(".maps");

volatile const __u32 tpd_pool_n = 1;

struct tpd_claim {
	__u32 start;
	__u32 n;
	__u32 idx;
	__u32 found;
};

static long tpd_claim_cb(__u32 k, void *arg)
{
	struct tpd_claim *c = arg;
	struct tpd_buf *b;
	__u32 idx;

	if (k >= c->n)
		return 1;
	idx = c->start + k;
	if (idx >= c->n)
		idx -= c->n;
	b = bpf_map_lookup_elem(&tpd_pool, &idx);
	if (!b)
		return 1;
	if (__sync_val_compare_and_swap(&b->busy, 0, 1) == 0) {
		c->idx = idx;
		c->found = 1;
		return 1;
	}
	return 0;
}

static __always_inline struct tpd_buf *tpd_claim(void)
{
	struct tpd_claim c = { .n = tpd_pool_n };

	if (c.n == 0 || c.n > TPD_POOL_MAX)
		return 0;
	c.start = bpf_get_smp_processor_id() % c.n;
	bpf_loop(TPD_POOL_MAX, tpd_claim_cb, &c, 0);
	if (!c.found)
		return 0;
	return bpf_map_lookup_elem(&tpd_pool, &c.idx);
}

static __always_inline void tpd_owner_current(struct tpd_owner *o)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_struct___tpd *leader = (void *)BPF_CORE_READ(t, group_leader);

	o->cgroup_id = bpf_get_current_cgroup_id();
	tp_current_ids(&o->pid, &o->tid, &o->ppid);
	o->uid = (__u32)bpf_get_current_uid_gid();
	/* The process's name, not the sending thread's (dig sends from
	 * "isc-net-0000"). */
	BPF_CORE_READ_STR_INTO(&o->comm, leader, comm);
}

/* The current thread owns the socket: record it and the sessions whose
 * scope it is in, as of now. */
static __always_inline void tpd_own(struct tp_scope_cfg *cfg, struct tpd_sock *st)
{
	tpd_owner_current(&st->owner);
	st->mask = tp_scope_mask(cfg, TP_KIND_DNS);
	__builtin_memcpy(st->gen, cfg->gen, sizeof(st->gen));
}

/* The slots that want port p (host order), or 0. */
static __always_inline __u64 tpd_port_mask(struct tpd_portset *ps, __u16 p)
{
	__u64 *m;

	if (!((ps->w[(p >> 6) & 1023] >> (p & 63)) & 1))
		return 0;
	m = bpf_map_lookup_elem(&tpd_ports, &p);
	return m ? *m : 0;
}

struct tpd_out {
	struct tp_scope_cfg *cfg;
	struct tpd_buf *b;
	__u16 *gen; /* the generations the mask was decided under */
	__u64 mask;
	__u32 caplen;
	__u32 udp;
};

static long tpd_out_cb(__u32 i, void *arg)
{
	struct tpd_out *c = arg;
	__u32 size;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if (!((c->mask >> i) & 1))
		return 0;
	if (c->gen[i] != c->cfg->gen[i])
		return 0; /* decided for an earlier session of the slot */
	size = c->caplen;
	if (c->udp && size > c->cfg->param[i])
		size = c->cfg->param[i]; /* the session's UDP snap length */
	barrier_var(size);
	if (size > TPD_CAP - 1)
		size = TPD_CAP - 1;
	c->b->rec.caplen = size;
	tp_output(i, &c->b->rec, sizeof(c->b->rec) + size);
	return 0;
}

/* Where a packet's transport header is and what it says. */
struct tpd_l4 {
	__u32 l4; /* offset of the transport header */
	__u16 sport, dport; /* host order */
	__u8 family, proto;
};

#define TPD_L4_OK 0
#define TPD_L4_OTHER 1 /* not TCP or UDP over IP, or a later fragment */
#define TPD_L4_COPY 2  /* headers not in the linear part: copy them */

/*
 * tpd_l4_direct reads the headers in place: the fast path every packet of
 * the machine takes, so it reads no more than the protocol and the ports.
 * The context starts at the network header in both directions.
 */
static __always_inline int tpd_l4_direct(struct __sk_buff *skb, struct tpd_l4 *h)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct tpd_iphdr *ip = data;
	__u16 *ports;
	__u32 l4;

	if ((void *)(ip + 1) > end)
		return TPD_L4_COPY;
	switch (ip->ver_ihl >> 4) {
	case 4:
		if (ip->frag_off & bpf_htons(TPD_IP_OFFSET))
			return TPD_L4_OTHER; /* a later fragment (forwarded traffic only) */
		h->family = 4;
		h->proto = ip->protocol;
		l4 = (ip->ver_ihl & 0xf) * 4;
		break;
	case 6: {
		struct tpd_ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return TPD_L4_COPY;
		h->family = 6;
		h->proto = ip6->nexthdr; /* extension headers are not followed */
		l4 = sizeof(*ip6);
		break;
	}
	default:
		return TPD_L4_OTHER;
	}
	if (h->proto != IPPROTO_UDP && h->proto != IPPROTO_TCP)
		return TPD_L4_OTHER;
	ports = data + l4;
	if ((void *)(ports + 2) > end)
		return TPD_L4_COPY;
	h->l4 = l4;
	h->sport = bpf_ntohs(ports[0]);
	h->dport = bpf_ntohs(ports[1]);
	return TPD_L4_OK;
}

/* tpd_l4_copy is tpd_l4_direct for headers outside the linear part. */
static __always_inline int tpd_l4_copy(struct __sk_buff *skb, struct tpd_l4 *h)
{
	struct tpd_ipv6hdr ip6;
	struct tpd_iphdr ip;
	__u16 ports[2];
	__u8 v;

	if (bpf_skb_load_bytes(skb, 0, &v, 1))
		return TPD_L4_OTHER;
	switch (v >> 4) {
	case 4:
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return TPD_L4_OTHER;
		if (ip.frag_off & bpf_htons(TPD_IP_OFFSET))
			return TPD_L4_OTHER;
		h->family = 4;
		h->proto = ip.protocol;
		h->l4 = (ip.ver_ihl & 0xf) * 4;
		break;
	case 6:
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return TPD_L4_OTHER;
		h->family = 6;
		h->proto = ip6.nexthdr;
		h->l4 = sizeof(ip6);
		break;
	default:
		return TPD_L4_OTHER;
	}
	if (h->proto != IPPROTO_UDP && h->proto != IPPROTO_TCP)
		return TPD_L4_OTHER;
	if (bpf_skb_load_bytes(skb, h->l4, ports, sizeof(ports)))
		return TPD_L4_OTHER;
	h->sport = bpf_ntohs(ports[0]);
	h->dport = bpf_ntohs(ports[1]);
	return TPD_L4_OK;
}

static __always_inline int tpd_skb(struct __sk_buff *skb, const int egress)
{
	struct tp_scope_cfg *cfg = tp_get_cfg();
	struct tpd_portset *ps;
	struct tpd_sock *st = 0;
	struct bpf_sock *sk;
	struct tpd_buf *b;
	struct tpd_out out;
	struct tpd_l4 h = {};
	__u32 zero = 0, payoff, len, seq = 0;
	__u8 tcp_flags = 0;
	__u8 saddr[16] = {}, daddr[16] = {};
	__u64 want, mask;
	int proc_ctx;

	if (!cfg)
		return 1;
	want = cfg->kind_mask[TP_KIND_DNS];
	if (!want)
		return 1;
	switch (tpd_l4_direct(skb, &h)) {
	case TPD_L4_OTHER:
		return 1;
	case TPD_L4_COPY:
		if (tpd_l4_copy(skb, &h) != TPD_L4_OK)
			return 1;
	}
	ps = bpf_map_lookup_elem(&tpd_portbits, &zero);
	if (!ps)
		return 1;
	mask = (tpd_port_mask(ps, h.sport) | tpd_port_mask(ps, h.dport)) & want;
	if (!mask)
		return 1;

	/* A DNS port: from here on the cost is per DNS packet. */
	if (h.family == 4) {
		if (bpf_skb_load_bytes(skb, 12, saddr, 4) || bpf_skb_load_bytes(skb, 16, daddr, 4))
			return 1;
	} else {
		if (bpf_skb_load_bytes(skb, 8, saddr, 16) || bpf_skb_load_bytes(skb, 24, daddr, 16))
			return 1;
	}
	if (h.proto == IPPROTO_TCP) {
		struct tpd_tcphdr th;

		if (bpf_skb_load_bytes(skb, h.l4, &th, sizeof(th)))
			return 1;
		seq = bpf_ntohl(th.seq);
		tcp_flags = th.flags;
		payoff = h.l4 + (th.doff_res >> 4) * 4;
	} else {
		payoff = h.l4 + 8;
	}
	len = skb->len > payoff ? skb->len - payoff : 0;

	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1; /* request or time-wait socket: no payload */

	/* A UDP send, or a TCP connect's SYN, runs in the sending thread:
	 * the owner and scope are (re)decided here. */
	proc_ctx = egress && (h.proto == IPPROTO_UDP ||
			      (tcp_flags & (TPD_TCP_SYN | TPD_TCP_ACK)) == TPD_TCP_SYN);
	if (proc_ctx) {
		st = bpf_sk_storage_get(&tpd_socks, sk, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (st)
			tpd_own(cfg, st);
	} else {
		st = bpf_sk_storage_get(&tpd_socks, sk, 0, 0);
	}
	if (h.proto == IPPROTO_UDP && len < 12)
		return 1; /* shorter than a DNS header */
	if (len == 0 && !(tcp_flags & (TPD_TCP_FIN | TPD_TCP_RST)))
		return 1; /* TCP handshake and acknowledgements */

	out.cfg = cfg;
	if (st) {
		mask &= st->mask;
		out.gen = st->gen;
	} else {
		mask &= cfg->system_mask;
		out.gen = cfg->gen;
	}
	if (!mask)
		return 1;

	b = tpd_claim();
	if (!b) {
		tp_lost_mask(mask);
		return 1;
	}
	b->rec.ktime = bpf_ktime_get_ns();
	b->rec.cookie = bpf_get_socket_cookie(skb);
	if (st) {
		b->rec.owner = st->owner;
		b->rec.flags = 0;
	} else {
		__builtin_memset(&b->rec.owner, 0, sizeof(b->rec.owner));
		b->rec.flags = TPD_RF_NO_OWNER;
	}
	if (!egress && h.proto == IPPROTO_TCP && len) {
		/* Data for a connection its owner closed: the kernel resets
		 * it after this filter, and nobody reads the data. */
		struct sock___tpd *ks = (void *)bpf_skc_to_tcp_sock(sk);

		if (ks && !BPF_CORE_READ(ks, sk_socket))
			b->rec.flags |= TPD_RF_UNDELIVERED;
	}
	b->rec.seq = seq;
	b->rec.len = len;
	b->rec.sport = h.sport;
	b->rec.dport = h.dport;
	b->rec.family = h.family;
	b->rec.proto = h.proto;
	b->rec.dir = egress ? TPD_DIR_EGRESS : TPD_DIR_INGRESS;
	b->rec.tcp_flags = tcp_flags;
	__builtin_memcpy(b->rec.saddr, saddr, 16);
	__builtin_memcpy(b->rec.daddr, daddr, 16);

	if (len > TPD_CAP - 1)
		len = TPD_CAP - 1;
	barrier_var(len);
	len &= TPD_CAP - 1;
	/* A TCP FIN or RST without payload is sent too: it ends a stream. */
	if (len > 0 && bpf_skb_load_bytes(skb, payoff, b->data, len)) {
		tp_lost_mask(mask);
		b->busy = 0;
		return 1;
	}

	out.b = b;
	out.mask = mask;
	out.caplen = len;
	out.udp = h.proto == IPPROTO_UDP;
	bpf_loop(TP_MAX_SLOTS, tpd_out_cb, &out, 0);
	b->busy = 0;
	return 1;
}

/*
 * A socket bound to a DNS port (a server, or a client choosing its source
 * port), in the binding thread: its owner is decided before its first
 * packet arrives, which for a server is a query, in softirq context.
 */
static __always_inline int tpd_bind(struct bpf_sock *ctx)
{
	struct tp_scope_cfg *cfg = tp_get_cfg();
	struct tpd_portset *ps;
	struct tpd_sock *st;
	__u32 zero = 0;
	__u64 want;

	if (!cfg)
		return 1;
	want = cfg->kind_mask[TP_KIND_DNS];
	if (!want)
		return 1;
	if (ctx->protocol != IPPROTO_UDP && ctx->protocol != IPPROTO_TCP)
		return 1;
	ps = bpf_map_lookup_elem(&tpd_portbits, &zero);
	if (!ps || !(tpd_port_mask(ps, ctx->src_port) & want))
		return 1;
	st = bpf_sk_storage_get(&tpd_socks, ctx, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (st)
		tpd_own(cfg, st);
	return 1;
}

SEC("cgroup/post_bind4")
int tpd_bind4(struct bpf_sock *ctx)
{
	return tpd_bind(ctx);
}

SEC("cgroup/post_bind6")
int tpd_bind6(struct bpf_sock *ctx)
{
	return tpd_bind(ctx);
}

SEC("cgroup_skb/egress")
int tpd_egress(struct __sk_buff *skb)
{
	return tpd_skb(skb, 1);
}

SEC("cgroup_skb/ingress")
int tpd_ingress(struct __sk_buff *skb)
{
	return tpd_skb(skb, 0);
}

/*
 * A received packet dropped because no socket wants it (or a TCP socket
 * its owner closed, now gone or in TIME_WAIT): a response that came too
 * late. Only the linear part of the packet is copied; a DNS response to a
 * closed port is small enough to be all there.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(tpd_drop, void *skbp, void *location, int reason)
{
	struct sk_buff___tpd *skb = skbp;
	struct tp_scope_cfg *cfg;
	struct tpd_portset *ps;
	struct tpd_buf *b;
	struct tpd_out out;
	struct tpd_ipv6hdr ip6;
	struct tpd_iphdr ip;
	unsigned char *head, *data, *p;
	__u32 zero = 0, l4, hdr, len, lin, seq = 0;
	__u16 ports[2], sport, dport;
	__u8 proto, family, tcp_flags = 0, v;
	__u64 want, mask;

	if (reason != bpf_core_enum_value(enum skb_drop_reason___tpd, SKB_DROP_REASON_NO_SOCKET___tpd) &&
	    reason != bpf_core_enum_value(enum skb_drop_reason___tpd, SKB_DROP_REASON_TCP_CLOSE___tpd))
		return 0;
	if (!BPF_CORE_READ(skb, skb_iif))
		return 0; /* never received: dropped on its way out */
	cfg = tp_get_cfg();
	if (!cfg)
		return 0;
	want = cfg->kind_mask[TP_KIND_DNS];
	if (!want)
		return 0;
	head = BPF_CORE_READ(skb, head);
	p = head + BPF_CORE_READ(skb, network_header);
	if (bpf_probe_read_kernel(&v, 1, p))
		return 0;
	switch (v >> 4) {
	case 4:
		if (bpf_probe_read_kernel(&ip, sizeof(ip), p) || (ip.frag_off & bpf_htons(TPD_IP_OFFSET)))
			return 0;
		family = 4;
		proto = ip.protocol;
		l4 = (ip.ver_ihl & 0xf) * 4;
		len = bpf_ntohs(ip.tot_len);
		break;
	case 6:
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), p))
			return 0;
		family = 6;
		proto = ip6.nexthdr;
		l4 = sizeof(ip6);
		len = sizeof(ip6) + bpf_ntohs(ip6.payload_len);
		break;
	default:
		return 0;
	}
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return 0;
	if (bpf_probe_read_kernel(ports, sizeof(ports), p + l4))
		return 0;
	sport = bpf_ntohs(ports[0]);
	dport = bpf_ntohs(ports[1]);
	ps = bpf_map_lookup_elem(&tpd_portbits, &zero);
	if (!ps)
		return 0;
	mask = (tpd_port_mask(ps, sport) | tpd_port_mask(ps, dport)) & want;
	if (!mask)
		return 0;

	if (proto == IPPROTO_TCP) {
		struct tpd_tcphdr th;

		if (bpf_probe_read_kernel(&th, sizeof(th), p + l4))
			return 0;
		seq = bpf_ntohl(th.seq);
		tcp_flags = th.flags;
		hdr = l4 + (th.doff_res >> 4) * 4;
	} else {
		hdr = l4 + 8;
	}
	len = len > hdr ? len - hdr : 0;
	if (!len)
		return 0;
	/* The linear part ends skb_headlen() octets after data. */
	data = BPF_CORE_READ(skb, data);
	lin = BPF_CORE_READ(skb, len) - BPF_CORE_READ(skb, data_len);
	p += hdr;
	if (p < data || p > data + lin)
		return 0;
	lin -= p - data;

	b = tpd_claim();
	if (!b) {
		tp_lost_mask(mask);
		return 0;
	}
	b->rec.ktime = bpf_ktime_get_ns();
	b->rec.cookie = 0;
	__builtin_memset(&b->rec.owner, 0, sizeof(b->rec.owner));
	b->rec.flags = TPD_RF_NO_OWNER | TPD_RF_UNDELIVERED;
	b->rec.seq = seq;
	b->rec.len = len;
	b->rec.sport = sport;
	b->rec.dport = dport;
	b->rec.family = family;
	b->rec.proto = proto;
	b->rec.dir = TPD_DIR_INGRESS;
	b->rec.tcp_flags = tcp_flags;
	__builtin_memset(b->rec.saddr, 0, 16);
	__builtin_memset(b->rec.daddr, 0, 16);
	if (family == 4) {
		__builtin_memcpy(b->rec.saddr, &ip.saddr, 4);
		__builtin_memcpy(b->rec.daddr, &ip.daddr, 4);
	} else {
		__builtin_memcpy(b->rec.saddr, ip6.saddr, 16);
		__builtin_memcpy(b->rec.daddr, ip6.daddr, 16);
	}
	if (len > lin)
		len = lin;
	if (len > TPD_CAP - 1)
		len = TPD_CAP - 1;
	barrier_var(len);
	len &= TPD_CAP - 1;
	if (len > 0 && bpf_probe_read_kernel(b->data, len, p)) {
		tp_lost_mask(mask);
		b->busy = 0;
		return 0;
	}
	out.cfg = cfg;
	out.gen = cfg->gen;
	out.b = b;
	out.mask = mask;
	out.caplen = len;
	out.udp = proto == IPPROTO_UDP;
	bpf_loop(TP_MAX_SLOTS, tpd_out_cb, &out, 0);
	b->busy = 0;
	return 0;
}
