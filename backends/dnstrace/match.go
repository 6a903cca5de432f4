package dnstrace

import "net/netip"

// Key identifies a query for matching its response: the client and server
// transport addresses, the transport, the message ID and the question.
// Give the same orientation for the query and its response (Client is the
// query's source and the response's destination).
type Key struct {
	Client    netip.AddrPort
	Server    netip.AddrPort
	Transport string // "udp" or "tcp"
	ID        uint16
	// Name is the question name in presentation form. It is compared
	// without regard to ASCII case, as DNS compares names (RFC 4343), so a
	// server that does not echo a 0x20-randomised query's case still
	// matches; the Pending keeps the query's spelling.
	Name string
	Type uint16
}

// Pending is a query waiting for its response.
type Pending[T any] struct {
	Key Key
	// Time is when the query was first seen, in the caller's nanoseconds.
	Time int64
	// Value is what the caller attached to the query when it was first seen.
	Value T
	// Dups counts the later sightings of the same query (a packet seen on
	// both ends of the loopback, or a retransmission with the same ID); they
	// do not change Time or Value.
	Dups int
}

// DefaultMatcherSize is the capacity of a Matcher made with size 0.
const DefaultMatcherSize = 4096

// mkey is Key with the name in lower case, the index of the table.
type mkey struct {
	client, server netip.AddrPort
	transport      string
	id, typ        uint16
	name           string
}

func makeKey(k Key) mkey {
	return mkey{k.Client, k.Server, k.Transport, k.ID, k.Type, asciiLower(k.Name)}
}

type mnode[T any] struct {
	p          Pending[T]
	key        mkey
	prev, next int32 // insertion order; -1 ends
}

// Matcher pairs DNS responses with their queries. It is a table of pending
// queries bounded to a fixed size, kept in the order they were first seen:
// when it is full the oldest is evicted to make room (and counted). It does
// no I/O and reads no clock: the caller passes timestamps, in nanoseconds
// of any monotonic clock (the kernel's, for a tracer).
//
// A Matcher must not be used concurrently.
type Matcher[T any] struct {
	size    int
	index   map[mkey]int32
	nodes   []mnode[T]
	free    []int32
	head    int32 // oldest
	tail    int32 // newest
	evicted uint64
}

// NewMatcher returns a Matcher holding at most size pending queries
// (DefaultMatcherSize when size <= 0).
func NewMatcher[T any](size int) *Matcher[T] {
	if size <= 0 {
		size = DefaultMatcherSize
	}
	return &Matcher[T]{size: size, index: make(map[mkey]int32), head: -1, tail: -1}
}

// Query records a query seen at now carrying v. If the same query is already
// pending it only counts a duplicate, keeping the first Time and Value.
// If the table is full, the oldest pending query is evicted and returned
// with evicted set, so that the caller can report it as unanswered.
func (m *Matcher[T]) Query(k Key, now int64, v T) (old Pending[T], evicted bool) {
	mk := makeKey(k)
	if i, ok := m.index[mk]; ok {
		m.nodes[i].p.Dups++
		return Pending[T]{}, false
	}
	if len(m.index) >= m.size {
		old, evicted = m.remove(m.head), true
		m.evicted++
	}
	var i int32
	if n := len(m.free); n > 0 {
		i = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		m.nodes = append(m.nodes, mnode[T]{})
		i = int32(len(m.nodes) - 1)
	}
	m.nodes[i] = mnode[T]{p: Pending[T]{Key: k, Time: now, Value: v}, key: mk, prev: m.tail, next: -1}
	if m.tail >= 0 {
		m.nodes[m.tail].next = i
	} else {
		m.head = i
	}
	m.tail = i
	m.index[mk] = i
	return old, evicted
}

// Response looks up the query a response seen at now answers and, when one
// is pending, removes it and returns it with the latency (now minus the
// query's first sighting, never negative).
//
// A response without a question (some FORMERR and NOTIMP responses have
// none), given with an empty Name, answers nothing: a response is never
// paired by its ID alone.
func (m *Matcher[T]) Response(k Key, now int64) (q Pending[T], latency int64, ok bool) {
	if k.Name == "" {
		return Pending[T]{}, 0, false
	}
	i, found := m.index[makeKey(k)]
	if !found {
		return Pending[T]{}, 0, false
	}
	q = m.remove(i)
	return q, max(now-q.Time, 0), true
}

// Expire removes the queries first seen at or before now-timeout and
// appends them to dst, oldest first, for the caller to report as
// unanswered. It walks the table in the order queries were first seen and
// stops at the first one still young, so a query recorded with a timestamp
// older than an earlier one's waits for that one to expire.
func (m *Matcher[T]) Expire(now, timeout int64, dst []Pending[T]) []Pending[T] {
	for m.head >= 0 && now-m.nodes[m.head].p.Time >= timeout {
		dst = append(dst, m.remove(m.head))
	}
	return dst
}

// Drain removes every pending query and appends them to dst, oldest first.
func (m *Matcher[T]) Drain(dst []Pending[T]) []Pending[T] {
	for m.head >= 0 {
		dst = append(dst, m.remove(m.head))
	}
	return dst
}

// Len returns the number of pending queries.
func (m *Matcher[T]) Len() int { return len(m.index) }

// Evicted returns the number of queries evicted because the table was full.
func (m *Matcher[T]) Evicted() uint64 { return m.evicted }

func (m *Matcher[T]) remove(i int32) Pending[T] {
	n := &m.nodes[i]
	p := n.p
	if n.prev >= 0 {
		m.nodes[n.prev].next = n.next
	} else {
		m.head = n.next
	}
	if n.next >= 0 {
		m.nodes[n.next].prev = n.prev
	} else {
		m.tail = n.prev
	}
	delete(m.index, n.key)
	*n = mnode[T]{} // drop references held by the value
	m.free = append(m.free, i)
	return p
}

// asciiLower returns s with ASCII letters in lower case, without allocating
// when there is none in upper case.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
