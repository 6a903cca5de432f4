package dnstrace

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tracep/tracep/tracep"
)

// Stats counts what a session saw, for diagnostics and tests. None of it
// is lost data: the kernel's losses are reported by Close as a
// *tracep.LostError.
type Stats struct {
	// Records is the number of raw records the kernel delivered: UDP
	// messages and TCP segments.
	Records uint64
	// Messages is the number of DNS messages decoded from them.
	Messages uint64
	// Answered and Unanswered count the events reported: queries with
	// their response, and queries that got none within the timeout (or
	// before Close, or that were evicted from a full table).
	Answered, Unanswered uint64
	// Undelivered counts queries whose response reached the host after the
	// client had closed its socket: reported with the response, as not
	// delivered.
	Undelivered uint64
	// Duplicates counts queries seen again with the same addresses, ID and
	// question: a packet seen at both ends of the loopback, or a resent
	// query. They are reported once.
	Duplicates uint64
	// Unmatched counts responses with no pending query: the second copy
	// of a loopback response, or the answer to a query sent before the
	// trace started or already reported unanswered.
	Unmatched uint64
	// NoQuestion counts messages without a question: never paired (a
	// response is not matched to a query by its ID alone).
	NoQuestion uint64
	// Malformed counts messages the parser found malformed (see Parse).
	// One whose question was decoded is still used: a response is
	// reported with what was decoded and the fault (tracep.DNS.Malformed);
	// the others are dropped, so a query whose only response lost its
	// question is reported unanswered.
	Malformed uint64
	// SnapTruncated counts UDP messages longer than the snap length, of
	// which only the first octets were captured and decoded.
	SnapTruncated uint64
	// Cut counts messages a TCP connection ended, or a gap in its stream
	// broke, before their last octet: decoded as far as they go.
	Cut uint64
	// StreamErrors counts TCP streams that lost their place: a gap in the
	// sequence numbers, a segment larger than the capture, or a length
	// prefix that cannot be right (ErrFraming).
	StreamErrors uint64
}

// query is what the tracker keeps about a pending query.
type query struct {
	proc tracep.Proc
	// cookie is the socket that carried it (TCP: its stream's key).
	cookie uint64
}

// streamKey identifies one direction of one TCP connection as one socket
// saw it.
type streamKey struct {
	cookie uint64
	egress bool
}

type stream struct {
	r    StreamReassembler
	next uint32 // the sequence number expected next
	last uint64 // ktime of the last segment, for idle expiry
	// rec is the stream's last segment without its payload: the addresses
	// and owner of a message it leaves cut short.
	rec record
	// early holds copies of segments that came ahead of a gap: records of
	// one stream may reach the ring out of order when two CPUs receive its
	// segments, so a gap is only a loss once it cannot fill any more (the
	// stash is full, or the stream or the trace ends).
	early      []record
	earlyBytes int
	flushing   bool // early is being fed after a gap was given up on
}

// maxStreams bounds the TCP streams followed at once; streamIdle is how
// long one may stay silent (without FIN or RST seen) before it is dropped.
// maxBroken bounds the sockets remembered for a stream that lost its
// place.
const (
	maxStreams = 4096
	// maxEarly and maxEarlyBytes bound the segments a stream holds ahead
	// of a gap.
	maxEarly      = 32
	maxEarlyBytes = 256 << 10
	streamIdle    = int64(2 * time.Minute)
	maxBroken     = 4096
)

// tracker turns raw records into DNS events: it reassembles TCP streams,
// parses messages, pairs responses with queries and reports the queries
// left unanswered. It is pure (time comes from the records and the caller)
// and must not be used concurrently.
type tracker struct {
	timeout int64 // ns a query waits for its response
	clock   func(ktime uint64) time.Time
	emit    func(tracep.Event)

	parser  Parser
	match   *Matcher[query]
	streams map[streamKey]*stream
	// broken says, by socket cookie, why a response stream could not be
	// followed: an unanswered TCP query of that socket says so.
	broken  map[uint64]string
	scratch []Pending[query]
	stats   Stats
}

