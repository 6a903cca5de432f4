package dnstrace

import (
	"encoding/binary"
	"strings"
)

// builder lays out DNS messages by hand for the tests, so that they can be
// as wrong as a test needs.
type builder struct{ b []byte }

// Header flag bits.
const (
	fQR = 0x8000
	fAA = 0x0400
	fTC = 0x0200
	fRD = 0x0100
	fRA = 0x0080
	fAD = 0x0020
	fCD = 0x0010
)

func newMsg(id, flags uint16, qd, an, ns, ar int) *builder {
	b := &builder{}
	return b.u16(id).u16(flags).u16(uint16(qd)).u16(uint16(an)).u16(uint16(ns)).u16(uint16(ar))
}

func (b *builder) off() int { return len(b.b) }

func (b *builder) u8(v ...byte) *builder { b.b = append(b.b, v...); return b }

func (b *builder) u16(v uint16) *builder { b.b = binary.BigEndian.AppendUint16(b.b, v); return b }

func (b *builder) u32(v uint32) *builder { b.b = binary.BigEndian.AppendUint32(b.b, v); return b }

func (b *builder) str(s string) *builder { b.b = append(b.b, s...); return b }

// name writes a dot-separated name (no escapes) ending with the root label;
// "." and "" are the root.
func (b *builder) name(s string) *builder {
	if s == "." || s == "" {
		return b.u8(0)
	}
	return b.labels(strings.Split(s, ".")...).u8(0)
}

// labels writes raw labels, without the root label.
func (b *builder) labels(ls ...string) *builder {
	for _, l := range ls {
		b.u8(byte(len(l))).str(l)
	}
	return b
}

// ptr writes a compression pointer to off.
func (b *builder) ptr(off int) *builder { return b.u16(0xC000 | uint16(off)) }

// q writes a question's type and class after its name.
func (b *builder) q(typ uint16) *builder { return b.u16(typ).u16(ClassIN) }

// rr writes type, class, TTL, then the record data fn writes, preceded by
// its length.
func (b *builder) rr(typ, class uint16, ttl uint32, fn func(*builder)) *builder {
	b.u16(typ).u16(class).u32(ttl)
	at := len(b.b)
	b.u16(0)
	if fn != nil {
		fn(b)
	}
	binary.BigEndian.PutUint16(b.b[at:], uint16(len(b.b)-at-2))
	return b
}

// rrLen writes a record header whose rdlength is n, whatever follows.
func (b *builder) rrLen(typ, class uint16, ttl uint32, n uint16) *builder {
	return b.u16(typ).u16(class).u32(ttl).u16(n)
}

// opt writes an OPT record with the root owner name.
func (b *builder) opt(udp uint16, ext, version uint8, do bool, fn func(*builder)) *builder {
	ttl := uint32(ext)<<24 | uint32(version)<<16
	if do {
		ttl |= 0x8000
	}
	return b.u8(0).rr(TypeOPT, udp, ttl, fn)
}

func (b *builder) bytes() []byte { return b.b }

// response starts a response to a query for qname/qtype with an answers
// answer records (and ns, ar); the question name is at offset 12.
func response(qname string, qtype uint16, rcode uint16, an, ns, ar int) *builder {
	return newMsg(0xbeef, fQR|fRD|fRA|rcode, 1, an, ns, ar).name(qname).q(qtype)
}
