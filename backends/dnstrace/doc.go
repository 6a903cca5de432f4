// Package dnstrace reports the DNS queries of a scope and their responses as
// tracep.DNS events: one event per query, with its response (answers,
// response code, TC bit, latency) or, when none came, as unanswered.
//
// Start traces a scope (the whole system, a cgroup v2 subtree, a pid tree)
// and needs Linux and root. The rest is pure and portable: a DNS
// wire-format parser, a reassembler for DNS over TCP, and a table that
// pairs responses with queries. None of it does I/O or reads a clock, and
// none of it panics, loops or allocates beyond a bound proportional to its
// input, whatever that input holds.
//
// # Capture
//
// Two cgroup_skb programs (egress and ingress) attached to the root of the
// cgroup v2 hierarchy see the packets of every socket of the machine, in
// every network namespace, and copy those from or to a DNS port (53 by
// default, Config.Ports) to the ring of each session that wants them: a
// UDP message (after defragmentation on the way in, before fragmentation
// on the way out, so always whole, up to its 65,507 octets over IPv4, or
// cut at Config.SnapLen when one is set, and then flagged) or a TCP
// segment (up to 64 KiB, which holds the largest message, 65,535 octets
// and its length prefix). Other traffic costs three header loads and a
// bitmap test per packet in the kernel and nothing in user space: a tracer
// process spent 4-14 ms of CPU for 1,200 lookups made while another
// process flooded 50,000 UDP datagrams on the same loopback
// (BenchmarkLookupsUnderFlood).
//
// A response can reach the host after its client closed the socket: glibc,
// when one of its parallel A and AAAA answers is truncated, closes its UDP
// socket and asks both again over TCP, and the other UDP answer arrives to
// no socket; a client may give up on a TCP query and close. The ingress
// program never sees the first, so a tp_btf/kfree_skb program copies the
// received packets the kernel drops for want of a socket (or for a socket
// in the CLOSE state) on a DNS port; the second passes ingress on a socket
// its owner closed (orphaned), which the program tells from the socket. Both
// are marked undelivered: such a packet has no owner, goes to every DNS
// session on the port and only answers a query a session has pending.
// A response dropped after the ingress filter for another reason (a full
// socket buffer) is still reported as delivered.
//
// # Attribution
//
// A message belongs to the process that owns the socket sending or
// receiving it, decided where that process is known to be the one
// running: in the thread that sends a UDP datagram (sendmsg, sendmmsg) or
// a TCP connect's SYN, and in the thread that binds a socket to a DNS port
// (a server; the TCP connections it accepts inherit the owner). The owner
// and the sessions whose scope it is in are kept in the socket's local
// storage, so a response, which arrives in softirq context while some
// unrelated task runs, is attributed to the process that asked, and a
// server running outside the traced scope (the test process serving the
// hermetic network's DNS) never lends its packets to the client. Ports,
// addresses and names are never looked up after the fact. A socket whose
// owner is unknown (connected before the programs were attached) is
// reported without a process, to whole-system sessions only.
//
// Loopback shows a message twice when both ends are traced: leaving the
// client's socket and arriving at the server's. The matcher reports the
// query once, attributed to the first socket that carried it (the
// client's), and the second copy of the response finds nothing to answer.
//
// What is not seen: a lookup answered from /etc/hosts, or made over a
// local socket to systemd-resolved, nscd or another caching daemon, is no
// DNS packet of the program (the daemon's own upstream queries are the
// daemon's); DNS over TLS or HTTPS; IPv6 packets with extension headers.
// No DNS event for a lookup means no DNS packet of the traced processes.
//
// # Events
//
// A TCP stream is followed per socket and direction by sequence number
// (retransmissions skipped; segments that arrive ahead of a gap, as
// records from two CPUs may, held until it fills, up to 32 segments or 256
// KiB; a gap that can no longer fill, when the stash is full or the stream
// or the trace ends, resetting the reassembler), so a TCP
// retry after a truncated UDP answer (TC set, reported as such) is
// reported whole. Queries wait Config.Timeout for their response and are
// then reported unanswered, as are those still waiting at Close.
//
// Every event says what of its response it could not give whole, never
// silently (tracep.DNS.Incomplete sums it up):
//
//   - a response is paired with its query by addresses, transport, ID and
//     question; one without a question is never paired (Stats.NoQuestion),
//     nor is a message whose question is malformed (Stats.Malformed);
//   - a response malformed after its question is reported with what was
//     decoded before the fault, and the fault in Malformed ("compression
//     pointer loop at offset 40 in authority record 1"): a fault in the
//     authority or additional section, which glibc never reads, leaves the
//     answers whole;
//   - a response cut short, by the snap length, by the end of its TCP
//     connection or by a gap in its stream, is reported as far as it goes,
//     with Cut saying how ("connection closed 40 octets into a 73-octet
//     message"); a query whose response was cut before its question is
//     reported unanswered with Cut saying why;
//   - AnswersIncomplete is set when, either way, answers the header
//     announced are missing;
//   - a response that came after its client closed the socket is reported
//     with Undelivered set and Answered not: the host received it, the
//     program never did.
//
// The kernel's losses (a full ring) are counted and returned by Close as a
// *tracep.LostError. tracep.DNS has no EDNS fields: the response code
// includes the EDNS extended code (BADVERS), and the rest of Message.EDNS
// is not carried by events.
//
// # Parsing
//
// Parse (or Parser.Parse, which reuses its buffers) decodes one message into
// a Message: the header flags, the response code combined with the EDNS
// extended code, the first question, the answer section as tracep.DNSRecord
// values, the SOA records of the authority section, and the OPT record's
// parameters. The other authority and additional records are walked for
// bounds and dropped. A message is rejected with an error matching
// ErrMalformed, a *ParseError giving a reason and an offset, such as
//
//	malformed dns message: compression pointer loop at offset 12 in question 1
//
// when it is shorter than its section counts claim or breaks a rule below;
// ParseError.Section and Index say which record the fault is in. The
// Message returned with the error holds what was decoded before the fault
// (the header, ID and TC bit included, and every section before the
// faulty one whole), so that a truncated capture, or a response malformed
// after its answers, can still be matched to its query and read.
//
// All the strings of one Message share a single allocation; a typical
// response costs two allocations (that string and the answer slice). The
// text is bounded at 64 KiB plus 32 times the message size: names can
// expand 70-fold (one label and a pointer, four octets, can stand for a
// 255-octet name that is 1020 characters escaped), which no real message
// approaches, so a message beyond the bound is rejected. A crafted 64 KiB
// message thus costs at most a few milliseconds and about 10 MB allocated.
//
// # Names
//
// Names are decoded defensively (RFC 1035 section 4.1.4), the faults that
// hang or bloat naive parsers being errors:
//
//   - a compression pointer must point strictly before the start of the run
//     of labels it ends: before the name itself, or before the target of the
//     previous pointer. The runs thus start at strictly decreasing offsets,
//     so self-pointers, cycles and pointers into the name's own labels are
//     rejected at the first repeat, as are forward pointers;
//   - at most 128 pointers are followed for one name (a valid name needs no
//     more);
//   - a name is at most 255 octets in wire form, labels at most 63 octets,
//     and the reserved label types 0x40 and 0x80 are rejected;
//   - decoding stops at the first octet past these limits, so a name never
//     costs more than 255 octets of output, 1020 once escaped;
//   - the suffix found at each pointer target is decoded once per message
//     and remembered by offset: a name that is wholly a pointer shares the
//     text of the name it points to, and a label followed by a pointer
//     copies the suffix's text, so parsing takes time linear in the message
//     however its pointers are arranged.
//
// The presentation form joins labels with dots, without a trailing dot; the
// root is ".". Case is preserved as sent (the 0x20 mixed case of a resolver
// comes through). In a label "." and "\" are escaped as `\.` and `\\`, and
// any octet outside 0x21-0x7E (space, controls, DEL, non-ASCII) as `\DDD`.
//
// # Record data
//
// Record data is given in presentation form:
//
//	A, AAAA            192.0.2.1, 2001:db8::1
//	CNAME NS PTR DNAME www.example.test
//	MX                 10 mail.example.test
//	TXT                "v=spf1 -all" "second string"
//	SRV                10 20 443 srv.example.test
//	SOA                ns1.example.test hostmaster.example.test 2024010101 7200 3600 1209600 300
//	CAA                0 issue "letsencrypt.org"
//	SVCB, HTTPS        1 . alpn=h2,h3 port=443 ipv4hint=192.0.2.1 ech=AQID ipv6hint=2001:db8::1 key65000="v"
//	anything else      \# 4 0102abff (RFC 3597)
//
// Character-strings are quoted with `"` and `\` escaped and octets outside
// printable ASCII as `\DDD`. SVCB parameters known by name are mandatory,
// alpn, no-default-alpn, port, ipv4hint, ech (base64), ipv6hint, dohpath and
// ohttp; others are keyNNNN. A and AAAA outside class IN, and records of
// class NONE or ANY (dynamic update), use the generic form.
//
// Record data of the types above that does not fit its type (an A record
// that is not 4 octets, a name that does not end where the data ends, a TXT
// string overrunning the data, SVCB keys out of order...) rejects the whole
// message rather than marking the record: such a message is not what any
// conforming server sends, and a partial reading of it would be a guess. The
// error says which record and where. Data of other types is only bounded.
//
// OPT is read as EDNS in the additional section and is an error elsewhere,
// as is a second OPT record.
//
// # TCP
//
// StreamReassembler cuts one direction of a TCP connection into messages at
// their two-octet length prefixes, whatever the segmentation, holding at
// most one partial message (65535+2 octets by default, less with Max). A
// length prefix too short for a DNS header or above the limit resets it
// with an error matching ErrFraming.
//
// # Matching
//
// Matcher pairs each response with its query by client and server address
// and port, transport, message ID and question (name without regard to
// case, and type), never by ID alone: a response without a question
// answers nothing. It takes timestamps from the caller,
// computes the latency from the first sighting of a query (a duplicate, as
// loopback shows every packet twice, does not reset it), expires unanswered
// queries after a caller-given timeout and returns them for reporting, and
// holds a bounded number of pending queries, evicting and counting the
// oldest when full.
package dnstrace
