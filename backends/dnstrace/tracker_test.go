package dnstrace

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

var (
	client = netip.MustParseAddrPort("127.0.0.1:40000")
	server = netip.MustParseAddrPort("127.0.0.1:53")
	t0     = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

const ms = int64(time.Millisecond)

// tcpClient is the client of the TCP tests; tcpSegment is a segment of
// its connection (cookie 9) to server: from it when egress, else to it.
var tcpClient = netip.MustParseAddrPort("127.0.0.1:40002")

func tcpSegment(at int64, egress bool, seq uint32, flags uint8, payload []byte) record {
	r := udp(at, tcpClient, server, egress, payload)
	if !egress {
		r.Src, r.Dst = server, tcpClient
	}
	r.Proto, r.Cookie, r.Seq, r.TCPFlags = protoTCP, 9, seq, flags
	return r
}

func testOwner(pid int32, comm string) tracep.Proc {
	return tracep.Proc{CgroupID: 77, PID: pid, TID: pid + 1, PPID: 1, UID: 1000, Comm: comm}
}

// udp returns the record of a UDP message from src to dst at time at (ms).
func udp(at int64, src, dst netip.AddrPort, egress bool, msg []byte) record {
	return record{KTime: uint64(at * ms), Cookie: 1, Owner: testOwner(100, "dig"), Seq: 0, Len: uint32(len(msg)),
		Proto: protoUDP, Egress: egress, Src: src, Dst: dst, Payload: msg}
}

func queryMsg(id uint16, name string, typ uint16) []byte {
	return newMsg(id, fRD, 1, 0, 0, 0).name(name).q(typ).bytes()
}

func withID(msg []byte, id uint16) []byte {
	out := append([]byte(nil), msg...)
	binary.BigEndian.PutUint16(out, id)
	return out
}

// testTracker returns a tracker with a 1 s timeout and the events it emits.
func testTracker(maxPending int) (*tracker, *[]tracep.Event) {
	var evs []tracep.Event
	clock := func(k uint64) time.Time { return t0.Add(time.Duration(k)) }
	return newTracker(time.Second, maxPending, clock, func(ev tracep.Event) { evs = append(evs, ev) }), &evs
}

func (t *tracker) feedAll(rs ...record) {
	for i := range rs {
		t.feed(&rs[i])
	}
}

func TestTrackerUDP(t *testing.T) {
	tr, evs := testTracker(0)
	q := queryMsg(0xbeef, "www.example.test", TypeA)
	resp := typicalA()
	tr.feedAll(
		udp(10, client, server, true, q),  // the client sends
		udp(10, client, server, false, q), // the server receives: the same query
		udp(13, server, client, true, resp),
		udp(13, server, client, false, resp), // the second copy finds nothing
	)
	require.Len(t, *evs, 1)
	ev := (*evs)[0]
	require.Equal(t, tracep.KindDNS, ev.Kind)
	require.Equal(t, uint64(10*ms), ev.KTime, "the query's time")
	require.Equal(t, t0.Add(10*time.Millisecond), ev.Time)
	require.Equal(t, tracep.Proc{PID: 100, TID: 101, PPID: 1, UID: 1000, Comm: "dig", CgroupID: 77}, ev.Proc)
	require.Equal(t, &tracep.DNS{
		ID: 0xbeef, Name: "www.example.test", Type: "A", Transport: "udp", Client: client, Server: server,
		RCode: "NOERROR", Answered: true, Latency: 3 * time.Millisecond,
		Answers: []tracep.DNSRecord{
			{Name: "www.example.test", Type: "A", TTL: 300, Data: "192.0.2.1"},
			{Name: "www.example.test", Type: "A", TTL: 300, Data: "192.0.2.2"},
		},
	}, ev.DNS)
	require.Equal(t, Stats{Records: 4, Messages: 4, Answered: 1, Duplicates: 1, Unmatched: 1}, tr.stats)
}

// Responses are matched by addresses, ports, ID and question, not ID alone:
// a response with the right ID to another client, for another name or
// from another server does not answer the query.
func TestTrackerNotByIDAlone(t *testing.T) {
	tr, evs := testTracker(0)
	resp := typicalA()
	other := netip.MustParseAddrPort("127.0.0.1:40001")
	tr.feedAll(
		udp(1, client, server, true, queryMsg(0xbeef, "www.example.test", TypeA)),
		udp(2, server, other, false, resp),
		udp(2, netip.MustParseAddrPort("127.0.0.2:53"), client, false, resp),
		udp(2, server, client, false, response("other.test", TypeA, 0, 0, 0, 0).bytes()),
		udp(2, server, client, false, response("www.example.test", TypeAAAA, 0, 0, 0, 0).bytes()),
	)
	require.Empty(t, *evs)
	require.Equal(t, uint64(4), tr.stats.Unmatched)
	tr.feedAll(udp(3, server, client, false, response("WWW.EXAMPLE.test", TypeA, 0, 0, 0, 0).bytes()))
	require.Len(t, *evs, 1, "the name compares without regard to case")
	require.Equal(t, "www.example.test", (*evs)[0].DNS.Name, "as the client spelled it")
}

func TestTrackerUnanswered(t *testing.T) {
	tr, evs := testTracker(2)
	tr.feedAll(udp(0, client, server, true, queryMsg(1, "a.test", TypeA)))
	tr.expire(999 * ms)
	require.Empty(t, *evs, "not yet")
	tr.expire(1000 * ms)
	require.Len(t, *evs, 1)
	require.Equal(t, "a.test", (*evs)[0].DNS.Name)
	require.False(t, (*evs)[0].DNS.Answered)
	require.Empty(t, (*evs)[0].DNS.RCode)
	require.Equal(t, uint64(0), (*evs)[0].KTime)

	// A full table reports its oldest query at once.
	tr.feedAll(
		udp(2000, client, server, true, queryMsg(2, "b.test", TypeA)),
		udp(2001, client, server, true, queryMsg(3, "c.test", TypeA)),
		udp(2002, client, server, true, queryMsg(4, "d.test", TypeA)),
	)
	require.Len(t, *evs, 2)
	require.Equal(t, "b.test", (*evs)[1].DNS.Name)
	// Close reports the rest.
	tr.drain()
	require.Len(t, *evs, 4)
	require.Equal(t, uint64(4), tr.stats.Unanswered)
	require.Zero(t, tr.match.Len())
}

// A truncated UDP answer is an answered event with Truncated; the TCP
// retry, split over segments however the stack likes, is reported whole.
func TestTrackerTruncatedThenTCP(t *testing.T) {
	tr, evs := testTracker(0)
	q := queryMsg(0xbeef, "www.example.test", TypeA)
	tc := response("www.example.test", TypeA, 0, 0, 0, 0).bytes()
	binary.BigEndian.PutUint16(tc[2:], fQR|fTC|fRD|fRA)
	tr.feedAll(udp(1, client, server, true, q), udp(2, server, client, false, tc))

	fq, fr := frame(q), frame(typicalA())
	tr.feedAll(
		tcpSegment(3, true, 1000, 0, fq[:1]),                       // the length prefix split
		tcpSegment(3, true, 1001, 0, fq[1:]),                       // the rest of the query
		tcpSegment(4, true, 1000, 0, fq),                           // a retransmission: nothing new
		tcpSegment(5, false, 5000, 0, fr[:20]),                     // the response in two segments,
		tcpSegment(5, false, 5010, 0, fr[10:30]),                   // overlapping,
		tcpSegment(6, false, 5030, tcpFIN, fr[30:]),                // the last with FIN
		tcpSegment(7, false, 5030+uint32(len(fr)-30), tcpFIN, nil), // a bare FIN of a closed stream
	)
	require.Len(t, *evs, 2)
	udpEv, tcpEv := (*evs)[0].DNS, (*evs)[1].DNS
	require.True(t, udpEv.Truncated)
	require.True(t, udpEv.Answered)
	require.Equal(t, "udp", udpEv.Transport)
	require.Empty(t, udpEv.Answers)
	require.Equal(t, "tcp", tcpEv.Transport)
	require.False(t, tcpEv.Truncated)
	require.Len(t, tcpEv.Answers, 2)
	require.Equal(t, 3*time.Millisecond, tcpEv.Latency, "from the segment completing the query to the one completing the response")
	require.NotContains(t, tr.streams, streamKey{9, false}, "the FIN ended the response's stream")
	require.Contains(t, tr.streams, streamKey{9, true}, "the query's stream goes on")
	require.Zero(t, tr.stats.StreamErrors)
	require.Zero(t, tr.stats.Duplicates, "a retransmitted segment is skipped by its sequence number")

	// A gap restarts the stream once it can no longer fill (here: the
	// trace ends): the message cut by it is lost, the next one (starting
	// at a segment boundary) is read.
	a, b := tcpSegment(10, true, 100, 0, frame(queryMsg(7, "a.test", TypeA))[:5]), tcpSegment(11, true, 200, 0, frame(queryMsg(8, "b.test", TypeA)))
	a.Cookie, b.Cookie = 10, 10
	tr.feedAll(a, b)
	require.Zero(t, tr.stats.StreamErrors, "b is held: the octets before it may still come")
	tr.drain()
	require.Equal(t, uint64(1), tr.stats.StreamErrors)
	require.Equal(t, "b.test", (*evs)[2].DNS.Name)
}

// Segments of one stream may reach the ring out of order (two CPUs
// receiving them): a segment ahead of a gap, and a FIN ahead of the last
// data, wait for the octets before them, and the response is whole.
func TestTrackerTCPOutOfOrder(t *testing.T) {
	fq, fr := frame(queryMsg(0xbeef, "www.example.test", TypeA)), frame(typicalA())
	end := 500 + uint32(len(fr))
	for name, order := range map[string][]record{
		"middle last": {tcpSegment(2, false, 500, 0, fr[:20]), tcpSegment(3, false, 530, 0, fr[30:]), tcpSegment(3, false, 520, 0, fr[20:30]), tcpSegment(4, false, end, tcpFIN, nil)},
		"FIN first":   {tcpSegment(2, false, 500, 0, fr[:20]), tcpSegment(4, false, end, tcpFIN, nil), tcpSegment(3, false, 520, 0, fr[20:])},
		"reversed":    {tcpSegment(4, false, end, tcpFIN, nil), tcpSegment(3, false, 540, 0, fr[40:]), tcpSegment(3, false, 520, 0, fr[20:40]), tcpSegment(2, false, 500, 0, fr[:20])},
	} {
		t.Run(name, func(t *testing.T) {
			tr, evs := testTracker(0)
			tr.feedAll(tcpSegment(1, true, 100, 0, fq))
			tr.feedAll(order...)
			tr.drain()
			require.Len(t, *evs, 1)
			d := (*evs)[0].DNS
			if name == "reversed" {
				// The stream's first record is not its start: nothing
				// tells where the response begins, so it is not decoded
				// and the query is reported unanswered, never answered
				// wrongly.
				require.False(t, d.Answered)
				return
			}
			require.True(t, d.Answered)
			require.Empty(t, d.Cut)
			require.Len(t, d.Answers, 2)
			require.Zero(t, tr.stats.StreamErrors)
			require.NotContains(t, tr.streams, streamKey{9, false}, "the FIN ended the stream")
		})
	}
}

// A response is reported as far as it was decoded, with what is missing
// and why: a UDP message longer than the snap length, one malformed on the
// wire in its answers or after them. A fault after the answers leaves them
// whole; a message without a whole question is of no use.
func TestTrackerFlawedResponses(t *testing.T) {
	resp := typicalA()
	rdA := func(b *builder) { b.u8(192, 0, 2, 1) }
	withAuthority := func(fn func(*builder)) []byte {
		b := response("www.example.test", TypeA, 0, 1, 1, 0).ptr(12).rr(TypeA, ClassIN, 300, rdA)
		fn(b)
		return b.bytes()
	}
	answerA := []tracep.DNSRecord{{Name: "www.example.test", Type: "A", TTL: 300, Data: "192.0.2.1"}}
	for _, tc := range []struct {
		name       string
		msg        []byte
		len        int // the packet's payload, when the capture cut it
		answers    []tracep.DNSRecord
		cut        string
		malformed  string
		incomplete string
		stats      Stats
	}{
		{name: "cut by the snap length in the answers", msg: resp[:len(resp)-20], len: len(resp),
			answers: answerA, cut: "57 of 77 octets captured (snap length)",
			incomplete: "dns answers incomplete: 57 of 77 octets captured (snap length)",
			stats:      Stats{SnapTruncated: 1}},
		{name: "cut by the snap length after the answers", msg: resp[:len(resp)-5], len: len(resp),
			answers: []tracep.DNSRecord{answerA[0], {Name: "www.example.test", Type: "A", TTL: 300, Data: "192.0.2.2"}},
			cut:     "72 of 77 octets captured (snap length)", stats: Stats{SnapTruncated: 1}},
		{name: "malformed in the answers", msg: resp[:len(resp)-20], answers: answerA,
			malformed:  "truncated record header at offset 52 in answer 2",
			incomplete: "dns answers incomplete: truncated record header at offset 52 in answer 2",
			stats:      Stats{Malformed: 1}},
		{name: "authority record with a pointer loop", msg: withAuthority(func(b *builder) {
			b.ptr(b.off()).rr(TypeNS, ClassIN, 1, func(b *builder) { b.ptr(12) })
		}), answers: answerA, malformed: "compression pointer loop at offset 50 in authority record 1", stats: Stats{Malformed: 1}},
		{name: "additional record with a bad length", msg: func() []byte {
			return response("www.example.test", TypeA, 0, 1, 0, 1).ptr(12).rr(TypeA, ClassIN, 300, rdA).
				ptr(12).rrLen(TypeA, ClassIN, 1, 500).u8(1, 2, 3, 4).bytes()
		}(), answers: answerA, malformed: "record data overruns the message at offset 60 in additional record 1", stats: Stats{Malformed: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, evs := testTracker(0)
			r := udp(2, server, client, false, tc.msg)
			if tc.len != 0 {
				r.Len = uint32(tc.len)
			}
			tr.feedAll(udp(1, client, server, true, queryMsg(0xbeef, "www.example.test", TypeA)), r)
			require.Len(t, *evs, 1)
			d := (*evs)[0].DNS
			require.True(t, d.Answered)
			require.Equal(t, "NOERROR", d.RCode)
			require.Equal(t, tc.answers, d.Answers)
			require.Equal(t, tc.cut, d.Cut)
			require.Equal(t, tc.malformed, d.Malformed)
			require.Equal(t, tc.incomplete != "", d.AnswersIncomplete)
			require.Equal(t, tc.incomplete, d.Incomplete())
			tc.stats.Records, tc.stats.Messages, tc.stats.Answered = 2, 2, 1
			require.Equal(t, tc.stats, tr.stats)
		})
	}
}

// Messages without a whole question are not used: a response without one
// is never paired by its ID (the query is reported unanswered), and one
// whose question the snap length cut leaves its query unanswered, saying
// why.
func TestTrackerQuestionless(t *testing.T) {
	tr, evs := testTracker(0)
	q := queryMsg(0xbeef, "www.example.test", TypeA)
	tr.feedAll(udp(1, client, server, true, q),
		udp(2, server, client, false, newMsg(0xbeef, fQR|1, 0, 0, 0, 0).bytes())) // FORMERR, no question
	require.Empty(t, *evs)
	require.Equal(t, uint64(1), tr.stats.NoQuestion)
	tr.drain()
	require.Len(t, *evs, 1)
	require.False(t, (*evs)[0].DNS.Answered)
	require.Empty(t, (*evs)[0].DNS.Incomplete())

	tr, evs = testTracker(0)
	resp := typicalA()
	cut := udp(2, server, client, false, resp[:20])
	cut.Len = uint32(len(resp))
	tr.feedAll(udp(1, client, server, true, q), cut)
	tr.drain()
	require.Len(t, *evs, 1)
	d := (*evs)[0].DNS
	require.False(t, d.Answered)
	require.Equal(t, "20 of 77 octets captured (snap length)", d.Cut)
	require.Equal(t, "dns response not captured: 20 of 77 octets captured (snap length)", d.Incomplete())
}

// A response that reached the host after its client closed the socket
// (seen dropped for want of a socket, or arriving at one its owner
// closed) answers the pending query as not delivered; it never makes a
// query, and one for no pending query is ignored.
func TestTrackerUndelivered(t *testing.T) {
	tr, evs := testTracker(0)
	q := queryMsg(0xbeef, "www.example.test", TypeAAAA)
	late := udp(5, server, client, false, withID(typicalAAAA(), 0xbeef))
	late.Undelivered, late.NoOwner, late.Cookie, late.Owner = true, true, 0, tracep.Proc{}
	stray := late
	stray.Dst = netip.MustParseAddrPort("127.0.0.1:40009")
	tr.feedAll(udp(1, client, server, true, q), late, stray)
	require.Len(t, *evs, 1)
	ev := (*evs)[0]
	require.Equal(t, int32(100), ev.Proc.PID, "the query's process")
	d := ev.DNS
	require.False(t, d.Answered)
	require.True(t, d.Undelivered)
	require.Equal(t, "NOERROR", d.RCode)
	require.Len(t, d.Answers, 2)
	require.Equal(t, 4*time.Millisecond, d.Latency)
	require.Empty(t, d.Incomplete())
	require.Equal(t, Stats{Records: 3, Messages: 3, Undelivered: 1, Unmatched: 1}, tr.stats)

	// Over TCP: a segment for no socket, holding a response and the
	// start of another, and one for a socket its owner closed.
	q1, q2 := queryMsg(1, "a.test", TypeA), queryMsg(2, "www.example.test", TypeA)
	r1 := withID(response("a.test", TypeA, 0, 0, 0, 0).bytes(), 1)
	r2 := withID(typicalA(), 2)
	seg := func(at int64, egress bool, cookie uint64, payload []byte) record {
		r := udp(at, tcpClient, server, egress, payload)
		if !egress {
			r.Src, r.Dst = server, tcpClient
		}
		r.Proto, r.Cookie = protoTCP, cookie
		return r
	}
	orphan := seg(9, false, 0, append(frame(r1), frame(r2)[:40]...))
	orphan.Undelivered, orphan.NoOwner = true, true
	tr.feedAll(seg(8, true, 7, append(frame(q1), frame(q2)...)), orphan)
	require.Len(t, *evs, 3)
	require.True(t, (*evs)[1].DNS.Undelivered)
	require.Equal(t, "a.test", (*evs)[1].DNS.Name)
	d = (*evs)[2].DNS
	require.True(t, d.Undelivered)
	require.Equal(t, "www.example.test", d.Name)
	require.Equal(t, "segment ended 38 octets into a 77-octet message", d.Cut)
	require.True(t, d.AnswersIncomplete)

	q3 := queryMsg(3, "c.test", TypeA)
	closed := seg(11, false, 7, frame(withID(response("c.test", TypeA, 0, 0, 0, 0).bytes(), 3)))
	closed.Undelivered = true
	ask := seg(10, true, 7, frame(q3))
	ask.Seq = uint32(len(frame(q1)) + len(frame(q2)))
	tr.feedAll(ask, closed)
	require.Len(t, *evs, 4)
	require.True(t, (*evs)[3].DNS.Undelivered)
	require.False(t, (*evs)[3].DNS.Answered)
}

// A TCP response cut short, by the end of its connection or a gap in its
// stream, is reported as far as it goes and flagged; one cut before its
// question leaves its query unanswered, saying why.
func TestTrackerTCPCutShort(t *testing.T) {
	fq, fr := frame(queryMsg(0xbeef, "www.example.test", TypeA)), frame(typicalA())
	for _, tc := range []struct {
		name      string
		resp      []record
		answered  bool
		cut       string
		answers   int
		incomplte string
	}{
		{"closed in the answers", []record{tcpSegment(2, false, 500, tcpFIN, fr[:56])}, true,
			"connection closed 54 octets into a 77-octet message", 1,
			"dns answers incomplete: connection closed 54 octets into a 77-octet message"},
		{"reset in the answers", []record{tcpSegment(2, false, 500, 0, fr[:56]), tcpSegment(3, true, 100+uint32(len(fq)), tcpRST, nil)}, true,
			"connection reset 54 octets into a 77-octet message", 1,
			"dns answers incomplete: connection reset 54 octets into a 77-octet message"},
		{"a gap in the answers", []record{tcpSegment(2, false, 500, 0, fr[:56]),
			tcpSegment(3, false, 600, 0, frame(withID(response("x.test", TypeA, 0, 0, 0, 0).bytes(), 1)))}, true,
			"a gap in the stream (44 octets of the stream not seen) 54 octets into a 77-octet message", 1,
			"dns answers incomplete: a gap in the stream (44 octets of the stream not seen) 54 octets into a 77-octet message"},
		{"closed before the question", []record{tcpSegment(2, false, 500, tcpFIN, fr[:10])}, false,
			"connection closed 8 octets into a 77-octet message", 0,
			"dns response not captured: connection closed 8 octets into a 77-octet message"},
		{"the session closed after the answers", []record{tcpSegment(2, false, 500, 0, fr[:70])}, true,
			"trace ended 68 octets into a 77-octet message", 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, evs := testTracker(0)
			tr.feedAll(tcpSegment(1, true, 100, 0, fq))
			tr.feedAll(tc.resp...)
			tr.drain()
			require.Len(t, *evs, 1)
			d := (*evs)[0].DNS
			require.Equal(t, tc.answered, d.Answered)
			require.Equal(t, tc.cut, d.Cut)
			require.Len(t, d.Answers, tc.answers)
			require.Equal(t, tc.incomplte, d.Incomplete())
		})
	}
}

