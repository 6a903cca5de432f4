// SPDX-License-Identifier: GPL-2.0
/*
 * tls.bpf.c - TLS plaintext, SNI and ClientHello records for tracep.
 *
 * Three kinds of hooks feed one record layout (struct tls_rec, decoded by
 * decode.go; change both together):
 *
 *   - uprobes on the TLS libraries (OpenSSL, GnuTLS) and on Go's
 *     crypto/tls, all through two programs dispatched by the attach cookie:
 *     tlsx_enter at function entries (and at the RET instructions of Go
 *     functions, which must never get return probes), tlsx_exit at the
 *     returns of C functions. Reads and writes are recorded at return, with
 *     exactly the bytes the call returned, from the buffer saved at entry.
 *   - tp_btf/sys_enter: the first bytes of every write, for ClientHello
 *     records (SNI for any client, whatever its library), kept until the
 *     write reaches its socket; and executable mmaps of files not
 *     inspected yet.
 *   - tp_btf/sock_send_length and sock_recv_length: every send and receive
 *     of a TCP socket, in the thread that made it. One made inside a
 *     library call (by its thread, or its goroutine) is the socket of that
 *     call's connection, whatever the library and whether or not the
 *     binary has symbols; a ClientHello noted at the system call's entry
 *     is reported with the socket it went to.
 *   - tp_btf/sched_process_exec: binaries not inspected yet, reported on
 *     the discovery ring so that user space can attach to them, and held
 *     with SIGSTOP until it has when the session asks for it.
 *
 * Records are variable-sized: built in a per-CPU scratch buffer and copied
 * with bpf_ringbuf_output to the ring of each session whose scope matches,
 * cut to that session's data limit.
 */
#include "tp_core.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* Largest plaintext copied per call (Config.DataLimit's ceiling). */
#define TLSX_DATA_CAP (256 * 1024)
/* Longest server name recorded. */
#define TLSX_NAME_MAX 256

/* Record types. */
#define TLSX_REC_DATA 1
#define TLSX_REC_SNI 2
#define TLSX_REC_HELLO 3
#define TLSX_REC_FREE 4

/* Record flags. */
#define TLSX_F_RX 1         /* data returned by a read (else handed to a write) */
#define TLSX_F_FAULT 2      /* the buffer could not be read */
#define TLSX_F_ADDR 4       /* addr holds the connection's socket */
#define TLSX_F_CALL_SOCK 8  /* ... seen during this very call */

/* Libraries. */
#define TLSX_LIB_OPENSSL 1
#define TLSX_LIB_GNUTLS 2
#define TLSX_LIB_GO 3
#define TLSX_LIB_WIRE 4

/* Function ids: the low 8 bits of a probe's cookie (funcs.go). */
#define TLSX_FN_SSL_WRITE 1
#define TLSX_FN_SSL_WRITE_EX 2
#define TLSX_FN_SSL_READ 3
#define TLSX_FN_SSL_READ_EX 4
#define TLSX_FN_SSL_HANDSHAKE 5
#define TLSX_FN_SSL_CTRL 6
#define TLSX_FN_SSL_FREE 7
#define TLSX_FN_GNUTLS_SEND 16
#define TLSX_FN_GNUTLS_RECV 17
#define TLSX_FN_GNUTLS_HANDSHAKE 18
#define TLSX_FN_GNUTLS_SNI 19
#define TLSX_FN_GNUTLS_DEINIT 20
#define TLSX_FN_GO_WRITE 32
#define TLSX_FN_GO_READ 33
#define TLSX_FN_GO_WRITE_RET 34
#define TLSX_FN_GO_READ_RET 35
#define TLSX_FN_WIRE_WRITE 48
#define TLSX_FN_WIRE_SENDTO 49
#define TLSX_FN_WIRE_WRITEV 50
#define TLSX_FN_WIRE_SENDMSG 51

/* SSL_ctrl command of SSL_set_tlsext_host_name. */
#define TLSX_SSL_CTRL_SET_TLSEXT_HOSTNAME 55
/* gnutls_server_name_type_t GNUTLS_NAME_DNS. */
#define TLSX_GNUTLS_NAME_DNS 1

/* The session parameter: the data limit, and whether to hold new binaries. */
#define TLSX_PARAM_LIMIT 0x7fffffffU
#define TLSX_PARAM_HOLD 0x80000000U

/* Discovery record kinds. */
#define TLSX_DISC_EXEC 1
#define TLSX_DISC_MMAP 2

/* x86-64 system call numbers. */
#define TLSX_NR_WRITE 1
#define TLSX_NR_MMAP 9
#define TLSX_NR_WRITEV 20
#define TLSX_NR_SENDTO 44
#define TLSX_NR_SENDMSG 46

/* Call keys: a C library call is its thread's, a Go call its goroutine's. */
#define TLSX_KEY_THREAD 0
#define TLSX_KEY_GOROUTINE 1

#define TLSX_AF_INET 2
#define TLSX_AF_INET6 10
#define TLSX_SOCK_STREAM 1
#define TLSX_IPPROTO_TCP 6
#define TLSX_S_IFMT 00170000
#define TLSX_S_IFSOCK 0140000
#define TLSX_PROT_EXEC 4
#define TLSX_SIGSTOP 19
#define TLSX_SIGCONT 18
#define TLSX_PIDTYPE_PGID 2

/*
 * Kernel types, in flavours of their own ("___tls") so that they do not
 * clash with tp_vmlinux.h; CO-RE matches them to the kernel's by the name
 * before the flavour and relocates every field by name.
 */
