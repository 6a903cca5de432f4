/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dns_types.h - the UAPI and packet-header types the DNS programs touch,
 * beyond those of tp_vmlinux.h.
 *
 * The program context (__sk_buff) and bpf_sock are UAPI: the verifier
 * rewrites their fixed offsets, so they are declared exactly as in
 * linux/bpf.h and without relocations.
 */
#ifndef TPD_DNS_TYPES_H
#define TPD_DNS_TYPES_H

#define BPF_MAP_TYPE_SK_STORAGE 24
#define BPF_F_CLONE (1U << 9)

/* tp_vmlinux.h declares task_struct without comm; CO-RE ignores the
 * "___tpd" suffix and relocates against the kernel's task_struct. */
struct task_struct___tpd {
	char comm[16];
} __attribute__((preserve_access_index));

#define tpd_md_ptr(type, name) \
	union {                \
		type name;     \
		__u64 : 64;    \
	} __attribute__((aligned(8)))

struct bpf_sock {
	__u32 bound_dev_if;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 mark;
	__u32 priority;
	__u32 src_ip4;
	__u32 src_ip6[4];
	__u32 src_port;
	__be16 dst_port;
	__u16 : 16;
	__u32 dst_ip4;
	__u32 dst_ip6[4];
	__u32 state;
	__s32 rx_queue_mapping;
};

struct bpf_flow_keys;

struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data;
	__u32 data_end;
	__u32 napi_id;
	__u32 family;
	__u32 remote_ip4;
	__u32 local_ip4;
	__u32 remote_ip6[4];
	__u32 local_ip6[4];
	__u32 remote_port;
	__u32 local_port;
	__u32 data_meta;
	tpd_md_ptr(struct bpf_flow_keys *, flow_keys);
	__u64 tstamp;
	__u32 wire_len;
	__u32 gso_segs;
	tpd_md_ptr(struct bpf_sock *, sk);
	__u32 gso_size;
	__u8 tstamp_type;
	__u32 : 24;
	__u64 hwtstamp;
};

/* Kernel structs read by the drop program, with CO-RE relocations: the
 * "___tpd" flavour is matched to the kernel's struct by name. */
struct sock___tpd {
	void *sk_socket; /* NULL once the owner closed it (orphaned) */
} __attribute__((preserve_access_index));

struct tcp_sock___tpd {
	struct sock___tpd sk; /* inet_conn.icsk_inet.sk, first member */
} __attribute__((preserve_access_index));

struct sk_buff___tpd {
	unsigned char *head;
	unsigned char *data;
	unsigned int len;
	unsigned int data_len;
	__u16 network_header;
	int skb_iif;
} __attribute__((preserve_access_index));

enum skb_drop_reason___tpd {
	SKB_DROP_REASON_NO_SOCKET___tpd = 3,
	SKB_DROP_REASON_TCP_ABORT_ON_DATA___tpd = 31,
	SKB_DROP_REASON_TCP_CLOSE___tpd = 47,
};

/* Packet headers, as on the wire. */

struct tpd_iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct tpd_ipv6hdr {
	__be32 ver_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct tpd_tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; /* data offset in the high nibble */
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg_ptr;
};

#define TPD_TCP_FIN 0x01
#define TPD_TCP_SYN 0x02
#define TPD_TCP_RST 0x04
#define TPD_TCP_ACK 0x10

#define TPD_IP_MF 0x2000
#define TPD_IP_OFFSET 0x1fff

#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

#endif /* TPD_DNS_TYPES_H */
