package dnstrace

import (
	"encoding/binary"
	"strconv"
	"sync"

	"github.com/tracep/tracep/tracep"
)

// headerLen is the size of the fixed DNS header.
const headerLen = 12

// Bound on the presentation text of a message: textFloor plus textRatio
// times its size. Names can expand 70-fold (a one-octet label and a pointer
// to a 255-octet name of octets that need escaping make 4 octets of
// message into 1 KiB of text); real messages stay below 16-fold.
const (
	textFloor = 64 << 10
	textRatio = 32
)

// Message is a decoded DNS message: the header, the first question, the
// answer section, the SOA records of the authority section and the EDNS
// parameters of the OPT record.
type Message struct {
	ID uint16

	Response           bool  // QR: a response rather than a query
	Opcode             uint8 // 0 for a standard query; see OpcodeName
	Authoritative      bool  // AA
	Truncated          bool  // TC: the response did not fit the transport
	RecursionDesired   bool  // RD
	RecursionAvailable bool  // RA
	AuthenticData      bool  // AD
	CheckingDisabled   bool  // CD
	// RCode is the response code, combining the header's four bits with the
	// eight bits of EDNS extended rcode when an OPT record is present, so
	// that BADVERS is 16; see RCodeName.
	RCode uint16

	// Section counts as the header gives them; Parse checks every record
	// they announce is present.
	QDCount, ANCount, NSCount, ARCount uint16

	// Question is the first question; zero when QDCount is 0. Further
	// questions are checked but not kept.
	Question Question

	// Answers is the answer section, in message order. Type is a mnemonic
	// (TypeName) and Data the presentation form of the record data.
	Answers []tracep.DNSRecord
	// SOA holds the SOA records of the authority section, which an
	// NXDOMAIN or NODATA response carries to give the negative-caching TTL.
	// The other authority records, and the additional section, are checked
	// for bounds and not kept.
	SOA []tracep.DNSRecord

	// EDNS holds the OPT record's parameters; EDNS.Present is false when
	// the message has none.
	EDNS EDNS
}

// Question is one entry of the question section.
type Question struct {
	// Name is in presentation form, case preserved as sent.
	Name  string
	Type  uint16 // see TypeName
	Class uint16 // see ClassName
}

// EDNS is what an OPT pseudo-record (RFC 6891) says.
type EDNS struct {
	Present bool
	// UDPSize is the requester's UDP payload size (the OPT class field).
	UDPSize uint16
	// ExtendedRCode is the upper eight bits of the response code, already
	// folded into Message.RCode.
	ExtendedRCode uint8
	Version       uint8
	DO            bool // DNSSEC OK
}

// Sections a recorded record comes from.
const (
	secAnswer uint8 = iota
	secAuthority
	secAdditional
)

// recSpan is a kept record while the message is being decoded: its text
// lives in Parser.buf until Parse turns the buffer into one string.
type recSpan struct {
	sec        uint8
	typ        uint16
	ttl        uint32
	name, data span
}

// Parser decodes DNS messages, reusing its scratch buffers from one message
// to the next. The zero value is ready to use; a Parser must not be used
// concurrently. The Messages it returns own their memory: they stay valid
// after later calls.
type Parser struct {
	msg  []byte
	buf  []byte    // presentation text of all kept names and data
	recs []recSpan // kept records
	memo []memoEntry
	gen  uint32 // generation of the memo entries of the current message
	runs [maxPointers + 1]run
}

// parsers recycles Parsers for Parse.
var parsers = sync.Pool{New: func() any { return new(Parser) }}

// Parse decodes one DNS message; see Parser.Parse. It is safe for concurrent
// use: it borrows a Parser from a pool.
func Parse(msg []byte) (Message, error) {
	p := parsers.Get().(*Parser)
	m, err := p.Parse(msg)
	parsers.Put(p)
	return m, err
}

// maxRetained is the size beyond which a Parser lets a scratch buffer go
// rather than keep it for the next message.
const maxRetained = 64 << 10

// Parse decodes one DNS message (a UDP payload, or a TCP message without its
// length prefix).
//
// It rejects, with an error matching ErrMalformed (a *ParseError), a message
// that is shorter than its counts claim, has a name that breaks the rules of
// RFC 1035 (see the package documentation), has record data whose length
// does not match what its type needs, has malformed record data of a type
// it renders, or whose names would expand beyond the bound the package
// documentation gives. On error the Message still holds what was decoded
// before the fault: the header as soon as the message has 12 octets, and
// the question and the complete records that preceded the fault. Octets
// after the last section are ignored.
//
// All the strings of one Message share one allocation, proportional to the
// message: a name is at most 255 octets (1020 characters once escaped), and
// a name that is wholly a pointer to one decoded before shares its text.
// Parsing takes time linear in the message: the suffix at each pointer
// target is decoded once per message.
func (p *Parser) Parse(msg []byte) (Message, error) {
	p.msg = msg
	p.buf = p.buf[:0]
	p.recs = p.recs[:0]
	if len(p.memo) < len(msg) {
		p.memo = make([]memoEntry, max(len(msg), 512))
	}
	if p.gen++; p.gen == 0 { // wrapped: forget every entry
		clear(p.memo)
		p.gen = 1
	}
	var m Message
	qname := span{-1, -1}
	err := p.parse(&m, &qname)
	p.finish(&m, qname)
	p.msg = nil
	if cap(p.buf) > maxRetained {
		p.buf = nil
	}
	if cap(p.recs) > maxRetained/16 {
		p.recs = nil
	}
	if len(p.memo) > maxRetained/16 {
		p.memo = nil
	}
	return m, err
}