struct pt_regs___tls {
	unsigned long r14;
	unsigned long bx;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long r8;
	unsigned long r10;
	unsigned long ip;
} __attribute__((preserve_access_index));

struct super_block___tls {
	__u32 s_dev;
} __attribute__((preserve_access_index));

struct inode___tls {
	unsigned short i_mode;
	unsigned long i_ino;
	struct super_block___tls *i_sb;
	__u32 i_generation;
	long long i_size;
	/* Linux 6.11 on; see tlsx_ctime for earlier layouts. */
	long long i_ctime_sec;
	__u32 i_ctime_nsec;
} __attribute__((preserve_access_index));

struct timespec64___tls {
	long long tv_sec;
	long tv_nsec;
} __attribute__((preserve_access_index));

/* The inode's change time, Linux 6.6 to 6.10. */
struct inode___tls_v66 {
	struct timespec64___tls __i_ctime;
} __attribute__((preserve_access_index));

/* ... and before 6.6. */
struct inode___tls_v50 {
	struct timespec64___tls i_ctime;
} __attribute__((preserve_access_index));

struct file___tls {
	struct inode___tls *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable___tls {
	unsigned int max_fds;
	struct file___tls **fd;
} __attribute__((preserve_access_index));

struct files_struct___tls {
	struct fdtable___tls *fdt;
} __attribute__((preserve_access_index));

struct ns_common___tls {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net___tls {
	struct ns_common___tls ns;
} __attribute__((preserve_access_index));

struct in6_addr___tls {
	__u8 b[16];
};

struct sock_common___tls {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct {
		struct net___tls *net;
	} skc_net;
	struct in6_addr___tls skc_v6_daddr;
	struct in6_addr___tls skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock; /* the kernel's, as the socket tracepoints pass it */
struct socket___tls;

struct sock___tls {
	struct sock_common___tls __sk_common;
	__u16 sk_type;
	__u16 sk_protocol;
	struct socket___tls *sk_socket;
} __attribute__((preserve_access_index));

struct socket___tls {
	short type;
	struct sock___tls *sk;
	struct file___tls *file;
} __attribute__((preserve_access_index));

struct pid___tls;

struct signal_struct___tls {
	struct pid___tls *pids[4];
} __attribute__((preserve_access_index));

struct task_struct___tls {
	struct files_struct___tls *files;
	struct signal_struct___tls *signal;
	struct task_struct___tls *real_parent;
	int tgid;
} __attribute__((preserve_access_index));

struct linux_binprm___tls {
	struct file___tls *file;
} __attribute__((preserve_access_index));

/* The socket of a connection, as a record carries it. */
struct tlsx_addr {
	__u64 cookie; /* the socket's cookie: never reused while the system runs */
	__u32 netns;  /* network namespace inode number */
	__u16 family; /* AF_INET or AF_INET6; 0 when unknown */
	__u16 sport;  /* local port, host order */
	__u16 dport;  /* peer port, host order */
	__u16 pad;
	__u8 saddr[16]; /* local address (4 bytes used for AF_INET) */
	__u8 daddr[16]; /* peer address */
	__u32 pad2;
};

struct tls_rec {
	__u64 ktime;
	__u64 cgroup_id;
	__u64 conn;   /* the library's connection: SSL *, gnutls_session_t, *tls.Conn */
	__u64 len;    /* DATA: the call's real length; HELLO: bytes written */
	__u32 type;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 lib;      /* HELLO: the library whose call wrote it, else wire */
	__u32 fn;
	__u32 flags;
	__u32 data_len; /* bytes following the header */
	__u32 pad;
	struct tlsx_addr addr;
	char comm[16];
};

struct tlsx_buf {
	struct tls_rec rec;
	__u8 data[TLSX_DATA_CAP];
	/* Set while a program on this CPU builds a record (see tlsx_get). */
	__u32 busy;
};

/* Scratch buffers per CPU: uprobe programs run preemptible, so a program
 * building a record may be preempted by another task's on the same CPU; a
 * second buffer serves that one (TLSX_NEST; a third, rarer still, finds
 * both busy and counts its record as lost: it happened once in three
 * whole-system bench runs with one buffer). Go sets max_entries to
 * TLSX_NEST per possible CPU; an ARRAY indexed by CPU because a
 * PERCPU_ARRAY value is capped at 32 KiB. */
#define TLSX_NEST 2
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tlsx_buf);
} tlsx_scratch SEC(".maps");

/* A library call in progress: what its return needs, keyed by thread (C
 * libraries) or by goroutine (Go, whose goroutines change threads). */
struct tlsx_call_key {
	__u32 tgid;
	__u32 kind; /* TLSX_KEY_* */
	__u64 id;   /* tid, or the goroutine's g */
};

struct tlsx_call {
	__u64 ktime; /* when the call began: the time of a write's record */
	__u64 conn;
	__u64 buf;
	__u64 arg; /* SSL_*_ex: the size_t * the count is returned through */
	__u32 fn;
	__u32 has_sock;
	struct tlsx_addr sock; /* the first TCP socket the call sent or received on */
	__u32 reported;        /* a Go write already reported (tlsx_sock_io) */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tlsx_call_key);
	__type(value, struct tlsx_call);
} tlsx_calls SEC(".maps");

/* The socket each library connection uses, learnt from the sends and
 * receives made inside library calls on it: for a call that makes none
 * (a read served from the library's buffer). Keyed by process and the
 * library's connection (SSL *, gnutls_session_t, *tls.Conn). */