func newTracker(timeout time.Duration, maxPending int, clock func(uint64) time.Time, emit func(tracep.Event)) *tracker {
	return &tracker{
		timeout: int64(timeout),
		clock:   clock,
		emit:    emit,
		match:   NewMatcher[query](maxPending),
		streams: make(map[streamKey]*stream),
		broken:  make(map[uint64]string),
	}
}

// feed takes one record.
func (t *tracker) feed(r *record) {
	t.stats.Records++
	switch {
	case r.Proto == protoUDP:
		cut := ""
		if r.truncated() {
			t.stats.SnapTruncated++
			cut = fmt.Sprintf("%d of %d octets captured (snap length)", len(r.Payload), r.Len)
		}
		t.message(r, r.Payload, "udp", cut)
	case r.Undelivered && r.Cookie == 0:
		t.orphanSegment(r)
	default:
		t.segment(r)
	}
}

// segment feeds a TCP segment to its stream's reassembler, in sequence
// order: a retransmitted part is skipped, a gap restarts the stream.
func (t *tracker) segment(r *record) {
	k := streamKey{r.Cookie, r.Egress}
	s := t.streams[k]
	if s == nil {
		if len(r.Payload) == 0 {
			if r.TCPFlags&tcpRST != 0 {
				t.endStream(streamKey{r.Cookie, !r.Egress}, "connection reset")
			}
			return // a FIN or RST of a stream not followed
		}
		if len(t.streams) >= maxStreams {
			t.evictStream()
		}
		s = &stream{next: r.Seq}
		t.streams[k] = s
	}
	s.last = r.KTime
	s.rec = *r
	s.rec.Payload = nil
	payload, seq := r.Payload, r.Seq
	switch d := int32(seq - s.next); {
	case r.truncated():
		// Part of the segment is missing: the stream cannot be followed.
		t.lostPlace(s, fmt.Sprintf("a segment of %d octets, %d captured", r.Len, len(r.Payload)))
		payload = nil
		seq += r.Len
	case d < 0:
		skip := uint32(-d)
		if skip >= uint32(len(payload)) {
			payload = nil // entirely a retransmission
		} else {
			payload = payload[skip:]
		}
		seq += skip
	case d > 0:
		if !s.flushing && r.TCPFlags&tcpRST == 0 && len(s.early) < maxEarly && s.earlyBytes+len(payload) <= maxEarlyBytes {
			e := *r
			e.Payload = bytes.Clone(r.Payload) // r's payload is the ring's
			s.early = append(s.early, e)
			s.earlyBytes += len(payload)
			return
		}
		t.lostPlace(s, fmt.Sprintf("%d octets of the stream not seen", d))
	}
	if len(payload) > 0 {
		s.next = seq + uint32(len(payload))
		if err := s.r.Feed(payload, func(msg []byte) { t.message(r, msg, "tcp", "") }); err != nil {
			t.stats.StreamErrors++
			t.breakSocket(r.Cookie, err.Error())
		}
	} else if int32(seq-s.next) > 0 {
		s.next = seq
	}
	switch {
	case r.TCPFlags&tcpRST != 0:
		t.endStream(k, "connection reset")
		t.endStream(streamKey{r.Cookie, !r.Egress}, "connection reset")
	case r.TCPFlags&tcpFIN != 0:
		t.endStream(k, "connection closed")
	default:
		t.feedEarly(k, s)
	}
}

// feedEarly feeds the held segments that the stream has reached, in
// sequence order, while it lasts.
func (t *tracker) feedEarly(k streamKey, s *stream) {
	for len(s.early) > 0 && t.streams[k] == s {
		i := slices.IndexFunc(s.early, func(e record) bool { return int32(e.Seq-s.next) <= 0 })
		if i < 0 {
			return
		}
		e := s.early[i]
		s.early = slices.Delete(s.early, i, i+1)
		s.earlyBytes -= len(e.Payload)
		t.segment(&e)
	}
}

