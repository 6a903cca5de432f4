package dnstrace

import (
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
	// Duplicates counts queries seen again with the same addresses, ID and
	// question: a packet seen at both ends of the loopback, or a resent
	// query. They are reported once.
	Duplicates uint64
	// Unmatched counts responses with no pending query: the second copy
	// of a loopback response, or the answer to a query sent before the
	// trace started or already reported unanswered.
	Unmatched uint64
	// Malformed counts messages the parser rejected (see Parse); they are
	// not reported, so a query whose only response was malformed is
	// reported unanswered.
	Malformed uint64
	// SnapTruncated counts UDP messages longer than the snap length, of
	// which only the first octets were captured and decoded.
	SnapTruncated uint64
	// StreamErrors counts TCP streams that lost their place: a gap in the
	// sequence numbers, a segment larger than the capture, or a length
	// prefix that cannot be right (ErrFraming).
	StreamErrors uint64
}

// query is what the tracker keeps about a pending query.
type query struct {
	proc tracep.Proc
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
}

// maxStreams bounds the TCP streams followed at once; streamIdle is how
// long one may stay silent (without FIN or RST seen) before it is dropped.
const (
	maxStreams = 4096
	streamIdle = int64(2 * time.Minute)
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
	}
}

// feed takes one record.
func (t *tracker) feed(r *record) {
	t.stats.Records++
	if r.Proto == protoUDP {
		if r.truncated() {
			t.stats.SnapTruncated++
		}
		t.message(r, r.Payload, "udp", r.truncated())
		return
	}
	t.segment(r)
}

// segment feeds a TCP segment to its stream's reassembler, in sequence
// order: a retransmitted part is skipped, a gap restarts the stream.
func (t *tracker) segment(r *record) {
	k := streamKey{r.Cookie, r.Egress}
	s := t.streams[k]
	if s == nil {
		if len(r.Payload) == 0 {
			return // a FIN or RST of a stream not followed
		}
		if len(t.streams) >= maxStreams {
			t.evictStream()
		}
		s = &stream{next: r.Seq}
		t.streams[k] = s
	}
	s.last = r.KTime
	payload, seq := r.Payload, r.Seq
	switch d := int32(seq - s.next); {
	case r.truncated():
		// Part of the segment is missing: the stream cannot be followed.
		s.r.Reset()
		t.stats.StreamErrors++
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
		s.r.Reset() // segments were missed
		t.stats.StreamErrors++
	}
	if len(payload) > 0 {
		s.next = seq + uint32(len(payload))
		if err := s.r.Feed(payload, func(msg []byte) { t.message(r, msg, "tcp", false) }); err != nil {
			t.stats.StreamErrors++
		}
	} else if int32(seq-s.next) > 0 {
		s.next = seq
	}
	if r.TCPFlags&(tcpFIN|tcpRST) != 0 {
		delete(t.streams, k)
	}
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
// from a TCP stream. snapped says the capture was cut short, so a parse
// error is expected and what was decoded is used.
func (t *tracker) message(r *record, msg []byte, transport string, snapped bool) {
	t.stats.Messages++
	m, err := t.parser.Parse(msg)
	if err != nil {
		// A message that is malformed on the wire is rejected whole; one
		// the capture cut is used as far as it was decoded, provided its
		// question was.
		if !snapped || len(msg) < headerLen || (m.QDCount > 0 && m.Question.Name == "") {
			t.stats.Malformed++
			return
		}
	}
	now := int64(r.KTime)
	if !m.Response {
		k := Key{Client: r.Src, Server: r.Dst, Transport: transport, ID: m.ID, Name: m.Question.Name, Type: m.Question.Type}
		if m.QDCount == 0 {
			k.Name, k.Type = "", 0
		}
		var q query
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
	if m.QDCount == 0 {
		k.Name, k.Type = "", 0
	}
	p, latency, ok := t.match.Response(k, now)
	if !ok {
		t.stats.Unmatched++
		return
	}
	t.stats.Answered++
	ev := t.event(p)
	d := ev.DNS
	d.RCode = RCodeName(m.RCode)
	d.Answers = m.Answers
	d.Truncated = m.Truncated
	d.Answered = true
	d.Latency = time.Duration(latency)
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
	t.emit(t.event(p))
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
			delete(t.streams, k)
		}
	}
}

// drain reports every pending query as unanswered, at the end of a trace.
func (t *tracker) drain() {
	t.scratch = t.match.Drain(t.scratch[:0])
	for _, p := range t.scratch {
		t.unanswered(p)
	}
	clear(t.scratch)
	clear(t.streams)
}