struct tlsx_conn_key {
	__u32 tgid;
	__u32 pad;
	__u64 conn;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tlsx_conn_key);
	__type(value, struct tlsx_addr);
} tlsx_bind SEC(".maps");

/* A ClientHello a thread is writing, noted at the system call's entry and
 * reported when the write reaches its socket (which gives the cookie). */
struct tlsx_hello {
	__u64 file; /* the descriptor's struct file, to check the socket's */
	__u64 buf;  /* the record, in user memory */
	__u64 count;
	__u64 conn; /* the library connection whose call wrote it, or 0 */
	__u32 fn;
	__u32 lib;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct tlsx_hello);
} tlsx_hellos SEC(".maps");

/* Files user space has inspected (and attached to when they hold TLS
 * code): execs and mmaps of these are not reported. A file is known by
 * device and inode, and by what changes when a deleted file's inode number
 * is given to a new one: the inode's generation (random on ext4, xfs and
 * tmpfs), change time and size. User space computes the same key with
 * statx and FS_IOC_GETVERSION (tlstrace's statKey). */
struct tlsx_file_key {
	__u64 ino;
	__u32 dev;
	__u32 gen;
	__u64 ctime; /* ns */
	__u64 size;
};

/* Only saves work: a file evicted is reported and inspected again, and user
 * space remembers as many without TLS code (maxUnprobed) and every one it
 * attached to. An LRU hash is allocated whole when created: 16,384 entries
 * took 3 ms of each start. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tlsx_file_key);
	__type(value, __u8);
} tlsx_known SEC(".maps");

/* Binaries to inspect, read by one goroutine of the process (not per
 * session, and without batching, so that a held process waits little). */
struct tls_disc {
	struct tlsx_file_key file;
	__u32 pid;
	__u32 kind;
	__u32 held;
	__s32 fd;
	__u32 tid;
	__u32 pad;
	__u64 stamp; /* with pid and tid, the hold's key in tlsx_held */
};

/*
 * Holding (see tlsx_discover). tlsx_hold_on[0] is set by user space once a
 * watchdog that outlives the tracer is running (backends/internal/watchdog):
 * no process is stopped without it. Every process stopped is recorded in
 * tlsx_held, in the same program run, before the stop is sent, and removed
 * by user space once it has continued it. The watchdog keeps both maps: if
 * the tracer dies it clears tlsx_hold_on, waits for an RCU grace period
 * (every program that saw it set has then finished) and continues every
 * process tlsx_held names.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tlsx_hold_on SEC(".maps");

struct tlsx_hold_key {
	__u32 pid; /* first: the watchdog reads only this */
	__u32 tid;
	__u64 stamp;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tlsx_hold_key);
	__type(value, __u8);
} tlsx_held SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} tlsx_disc SEC(".maps");

static __always_inline __u32 tlsx_lib(__u32 fn)
{
	if (fn < 16)
		return TLSX_LIB_OPENSSL;
	if (fn < 32)
		return TLSX_LIB_GNUTLS;
	if (fn < 48)
		return TLSX_LIB_GO;
	return TLSX_LIB_WIRE;
}

/*
 * tlsx_get returns a free scratch buffer of this CPU, marked busy, or NULL.
 * The programs run with migration disabled, but on a preemptible kernel
 * another task may run one of them on this CPU before the first is done:
 * it takes the CPU's next buffer, and when all are busy counts its record
 * as lost rather than overwrite a record being built.
 */
static __always_inline struct tlsx_buf *tlsx_get(void)
{
	__u32 slot = bpf_get_smp_processor_id() * TLSX_NEST;
	struct tlsx_buf *b;

	for (int i = 0; i < TLSX_NEST; i++, slot++) {
		b = bpf_map_lookup_elem(&tlsx_scratch, &slot);
		if (!b)
			return NULL;
		if (!__sync_lock_test_and_set(&b->busy, 1))
			return b;
	}
	return NULL;
}

static __always_inline void tlsx_put(struct tlsx_buf *b)
{
	/* clang 14 has no BPF atomic store; a plain store after a compiler
	 * barrier is enough on one CPU. */
	barrier();
	b->busy = 0;
}

static __always_inline void tlsx_header(struct tls_rec *r, __u32 type, __u32 fn)
{
	r->ktime = bpf_ktime_get_ns();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->conn = 0;
	r->len = 0;
	r->type = type;
	tp_current_ids(&r->pid, &r->tid, &r->ppid);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->lib = tlsx_lib(fn);
	r->fn = fn;
	r->flags = 0;
	r->data_len = 0;
	r->pad = 0;
	__builtin_memset(&r->addr, 0, sizeof(r->addr));
	bpf_get_current_comm(r->comm, sizeof(r->comm));
}

