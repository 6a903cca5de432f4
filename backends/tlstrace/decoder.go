package tlstrace

import (
	"math"
	"net/netip"

	"github.com/tracep/tracep/tracep"
)

// maxTracked bounds each table of a Decoder; the oldest entries go first.
const maxTracked = 1 << 16

// Decoder turns the raw records of one session into events. It remembers
// what earlier records said about a connection, so that later events on it
// carry it: the server name of the ClientHello written on its socket, and
// the server name a library was given for it (SSL_set_tlsext_host_name,
// gnutls_server_name_set). It does no I/O and sets KTime but neither Time
// nor Seq. It is not safe for concurrent use.
type Decoder struct {
	// libSNI is the name a library call set, by process, library and the
	// library's connection pointer; forgotten when the library frees it.
	libSNI tracked[connKey]
	// wireSNI is the name of the ClientHello written on a socket, by the
	// socket's cookie.
	wireSNI tracked[uint64]
	// peerSNI is the same by network namespace and addresses, as the
	// client's socket has them: a server's socket finds the name its
	// client asked for with the addresses reversed.
	peerSNI tracked[sockKey]
}

type connKey struct {
	pid  int32
	lib  string
	conn uint64
}

type sockKey struct {
	netns    uint32
	src, dst netip.AddrPort
}

// NewDecoder returns a Decoder with no history.
func NewDecoder() *Decoder {
	return &Decoder{libSNI: newTracked[connKey](maxTracked), wireSNI: newTracked[uint64](maxTracked), peerSNI: newTracked[sockKey](maxTracked)}
}

// Decode parses one raw record. It returns the event the record makes, or
// ok false for records that only inform later events (a server name set, a
// connection freed). It never panics, whatever rec holds.
func (d *Decoder) Decode(rec []byte) (ev tracep.Event, ok bool, err error) {
	r, err := parseRecord(rec)
	if err != nil {
		return tracep.Event{}, false, err
	}
	ck := connKey{pid: r.proc.PID, lib: r.lib, conn: r.conn}
	hasAddr := r.flags&flagAddr != 0
	sk := sockKey{netns: r.netns, src: r.src, dst: r.dst}

	switch r.typ {
	case recSNI:
		d.libSNI.put(ck, string(r.data))
		return tracep.Event{}, false, nil
	case recFree:
		d.libSNI.del(ck)
		return tracep.Event{}, false, nil
	case recHello:
		sni, _ := ParseClientHello(r.data) // a ClientHello without a name still is a handshake
		d.wireSNI.put(r.cookie, sni)
		d.peerSNI.put(sk, sni)
		if r.conn != 0 && sni != "" {
			if _, known := d.libSNI.get(ck); !known {
				d.libSNI.put(ck, sni)
			}
		}
		ev = tracep.Event{Kind: tracep.KindTLS, KTime: r.ktime, Proc: r.proc, TLS: &tracep.TLS{
			Op:       tracep.TLSOpHandshake,
			Library:  LibWire,
			Function: "ClientHello",
			SNI:      sni,
			Len:      len(r.data),
			Src:      r.src,
			Dst:      r.dst,
			Cookie:   r.cookie,
		}}
		return ev, true, nil
	}

	// recData
	x := &tracep.TLS{
		Op:       tracep.TLSOpWrite,
		Library:  r.lib,
		Function: funcNames[r.fn],
		Len:      clampInt(r.len),
	}
	if r.flags&flagRX != 0 {
		x.Op = tracep.TLSOpRead
	}
	if len(r.data) > 0 {
		x.Data = append([]byte(nil), r.data...)
	}
	x.Truncated = uint64(len(x.Data)) < r.len
	if hasAddr {
		x.Src, x.Dst, x.Cookie = r.src, r.dst, r.cookie
	}
	// The name sent on this very socket, else the one the library was
	// given, else (a server) the one its peer sent.
	if sni, _ := d.wireSNI.get(r.cookie); hasAddr && sni != "" {
		x.SNI = sni
	} else if sni, _ := d.libSNI.get(ck); sni != "" {
		x.SNI = sni
	} else if hasAddr {
		x.SNI, _ = d.peerSNI.get(sockKey{netns: r.netns, src: r.dst, dst: r.src})
	}
	return tracep.Event{Kind: tracep.KindTLS, KTime: r.ktime, Proc: r.proc, TLS: x}, true, nil
}

func clampInt(n uint64) int {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(n)
}

// tracked is a map bounded to a number of entries, forgetting the oldest
// insertions first.
type tracked[K comparable] struct {
	m     map[K]string
	order []K // ring of insertions
	next  int
	max   int
}

func newTracked[K comparable](max int) tracked[K] {
	return tracked[K]{m: make(map[K]string), order: make([]K, 0, 64), max: max}
}

func (t *tracked[K]) get(k K) (string, bool) {
	v, ok := t.m[k]
	return v, ok
}

func (t *tracked[K]) put(k K, v string) {
	if _, ok := t.m[k]; !ok {
		if len(t.order) < t.max {
			t.order = append(t.order, k)
		} else {
			// The slot's key may have been deleted, or put again since;
			// either way it is the oldest insertion.
			delete(t.m, t.order[t.next])
			t.order[t.next] = k
			t.next = (t.next + 1) % t.max
		}
	}
	t.m[k] = v
}

func (t *tracked[K]) del(k K) { delete(t.m, k) }