// A crafted response whose answer's owner is a compression pointer to
// itself, fed through the capture's decoding path (raw record, tracker),
// is decoded in bounded time and reported with the fault and no answer; a
// query whose name is a pointer loop is rejected.
func TestTrackerPointerLoop(t *testing.T) {
	tr, evs := testTracker(0)
	q := queryMsg(0xbeef, "loop.test", TypeA)
	loop := response("loop.test", TypeA, 0, 1, 0, 0).bytes()
	self := len(loop)
	loop = (&builder{b: loop}).ptr(self).rr(TypeA, ClassIN, 1, func(b *builder) { b.u8(192, 0, 2, 1) }).bytes()
	selfQ := newMsg(1, 0, 1, 0, 0, 0).ptr(12).q(TypeA).bytes()
	cycle := newMsg(2, 0, 1, 0, 0, 0).labels("a").ptr(16).u8(0).ptr(12).q(TypeA).bytes()

	start := time.Now()
	for _, r := range []record{
		udp(1, client, server, true, q),
		udp(2, server, client, false, loop),
		udp(3, client, server, true, selfQ),
		udp(3, client, server, true, cycle),
	} {
		raw := encodeRecord(r)
		got, err := decodeRecord(raw)
		require.NoError(t, err)
		tr.feed(&got)
	}
	require.Less(t, time.Since(start), time.Second, "bounded time")
	require.Equal(t, uint64(3), tr.stats.Malformed)
	require.Len(t, *evs, 1)
	d := (*evs)[0].DNS
	require.True(t, d.Answered)
	require.Empty(t, d.Answers)
	require.True(t, d.AnswersIncomplete)
	require.Equal(t, "compression pointer loop at offset 27 in answer 1", d.Malformed)
	tr.drain()
	require.Len(t, *evs, 1, "the looping queries were never asked")
}