/* tlsx_fd_file returns the current task's file for descriptor fd, or NULL. */
static __always_inline struct file___tls *tlsx_fd_file(int fd)
{
	struct task_struct___tls *t = (void *)bpf_get_current_task();
	struct fdtable___tls *fdt;
	struct file___tls **fds;
	struct file___tls *f = NULL;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* tlsx_sock_addr fills a with the cookie and addresses of sk, an IPv4 or
 * IPv6 TCP socket: 0, or -1 for any other socket. sk is the tracepoint's
 * (a trusted pointer: bpf_get_socket_cookie needs one). */
static __always_inline int tlsx_sock_addr(struct sock *sk, struct tlsx_addr *a)
{
	struct sock___tls *s = (void *)sk;
	unsigned short family;

	family = BPF_CORE_READ(s, __sk_common.skc_family);
	if (family != TLSX_AF_INET && family != TLSX_AF_INET6)
		return -1;
	if (BPF_CORE_READ(s, sk_type) != TLSX_SOCK_STREAM || BPF_CORE_READ(s, sk_protocol) != TLSX_IPPROTO_TCP)
		return -1;
	__builtin_memset(a, 0, sizeof(*a));
	if (family == TLSX_AF_INET) {
		__be32 src = BPF_CORE_READ(s, __sk_common.skc_rcv_saddr);
		__be32 dst = BPF_CORE_READ(s, __sk_common.skc_daddr);

		__builtin_memcpy(a->saddr, &src, 4);
		__builtin_memcpy(a->daddr, &dst, 4);
	} else {
		BPF_CORE_READ_INTO((struct in6_addr___tls *)a->saddr, s, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr___tls *)a->daddr, s, __sk_common.skc_v6_daddr);
	}
	a->cookie = bpf_get_socket_cookie(sk);
	a->family = family;
	a->sport = BPF_CORE_READ(s, __sk_common.skc_num);
	a->dport = bpf_ntohs(BPF_CORE_READ(s, __sk_common.skc_dport));
	a->netns = BPF_CORE_READ(s, __sk_common.skc_net.net, ns.inum);
	return 0;
}

/* Largest ClientHello record copied (a TLS record is at most 16 KiB plus
 * its header); not cut to the sessions' data limits, which are about
 * plaintext. */
#define TLSX_HELLO_CAP (16384 + 5)

struct tlsx_emit_ctx {
	struct tp_scope_cfg *cfg;
	struct tlsx_buf *b;
	__u64 mask;
	__u64 got;  /* bytes of data in the buffer */
	__u64 want; /* the largest limit among the sessions */
	__u32 limited;
};

static long tlsx_want_cb(__u32 i, void *arg)
{
	struct tlsx_emit_ctx *c = arg;
	__u64 limit;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	limit = c->cfg->param[i] & TLSX_PARAM_LIMIT;
	if (((c->mask >> i) & 1) && limit > c->want)
		c->want = limit;
	return 0;
}

static long tlsx_emit_cb(__u32 i, void *arg)
{
	struct tlsx_emit_ctx *c = arg;
	__u64 n;

	if (i >= TP_MAX_SLOTS || !(c->mask >> i))
		return 1;
	if (!((c->mask >> i) & 1))
		return 0;
	n = c->got;
	if (c->limited && n > (c->cfg->param[i] & TLSX_PARAM_LIMIT))
		n = c->cfg->param[i] & TLSX_PARAM_LIMIT;
	barrier_var(n);
	if (n > TLSX_DATA_CAP)
		n = TLSX_DATA_CAP;
	c->b->rec.data_len = n;
	tp_output(i, c->b, sizeof(c->b->rec) + n);
	return 0;
}

/*
 * tlsx_emit copies len bytes at user address buf after the header already
 * in b, then outputs the record to every session in mask. With limited set
 * it reads at most what the most generous session wants and cuts each
 * session's copy to its own limit.
 */
static __always_inline void tlsx_emit(struct tp_scope_cfg *cfg, struct tlsx_buf *b, __u64 mask,
				      const void *buf, __u64 len, __u32 limited)
{
	struct tlsx_emit_ctx c = { .cfg = cfg, .b = b, .mask = mask, .limited = limited };
	__u64 n;

	if (limited)
		bpf_loop(TP_MAX_SLOTS, tlsx_want_cb, &c, 0);
	else
		c.want = TLSX_HELLO_CAP;
	n = len;
	if (n > c.want)
		n = c.want;
	barrier_var(n);
	if (n > TLSX_DATA_CAP)
		n = TLSX_DATA_CAP;
	if (n && bpf_probe_read_user(b->data, n, buf)) {
		b->rec.flags |= TLSX_F_FAULT;
		n = 0;
	}
	c.got = n;
	bpf_loop(TP_MAX_SLOTS, tlsx_emit_cb, &c, 0);
}

static __always_inline struct tlsx_call_key tlsx_thread_key(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tlsx_call_key k = { .tgid = id >> 32, .kind = TLSX_KEY_THREAD, .id = (__u32)id };

	return k;
}

/* The key of a Go call: the goroutine, which R14 holds in Go's register
 * ABI, in the function and at the system calls it makes. */
static __always_inline struct tlsx_call_key tlsx_goroutine_key(__u64 g)
{
	struct tlsx_call_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .kind = TLSX_KEY_GOROUTINE, .id = g };

	return k;
}

/* tlsx_set_addr gives the record in b the socket of the call, else the
 * last one its connection used. */
static __always_inline void tlsx_set_addr(struct tlsx_buf *b, struct tlsx_call *call)
{
	struct tlsx_conn_key ck = { .tgid = bpf_get_current_pid_tgid() >> 32, .conn = call->conn };
	struct tlsx_addr *addr;

	if (call->has_sock) {
		b->rec.addr = call->sock;
		b->rec.flags |= TLSX_F_ADDR | TLSX_F_CALL_SOCK;
		return;
	}
	addr = bpf_map_lookup_elem(&tlsx_bind, &ck);
	if (addr) {
		b->rec.addr = *addr;
		b->rec.flags |= TLSX_F_ADDR;
	}
}

/* tlsx_small emits a record with a short payload read from user memory:
 * a server name (SNI) or nothing (FREE). */