func (p *Parser) parse(m *Message, qname *span) error {
	msg := p.msg
	if len(msg) < headerLen {
		return in(malformed(len(msg), "message shorter than its 12-octet header"), SectionHeader, 0)
	}
	m.ID = be16(msg[0:])
	flags := be16(msg[2:])
	m.Response = flags&0x8000 != 0
	m.Opcode = uint8(flags>>11) & 0xF
	m.Authoritative = flags&0x0400 != 0
	m.Truncated = flags&0x0200 != 0
	m.RecursionDesired = flags&0x0100 != 0
	m.RecursionAvailable = flags&0x0080 != 0
	m.AuthenticData = flags&0x0020 != 0
	m.CheckingDisabled = flags&0x0010 != 0
	m.RCode = flags & 0xF
	m.QDCount = be16(msg[4:])
	m.ANCount = be16(msg[6:])
	m.NSCount = be16(msg[8:])
	m.ARCount = be16(msg[10:])

	off := headerLen
	for i := range int(m.QDCount) {
		text, next, err := p.name(off, len(msg), i == 0)
		if err != nil {
			return in(err, SectionQuestion, i+1)
		}
		if next+4 > len(msg) {
			return in(malformed(next, "truncated question"), SectionQuestion, i+1)
		}
		if i == 0 {
			*qname = text
			m.Question.Type = be16(msg[next:])
			m.Question.Class = be16(msg[next+2:])
		}
		off = next + 4
	}
	for _, sec := range [...]struct {
		n    uint16
		sec  uint8
		name string
	}{{m.ANCount, secAnswer, SectionAnswer}, {m.NSCount, secAuthority, SectionAuthority}, {m.ARCount, secAdditional, SectionAdditional}} {
		for i := range int(sec.n) {
			var err error
			if off, err = p.record(m, off, sec.sec); err != nil {
				return in(err, sec.name, i+1)
			}
		}
	}
	return nil
}

// record decodes the resource record at off and returns the offset after it.
func (p *Parser) record(m *Message, off int, sec uint8) (int, error) {
	msg := p.msg
	name, next, err := p.name(off, len(msg), sec == secAnswer)
	if err != nil {
		return 0, err
	}
	if next+10 > len(msg) {
		return 0, malformed(next, "truncated record header")
	}
	typ := be16(msg[next:])
	class := be16(msg[next+2:])
	ttl := be32(msg[next+4:])
	rd := next + 10
	end := rd + int(be16(msg[next+8:]))
	if end > len(msg) {
		return 0, malformed(next+8, "record data overruns the message")
	}
	switch {
	case typ == TypeOPT:
		if sec != secAdditional {
			return 0, malformed(off, "OPT record outside the additional section")
		}
		return end, p.edns(m, off, class, ttl, rd, end)
	case sec == secAuthority && typ == TypeSOA:
		if name, _, err = p.name(off, len(msg), true); err != nil {
			return 0, err
		}
	case sec != secAnswer:
		return end, nil
	}
	data, err := p.rdata(typ, class, rd, end)
	if err != nil {
		return 0, err
	}
	if len(p.buf) > textFloor+textRatio*len(msg) {
		return 0, malformed(off, "names expand beyond "+strconv.Itoa(textRatio)+" times the message size")
	}
	p.recs = append(p.recs, recSpan{sec: sec, typ: typ, ttl: ttl, name: name, data: data})
	return end, nil
}

// edns decodes an OPT record's fixed fields and checks its options.
func (p *Parser) edns(m *Message, off int, class uint16, ttl uint32, rd, end int) error {
	if m.EDNS.Present {
		return malformed(off, "more than one OPT record")
	}
	for i := rd; i < end; {
		if i+4 > end {
			return malformed(i, "truncated EDNS option")
		}
		if i+4+int(be16(p.msg[i+2:])) > end {
			return malformed(i, "EDNS option overruns its record")
		}
		i += 4 + int(be16(p.msg[i+2:]))
	}
	m.EDNS = EDNS{
		Present:       true,
		UDPSize:       class,
		ExtendedRCode: uint8(ttl >> 24),
		Version:       uint8(ttl >> 16),
		DO:            ttl&0x8000 != 0,
	}
	m.RCode |= uint16(ttl>>24) << 4
	return nil
}

// finish turns the text buffer into one string and the kept records into
// the Message's slices.
func (p *Parser) finish(m *Message, qname span) {
	if len(p.buf) == 0 {
		return
	}
	s := string(p.buf)
	if qname.start >= 0 {
		m.Question.Name = s[qname.start:qname.end]
	}
	nAns := 0
	for _, r := range p.recs {
		if r.sec == secAnswer {
			nAns++
		}
	}
	if nAns > 0 {
		m.Answers = make([]tracep.DNSRecord, 0, nAns)
	}
	if n := len(p.recs) - nAns; n > 0 {
		m.SOA = make([]tracep.DNSRecord, 0, n)
	}
	for _, r := range p.recs {
		rr := tracep.DNSRecord{
			Name: s[r.name.start:r.name.end],
			Type: TypeName(r.typ),
			TTL:  r.ttl,
			Data: s[r.data.start:r.data.end],
		}
		if r.sec == secAnswer {
			m.Answers = append(m.Answers, rr)
		} else {
			m.SOA = append(m.SOA, rr)
		}
	}
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