func TestTrackerNoOwner(t *testing.T) {
	tr, evs := testTracker(0)
	r := udp(1, client, server, false, queryMsg(5, "x.test", TypeA))
	r.NoOwner = true
	tr.feedAll(r, udp(2, server, client, true, withID(response("x.test", TypeA, RCodeNXDomain, 0, 0, 0).bytes(), 5)))
	require.Len(t, *evs, 1)
	require.Zero(t, (*evs)[0].Proc)
	require.Equal(t, "NXDOMAIN", (*evs)[0].DNS.RCode)
}

func TestTrackerStreamBound(t *testing.T) {
	tr, _ := testTracker(0)
	for i := range maxStreams + 10 {
		r := udp(int64(i), client, server, true, []byte{0, 40, 1})
		r.Proto, r.Cookie = protoTCP, uint64(i)
		tr.feed(&r)
	}
	require.Len(t, tr.streams, maxStreams)
	_, ok := tr.streams[streamKey{0, true}]
	require.False(t, ok, "the stream idle the longest went first")
	tr.expire(int64(maxStreams+10)*ms + streamIdle + 1)
	require.Empty(t, tr.streams)
}

func TestDecodeRecord(t *testing.T) {
	r := record{KTime: 1, Cookie: 2, Owner: testOwner(3, "curl"), Seq: 4, Len: 5, Proto: protoTCP, Egress: true, TCPFlags: tcpFIN,
		Src: netip.MustParseAddrPort("[2001:db8::1]:5353"), Dst: netip.MustParseAddrPort("[::1]:53"), Payload: []byte("hello")}
	got, err := decodeRecord(encodeRecord(r))
	require.NoError(t, err)
	require.Equal(t, r, got)

	r.Src, r.Dst, r.Proto, r.Egress, r.NoOwner = client, server, protoUDP, false, true
	got, err = decodeRecord(encodeRecord(r))
	require.NoError(t, err)
	require.Equal(t, r, got)

	good := encodeRecord(r)
	for name, mutate := range map[string]func([]byte) []byte{
		"short":      func(b []byte) []byte { return b[:recHeaderSize-1] },
		"caplen":     func(b []byte) []byte { b[offCapLen]++; return b },
		"over len":   func(b []byte) []byte { b[offLen] = 1; return b },
		"protocol":   func(b []byte) []byte { b[offProto] = 1; return b },
		"direction":  func(b []byte) []byte { b[offDir] = 3; return b },
		"family":     func(b []byte) []byte { b[offFamily] = 5; return b },
		"extra byte": func(b []byte) []byte { return append(b, 0) },
	} {
		_, err := decodeRecord(mutate(append([]byte(nil), good...)))
		require.ErrorIs(t, err, errRecord, name)
	}
}