static __always_inline void tlsx_small(struct tp_scope_cfg *cfg, __u64 mask, __u32 type, __u32 fn,
				       __u64 conn, const void *name, __u64 len, int is_str)
{
	struct tlsx_buf *b = tlsx_get();
	long n = 0;

	if (!b) {
		tp_lost_mask(mask);
		return;
	}
	tlsx_header(&b->rec, type, fn);
	b->rec.conn = conn;
	if (name) {
		if (is_str) {
			n = bpf_probe_read_user_str(b->data, TLSX_NAME_MAX, name);
			n = n > 0 ? n - 1 : 0;
		} else {
			if (len > TLSX_NAME_MAX)
				len = TLSX_NAME_MAX;
			barrier_var(len);
			if (len > TLSX_NAME_MAX)
				len = 0;
			if (len && bpf_probe_read_user(b->data, len, name))
				len = 0;
			n = len;
		}
	}
	n &= TLSX_NAME_MAX * 2 - 1;
	b->rec.len = n;
	b->rec.data_len = n;
	tp_output_mask(mask, b, sizeof(b->rec) + n);
	tlsx_put(b);
}

/*
 * Function entries. For reads and writes only what the return needs is
 * saved; the record is made at the return, with the bytes the call really
 * transferred. A handshake call is saved too: a socket system call the
 * thread makes while it runs tells which socket the connection uses.
 */
SEC("uprobe.multi")
int tlsx_enter(struct pt_regs *ctx)
{
	struct pt_regs___tls *r = (void *)ctx;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 fn = cookie & 0xff;
	struct tp_scope_cfg *cfg;
	struct tlsx_call_key key;
	struct tlsx_call call = {};
	struct tlsx_conn_key ck = {};
	__u64 mask;

	cfg = tp_get_cfg();
	if (!cfg)
		return 0;
	mask = tp_scope_mask(cfg, TP_KIND_TLS);

	switch (fn) {
	case TLSX_FN_SSL_FREE:
	case TLSX_FN_GNUTLS_DEINIT:
		/* The connection's memory may be reused by another one. */
		ck.tgid = bpf_get_current_pid_tgid() >> 32;
		ck.conn = r->di;
		bpf_map_delete_elem(&tlsx_bind, &ck);
		if (mask)
			tlsx_small(cfg, mask, TLSX_REC_FREE, fn, ck.conn, NULL, 0, 0);
		return 0;
	}
	if (!mask)
		return 0;

	switch (fn) {
	case TLSX_FN_SSL_CTRL:
		/* int: the upper half of the register is not part of it. */
		if ((int)r->si != TLSX_SSL_CTRL_SET_TLSEXT_HOSTNAME)
			return 0;
		tlsx_small(cfg, mask, TLSX_REC_SNI, fn, r->di,
			   (void *)r->cx, 0, 1);
		return 0;
	case TLSX_FN_GNUTLS_SNI:
		if ((int)r->si != TLSX_GNUTLS_NAME_DNS)
			return 0;
		tlsx_small(cfg, mask, TLSX_REC_SNI, fn, r->di,
			   (void *)r->dx, r->cx, 0);
		return 0;
	case TLSX_FN_SSL_WRITE:
	case TLSX_FN_SSL_WRITE_EX:
	case TLSX_FN_SSL_READ:
	case TLSX_FN_SSL_READ_EX:
	case TLSX_FN_GNUTLS_SEND:
	case TLSX_FN_GNUTLS_RECV:
	case TLSX_FN_SSL_HANDSHAKE:
	case TLSX_FN_GNUTLS_HANDSHAKE:
		key = tlsx_thread_key();
		call.ktime = bpf_ktime_get_ns();
		call.fn = fn;
		call.conn = r->di;
		call.buf = r->si;
		call.arg = r->cx; /* SSL_*_ex: size_t *written / *readbytes */
		bpf_map_update_elem(&tlsx_calls, &key, &call, BPF_ANY);
		return 0;
	case TLSX_FN_GO_WRITE:
	case TLSX_FN_GO_READ:
		/* Register ABI: c in AX, b's pointer and length in BX and CX;
		 * R14 holds the goroutine (g), which is the key since the
		 * goroutine may continue on another thread. */
		key = tlsx_goroutine_key(r->r14);
		call.ktime = bpf_ktime_get_ns();
		call.fn = fn;
		call.conn = r->ax;
		call.buf = r->bx;
		call.arg = r->cx;
		bpf_map_update_elem(&tlsx_calls, &key, &call, BPF_ANY);
		return 0;
	case TLSX_FN_GO_WRITE_RET:
	case TLSX_FN_GO_READ_RET:
		break;
	default:
		return 0;
	}

	/* A RET instruction of (*Conn).Write or (*Conn).Read: AX holds n. */
	{
		struct tlsx_call *c;
		struct tlsx_buf *b;
		__s64 n = r->ax;

		key = tlsx_goroutine_key(r->r14);
		c = bpf_map_lookup_elem(&tlsx_calls, &key);
		if (!c)
			return 0;
		call = *c;
		bpf_map_delete_elem(&tlsx_calls, &key);
		if (n <= 0 || call.reported)
			return 0;
		b = tlsx_get();
		if (!b) {
			tp_lost_mask(mask);
			return 0;
		}
		tlsx_header(&b->rec, TLSX_REC_DATA, call.fn);
		b->rec.conn = call.conn;
		b->rec.len = n;
		if (call.fn == TLSX_FN_GO_READ)
			b->rec.flags |= TLSX_F_RX;
		else
			b->rec.ktime = call.ktime;
		tlsx_set_addr(b, &call);
		tlsx_emit(cfg, b, mask, (void *)call.buf, n, 1);
		tlsx_put(b);
	}
	return 0;
}

