// Package dnstrace reports the DNS queries of a scope and their responses as
// tracep.DNS events.
//
// The tracer that captures DNS messages from the kernel (UDP payloads and
// TCP segments on port 53) belongs to this package but is added separately.
// What is here is its pure, portable part: a DNS wire-format parser, a
// reassembler for DNS over TCP, and a table that pairs responses with
// queries. None of it does I/O or reads a clock, and none of it panics,
// loops or allocates beyond a bound proportional to its input, whatever
// that input holds.
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
//	malformed dns message: compression pointer loop at offset 12
//
// when it is shorter than its section counts claim or breaks a rule below.
// The Message returned with the error holds what was decoded before the
// fault (the header, ID and TC bit included, and usually the question), so
// that a truncated capture can still be matched to its query.
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
// case, and type), never by ID alone. It takes timestamps from the caller,
// computes the latency from the first sighting of a query (a duplicate, as
// loopback shows every packet twice, does not reset it), expires unanswered
// queries after a caller-given timeout and returns them for reporting, and
// holds a bounded number of pending queries, evicting and counting the
// oldest when full.
package dnstrace