// FuzzRecords feeds arbitrary records, UDP and TCP, through the decoding
// path: nothing panics and the state stays bounded.
func FuzzRecords(f *testing.F) {
	f.Add(uint8(protoUDP), uint32(0), typicalA())
	f.Add(uint8(protoUDP), uint32(0), queryMsg(1, "a.test", TypeA))
	f.Add(uint8(protoTCP), uint32(7), append([]byte{0, byte(len(typicalA()))}, typicalA()...))
	f.Add(uint8(protoTCP), uint32(0), []byte{0xff, 0xff, 1, 2, 3})
	f.Add(uint8(protoUDP), uint32(0), cnameChain())
	tr, _ := testTracker(64)
	n := int64(0)
	f.Fuzz(func(t *testing.T, proto uint8, seq uint32, payload []byte) {
		n++
		r := udp(n, client, server, n%2 == 0, payload)
		if n%3 == 0 {
			r.Src, r.Dst = r.Dst, r.Src
		}
		if proto%2 == 0 {
			r.Proto, r.Seq, r.Cookie = protoTCP, seq, uint64(n%5)
		}
		if n%7 == 0 { // a response too late for its socket, or for none
			r.Undelivered, r.Egress = true, false
			if n%14 == 0 {
				r.Cookie, r.NoOwner, r.Owner = 0, true, tracep.Proc{}
			}
		}
		raw := encodeRecord(r)
		got, err := decodeRecord(raw)
		require.NoError(t, err)
		tr.feed(&got)
		tr.expire(n * ms)
		require.LessOrEqual(t, tr.match.Len(), 64)
		require.LessOrEqual(t, len(tr.streams), maxStreams)
		require.LessOrEqual(t, len(tr.broken), maxBroken)
		for _, s := range tr.streams {
			require.LessOrEqual(t, s.r.Buffered(), 2+MaxMessageSize)
		}
	})
}

// BenchmarkTrackerLookup is the user-space cost of one lookup: its query
// and its response as raw records, decoded, parsed and matched.
func BenchmarkTrackerLookup(b *testing.B) {
	tr, evs := testTracker(0)
	q := encodeRecord(udp(0, client, server, true, queryMsg(0xbeef, "www.example.test", TypeA)))
	r := encodeRecord(udp(0, server, client, false, typicalA()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint16(q[recHeaderSize:], uint16(i))
		binary.BigEndian.PutUint16(r[recHeaderSize:], uint16(i))
		for _, raw := range [][]byte{q, r} {
			rec, err := decodeRecord(raw)
			if err != nil {
				b.Fatal(err)
			}
			tr.feed(&rec)
		}
		*evs = (*evs)[:0]
	}
	if tr.stats.Answered != uint64(b.N) {
		b.Fatalf("%d answered of %d", tr.stats.Answered, b.N)
	}
}