/* Returns of C library functions (uretprobes). */
SEC("uprobe.multi")
int tlsx_exit(struct pt_regs *ctx)
{
	struct pt_regs___tls *r = (void *)ctx;
	struct tlsx_call_key key = tlsx_thread_key();
	struct tp_scope_cfg *cfg;
	struct tlsx_call *c, call;
	struct tlsx_buf *b;
	__s64 ret = r->ax;
	__u64 n = 0, mask;

	c = bpf_map_lookup_elem(&tlsx_calls, &key);
	if (!c)
		return 0;
	call = *c;
	bpf_map_delete_elem(&tlsx_calls, &key);

	switch (call.fn) {
	case TLSX_FN_SSL_WRITE:
	case TLSX_FN_SSL_READ:
		/* int: the upper half of RAX is not part of the result. */
		if ((int)ret <= 0)
			return 0;
		n = (int)ret;
		break;
	case TLSX_FN_GNUTLS_SEND:
	case TLSX_FN_GNUTLS_RECV:
		/* ssize_t */
		if (ret <= 0)
			return 0;
		n = ret;
		break;
	case TLSX_FN_SSL_WRITE_EX:
	case TLSX_FN_SSL_READ_EX:
		/* 1 on success, the count through the size_t pointer. */
		if ((int)ret != 1 || !call.arg || bpf_probe_read_user(&n, sizeof(n), (void *)call.arg) || !n)
			return 0;
		break;
	default:
		return 0;
	}

	cfg = tp_get_cfg();
	if (!cfg)
		return 0;
	mask = tp_scope_mask(cfg, TP_KIND_TLS);
	if (!mask)
		return 0;
	b = tlsx_get();
	if (!b) {
		tp_lost_mask(mask);
		return 0;
	}
	tlsx_header(&b->rec, TLSX_REC_DATA, call.fn);
	b->rec.conn = call.conn;
	b->rec.len = n;
	if (call.fn == TLSX_FN_SSL_READ || call.fn == TLSX_FN_SSL_READ_EX || call.fn == TLSX_FN_GNUTLS_RECV)
		b->rec.flags |= TLSX_F_RX;
	else
		b->rec.ktime = call.ktime; /* a write is dated when the data was handed over */
	tlsx_set_addr(b, &call);
	tlsx_emit(cfg, b, mask, (void *)call.buf, n, 1);
	tlsx_put(b);
	return 0;
}

/* tlsx_want_hold reports whether any session in mask asked to hold new
 * binaries (the top bit of its parameter). */
static __always_inline int tlsx_want_hold(struct tp_scope_cfg *cfg, __u64 mask)
{
#pragma clang loop unroll(disable)
	for (int i = 0; i < TP_MAX_SLOTS; i++) {
		if (!(mask >> i))
			break;
		if (((mask >> i) & 1) && (cfg->param[i] & TLSX_PARAM_HOLD))
			return 1;
	}
	return 0;
}

/*
 * A job-control shell runs each job in a process group of its own and
 * would report a stopped job to its user; only processes in their parent's
 * process group (started by a program, not by an interactive shell) are
 * held.
 */
static __always_inline int tlsx_may_hold(void)
{
	struct task_struct___tls *t = (void *)bpf_get_current_task();

	return BPF_CORE_READ(t, signal, pids[TLSX_PIDTYPE_PGID]) ==
	       BPF_CORE_READ(t, real_parent, signal, pids[TLSX_PIDTYPE_PGID]);
}

/* tlsx_hold_armed reports whether a watchdog would continue what is held. */
static __always_inline int tlsx_hold_armed(void)
{
	__u32 zero = 0, *on = bpf_map_lookup_elem(&tlsx_hold_on, &zero);

	return on && *on;
}

/* Multigrain timestamps (Linux 6.13) keep a flag in the top bits of the
 * change time's nanoseconds. */
#define TLSX_NSEC_MASK ((1U << 30) - 1)

/* tlsx_ctime returns an inode's change time in nanoseconds. */
static __always_inline __u64 tlsx_ctime(struct inode___tls *inode)
{
	long long sec;
	__u64 nsec;

	if (bpf_core_field_exists(inode->i_ctime_sec)) {
		sec = BPF_CORE_READ(inode, i_ctime_sec);
		nsec = BPF_CORE_READ(inode, i_ctime_nsec);
	} else if (bpf_core_field_exists(((struct inode___tls_v66 *)inode)->__i_ctime)) {
		struct inode___tls_v66 *i = (void *)inode;

		sec = BPF_CORE_READ(i, __i_ctime.tv_sec);
		nsec = BPF_CORE_READ(i, __i_ctime.tv_nsec);
	} else {
		struct inode___tls_v50 *i = (void *)inode;

		sec = BPF_CORE_READ(i, i_ctime.tv_sec);
		nsec = BPF_CORE_READ(i, i_ctime.tv_nsec);
	}
	return (__u64)sec * 1000000000ULL + (nsec & TLSX_NSEC_MASK);
}

/* tlsx_file_key fills the key of tlsx_known for an inode. */
static __always_inline void tlsx_file_key(struct inode___tls *inode, struct tlsx_file_key *fk)
{
	fk->ino = BPF_CORE_READ(inode, i_ino);
	fk->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	fk->gen = BPF_CORE_READ(inode, i_generation);
	fk->size = BPF_CORE_READ(inode, i_size);
	fk->ctime = tlsx_ctime(inode);
}

/*
 * tlsx_discover reports a file not inspected yet; when a session wants it,
 * it stops the process (SIGSTOP, delivered before it returns to user
 * space) until user space has inspected the file, attached to it and sent
 * SIGCONT.
 */