// giveUpGap ends the wait for the octets missing before the held
// segments: the gap is a loss, and the held segments are fed in order.
func (t *tracker) giveUpGap(k streamKey, s *stream) {
	if len(s.early) == 0 {
		return
	}
	early := s.early
	s.early, s.earlyBytes, s.flushing = nil, 0, true
	slices.SortStableFunc(early, func(a, b record) int { return int(int32(a.Seq - b.Seq)) })
	for i := range early {
		if t.streams[k] != s {
			return
		}
		t.segment(&early[i])
	}
	s.flushing = false
}

// orphanSegment handles a TCP segment that arrived for no socket (a
// connection its client closed and the kernel forgot): it has no stream to
// join, so the messages it holds whole, and the start of one it cuts, are
// decoded on their own, as undelivered.
func (t *tracker) orphanSegment(r *record) {
	var sr StreamReassembler
	if err := sr.Feed(r.Payload, func(msg []byte) { t.message(r, msg, "tcp", "") }); err != nil {
		t.stats.StreamErrors++
		return
	}
	if msg, n := sr.Partial(); len(msg) >= headerLen {
		t.stats.Cut++
		t.message(r, msg, "tcp", fmt.Sprintf("segment ended %d octets into a %d-octet message", len(msg), n))
	}
}

// lostPlace resets a stream that missed or could not capture octets,
// decoding the message it was assembling as far as it goes.
func (t *tracker) lostPlace(s *stream, why string) {
	t.stats.StreamErrors++
	t.cutShort(s, "a gap in the stream ("+why+")")
	t.breakSocket(s.rec.Cookie, "tcp stream lost: "+why)
	s.r.Reset()
}

// endStream forgets a stream that ended, decoding the message it was
// assembling as far as it goes.
func (t *tracker) endStream(k streamKey, why string) {
	if s := t.streams[k]; s != nil && len(s.early) > 0 {
		t.giveUpGap(k, s) // may end the stream itself (a held FIN)
	}
	if s := t.streams[k]; s != nil {
		t.cutShort(s, why)
		delete(t.streams, k)
	}
}

// cutShort decodes the message s was assembling, if any, as cut short
// (why: "connection closed").
func (t *tracker) cutShort(s *stream, why string) {
	msg, n := s.r.Partial()
	if n == 0 {
		return
	}
	reason := fmt.Sprintf("%s %d octets into a %d-octet message", why, len(msg), n)
	t.stats.Cut++
	if len(msg) < headerLen {
		t.breakSocket(s.rec.Cookie, reason)
		return
	}
	r := s.rec
	t.message(&r, msg, "tcp", reason)
}

// breakSocket remembers that a response stream of socket cookie could not
// be followed, so that its unanswered queries say why.
func (t *tracker) breakSocket(cookie uint64, why string) {
	if cookie == 0 {
		return
	}
	if _, ok := t.broken[cookie]; !ok && len(t.broken) >= maxBroken {
		for k := range t.broken {
			delete(t.broken, k)
			break
		}
	}
	t.broken[cookie] = why
}

// evictStream drops the stream idle the longest.
func (t *tracker) evictStream() {
	var oldest streamKey
	first := true
	var when uint64
	for k, s := range t.streams {
		if first || s.last < when {
			oldest, when, first = k, s.last, false
		}
	}
	delete(t.streams, oldest)
}