static __always_inline void tlsx_discover(struct tp_scope_cfg *cfg, __u64 mask, struct inode___tls *inode,
					  __u32 kind, int fd)
{
	struct tlsx_file_key fk = {};
	struct tlsx_hold_key hk = {};
	struct tls_disc d = {};
	__u32 ppid;
	__u8 one = 1;

	if (!inode)
		return;
	tlsx_file_key(inode, &fk);
	if (bpf_map_lookup_elem(&tlsx_known, &fk))
		return;
	d.file = fk;
	/* The pids tracep's pid namespace sees: it stops and continues them. */
	tp_current_ids(&d.pid, &d.tid, &ppid);
	d.kind = kind;
	d.fd = fd;
	/* A process tracep's namespace does not see (pid 0) is never held:
	 * nothing could name it to continue it. */
	if (d.pid && tlsx_want_hold(cfg, mask) && tlsx_may_hold() && tlsx_hold_armed()) {
		hk.pid = d.pid;
		hk.tid = d.tid;
		hk.stamp = bpf_ktime_get_ns();
		/* Recorded first, for the watchdog; a full map holds nothing. */
		d.held = !bpf_map_update_elem(&tlsx_held, &hk, &one, BPF_NOEXIST);
		d.stamp = hk.stamp;
	}
	/*
	 * The stop is sent before the record is visible: user space may read
	 * the record and send SIGCONT at once (a file it knows by now), and a
	 * SIGSTOP arriving after that SIGCONT would stop the process for good.
	 * A SIGCONT sent here, before the process returns to user space,
	 * discards the pending SIGSTOP when the record cannot be reported.
	 */
	if (d.held)
		bpf_send_signal(TLSX_SIGSTOP);
	if (bpf_ringbuf_output(&tlsx_disc, &d, sizeof(d), 0) && d.held) {
		bpf_send_signal(TLSX_SIGCONT);
		bpf_map_delete_elem(&tlsx_held, &hk);
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tlsx_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct tp_scope_cfg *cfg = tp_get_cfg();
	struct linux_binprm___tls *bp = (void *)bprm;
	__u64 mask;

	if (!cfg)
		return 0;
	mask = tp_scope_mask(cfg, TP_KIND_TLS);
	if (!mask)
		return 0;
	tlsx_discover(cfg, mask, BPF_CORE_READ(bp, file, f_inode), TLSX_DISC_EXEC, -1);
	return 0;
}

/* Reads a struct iovec's base and length. */
static __always_inline int tlsx_iov0(__u64 iov, __u64 *base, __u64 *len)
{
	__u64 v[2];

	if (!iov || bpf_probe_read_user(v, sizeof(v), (void *)iov))
		return -1;
	*base = v[0];
	*len = v[1];
	return 0;
}

/* tlsx_current_call returns the library call the current thread is in:
 * a C library call of the thread, or a Go call of the goroutine whose g
 * is in the user registers' R14 (Go keeps it there through its system
 * calls), or NULL. */
static __always_inline struct tlsx_call *tlsx_current_call(__u64 r14)
{
	struct tlsx_call_key key = tlsx_thread_key();
	struct tlsx_call *call = bpf_map_lookup_elem(&tlsx_calls, &key);

	if (call)
		return call;
	key = tlsx_goroutine_key(r14);
	return bpf_map_lookup_elem(&tlsx_calls, &key);
}

/*
 * System call entries: ClientHellos being written, and executable mmaps of
 * new files. Every system call of every process passes here while a TLS
 * session is open; all but the few below return after one comparison.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(tlsx_sys_enter, struct pt_regs *regs, long id)
{
	struct pt_regs___tls *r = (void *)regs;
	struct tp_scope_cfg *cfg;
	struct tlsx_hello h = {};
	struct tlsx_call *call;
	__u64 buf = 0, count = 0, mask;
	__u32 tid;
	__u8 hdr[6];

	switch (id) {
	case TLSX_NR_WRITE:
		h.fn = TLSX_FN_WIRE_WRITE;
		break;
	case TLSX_NR_SENDTO:
		h.fn = TLSX_FN_WIRE_SENDTO;
		break;
	case TLSX_NR_WRITEV:
		h.fn = TLSX_FN_WIRE_WRITEV;
		break;
	case TLSX_NR_SENDMSG:
		h.fn = TLSX_FN_WIRE_SENDMSG;
		break;
	case TLSX_NR_MMAP: {
		__u64 prot = TP_RD(r, dx);
		int mfd = TP_RD(r, r8);
		struct file___tls *f;

		if (!(prot & TLSX_PROT_EXEC) || mfd < 0)
			return 0;
		if (bpf_get_current_task_btf()->thread_info.status & TP_TS_COMPAT)
			return 0;
		cfg = tp_get_cfg();
		if (!cfg)
			return 0;
		mask = tp_scope_mask(cfg, TP_KIND_TLS);
		if (!mask)
			return 0;
		f = tlsx_fd_file(mfd);
		if (f)
			tlsx_discover(cfg, mask, BPF_CORE_READ(f, f_inode), TLSX_DISC_MMAP, mfd);
		return 0;
	}
	default:
		return 0;
	}
	if (bpf_get_current_task_btf()->thread_info.status & TP_TS_COMPAT)
		return 0; /* 32-bit system call numbers differ; not traced */

	switch (h.fn) {
	case TLSX_FN_WIRE_WRITE:
	case TLSX_FN_WIRE_SENDTO:
		buf = TP_RD(r, si);
		count = TP_RD(r, dx);
		break;
	case TLSX_FN_WIRE_WRITEV:
		if (TP_RD(r, dx) < 1 || tlsx_iov0(TP_RD(r, si), &buf, &count))
			return 0;
		break;
	case TLSX_FN_WIRE_SENDMSG: {
		__u64 msg = TP_RD(r, si), m[2];

		/* struct user_msghdr: msg_name, msg_namelen, msg_iov, msg_iovlen */
		if (!msg || bpf_probe_read_user(m, sizeof(m), (void *)(msg + 16)) || m[1] < 1 ||
		    tlsx_iov0(m[0], &buf, &count))
			return 0;
		break;
	}
	}

	/* A TLS handshake record (22), version 3.x, holding a ClientHello (1). */
	if (count < sizeof(hdr) || bpf_probe_read_user(hdr, sizeof(hdr), (void *)buf))
		return 0;
	if (hdr[0] != 22 || hdr[1] != 3 || hdr[2] > 4 || hdr[5] != 1)
		return 0;
	cfg = tp_get_cfg();
	if (!cfg)
		return 0;
	if (!tp_scope_mask(cfg, TP_KIND_TLS))
		return 0;
	/* The record: its 5-byte header and the length it announces. */
	h.count = ((__u64)hdr[3] << 8 | hdr[4]) + 5;
	if (h.count > count)
		h.count = count;
	h.buf = buf;
	h.file = (__u64)tlsx_fd_file(TP_RD(r, di));
	h.lib = TLSX_LIB_WIRE;
	call = tlsx_current_call(TP_RD(r, r14));
	if (call) {
		/* Written by a library call: lib and conn name its connection. */
		h.conn = call->conn;
		h.lib = tlsx_lib(call->fn);
	}
	tid = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&tlsx_hellos, &tid, &h, BPF_ANY);
	return 0;
}

/*
 * tlsx_report_go_write reports a Go (*Conn).Write at its first send, with
 * the whole buffer (Write sends all of it or fails): a goroutine
 * descheduled after its last send may never reach its RET before the
 * process exits, and bytes that went out must not go unreported.
 */
static __always_inline void tlsx_report_go_write(struct tlsx_call *call)
{
	struct tp_scope_cfg *cfg = tp_get_cfg();
	struct tlsx_buf *b;
	__u64 mask;

	if (!cfg)
		return;
	mask = tp_scope_mask(cfg, TP_KIND_TLS);
	if (!mask)
		return;
	call->reported = 1;
	if (!call->arg)
		return;
	b = tlsx_get();
	if (!b) {
		tp_lost_mask(mask);
		return;
	}
	tlsx_header(&b->rec, TLSX_REC_DATA, call->fn);
	b->rec.conn = call->conn;
	b->rec.len = call->arg;
	b->rec.ktime = call->ktime;
	tlsx_set_addr(b, call);
	tlsx_emit(cfg, b, mask, (void *)call->buf, call->arg, 1);
	tlsx_put(b);
}

/*
 * A send or receive on a socket, in the thread that makes it. For a TCP
 * socket: the ClientHello the thread noted at the system call's entry goes
 * out with the socket's cookie and addresses, and a library call the
 * thread (or goroutine) is in learns its connection's socket.
 */
static __always_inline int tlsx_sock_io(struct sock *sk, int send)
{
	struct sock___tls *s = (void *)sk;
	struct tp_scope_cfg *cfg;
	struct tlsx_hello *hp, h;
	struct tlsx_call *call;
	struct tlsx_addr a;
	struct tlsx_buf *b;
	struct pt_regs___tls *regs;
	__u64 mask, r14;
	__u32 tid;

	if (!sk || tlsx_sock_addr(sk, &a))
		return 0;
	if (send) {
		tid = bpf_get_current_pid_tgid();
		hp = bpf_map_lookup_elem(&tlsx_hellos, &tid);
		if (hp) {
			h = *hp;
			bpf_map_delete_elem(&tlsx_hellos, &tid);
			cfg = tp_get_cfg();
			if (cfg && h.file == (__u64)BPF_CORE_READ(s, sk_socket, file) &&
			    (mask = tp_scope_mask(cfg, TP_KIND_TLS))) {
				b = tlsx_get();
				if (!b) {
					tp_lost_mask(mask);
				} else {
					tlsx_header(&b->rec, TLSX_REC_HELLO, h.fn);
					b->rec.lib = h.lib;
					b->rec.conn = h.conn;
					b->rec.addr = a;
					b->rec.flags |= TLSX_F_ADDR;
					b->rec.len = h.count;
					tlsx_emit(cfg, b, mask, (void *)h.buf, h.count, 0);
					tlsx_put(b);
				}
			}
		}
	}
	regs = (void *)bpf_task_pt_regs(bpf_get_current_task_btf());
	r14 = BPF_CORE_READ(regs, r14);
	call = tlsx_current_call(r14);
	if (!call || call->has_sock)
		return 0;
	call->sock = a;
	call->has_sock = 1;
	if (call->conn) {
		struct tlsx_conn_key ck = { .tgid = bpf_get_current_pid_tgid() >> 32, .conn = call->conn };

		bpf_map_update_elem(&tlsx_bind, &ck, &a, BPF_ANY);
	}
	if (send && call->fn == TLSX_FN_GO_WRITE)
		tlsx_report_go_write(call);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tlsx_send, struct sock *sk, int ret, int flags)
{
	return tlsx_sock_io(sk, 1);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tlsx_recv, struct sock *sk, int ret, int flags)
{
	return tlsx_sock_io(sk, 0);
}