// message handles one DNS message from r: a UDP payload or a message cut
// from a TCP stream. cut, when set, says how the message was cut short
// (the capture's snap length, a connection that ended): a parse error is
// then expected, and what was decoded is used.
func (t *tracker) message(r *record, msg []byte, transport string, cut string) {
	t.stats.Messages++
	m, err := t.parser.Parse(msg)
	var pe *ParseError
	if err != nil {
		if cut == "" {
			t.stats.Malformed++
		}
		// The question pairs a response with its query: without it
		// whole, the message is of no use.
		if !errors.As(err, &pe) || pe.Section == SectionHeader || pe.Section == SectionQuestion {
			if cut != "" {
				t.breakSocket(r.Cookie, cut)
			}
			return
		}
	}
	if m.QDCount == 0 {
		t.stats.NoQuestion++
		return
	}
	now := int64(r.KTime)
	if !m.Response {
		if r.Undelivered {
			return // nobody reads it: no query was made
		}
		k := Key{Client: r.Src, Server: r.Dst, Transport: transport, ID: m.ID, Name: m.Question.Name, Type: m.Question.Type}
		q := query{cookie: r.Cookie}
		if !r.NoOwner {
			q.proc = r.Owner
		}
		dups := t.match.Len()
		old, evicted := t.match.Query(k, now, q)
		if evicted {
			t.unanswered(old)
		} else if t.match.Len() == dups {
			t.stats.Duplicates++
		}
		return
	}
	k := Key{Client: r.Dst, Server: r.Src, Transport: transport, ID: m.ID, Name: m.Question.Name, Type: m.Question.Type}
	p, latency, ok := t.match.Response(k, now)
	if !ok {
		t.stats.Unmatched++
		return
	}
	ev := t.event(p)
	d := ev.DNS
	d.RCode = RCodeName(m.RCode)
	d.Answers = m.Answers
	d.Truncated = m.Truncated
	d.Latency = time.Duration(latency)
	if r.Undelivered {
		d.Undelivered = true
		t.stats.Undelivered++
	} else {
		d.Answered = true
		t.stats.Answered++
	}
	switch {
	case cut != "":
		d.Cut = cut
	case pe != nil:
		d.Malformed = pe.Detail()
	}
	d.AnswersIncomplete = len(m.Answers) < int(m.ANCount)
	t.emit(ev)
}

// event builds the event of pending query p, without its response.
func (t *tracker) event(p Pending[query]) tracep.Event {
	return tracep.Event{
		Kind:  tracep.KindDNS,
		KTime: uint64(p.Time),
		Time:  t.clock(uint64(p.Time)),
		Proc:  p.Value.proc,
		DNS: &tracep.DNS{
			ID:        p.Key.ID,
			Name:      p.Key.Name,
			Type:      TypeName(p.Key.Type),
			Transport: p.Key.Transport,
			Client:    p.Key.Client,
			Server:    p.Key.Server,
		},
	}
}

func (t *tracker) unanswered(p Pending[query]) {
	t.stats.Unanswered++
	ev := t.event(p)
	// A response on its socket that could not be followed may have been
	// the answer.
	ev.DNS.Cut = t.broken[p.Value.cookie]
	t.emit(ev)
}

// expire reports the queries that have waited for their response for the
// timeout at now (kernel monotonic nanoseconds), and forgets TCP streams
// idle for long.
func (t *tracker) expire(now int64) {
	t.scratch = t.match.Expire(now, t.timeout, t.scratch[:0])
	for _, p := range t.scratch {
		t.unanswered(p)
	}
	clear(t.scratch)
	for k, s := range t.streams {
		if now-int64(s.last) > streamIdle {
			t.endStream(k, "connection idle")
		}
	}
}

// waiting reports whether expire has anything to look at: a pending query
// or a stream.
func (t *tracker) waiting() bool { return t.match.Len() > 0 || len(t.streams) > 0 }

// drain reports every pending query as unanswered, at the end of a trace,
// after the messages the TCP streams were still assembling.
func (t *tracker) drain() {
	for k := range t.streams {
		t.endStream(k, "trace ended")
	}
	t.scratch = t.match.Drain(t.scratch[:0])
	for _, p := range t.scratch {
		t.unanswered(p)
	}
	clear(t.scratch)
	clear(t.streams)
}
