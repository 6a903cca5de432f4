package dnstrace

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// typicalA is a response to www.example.test/A with two addresses and an
// OPT record, compressed as resolvers send it.
func typicalA() []byte {
	return response("www.example.test", TypeA, 0, 2, 0, 1).
		ptr(12).rr(TypeA, ClassIN, 300, func(b *builder) { b.u8(192, 0, 2, 1) }).
		ptr(12).rr(TypeA, ClassIN, 300, func(b *builder) { b.u8(192, 0, 2, 2) }).
		opt(1232, 0, 0, false, nil).bytes()
}

// typicalAAAA is the same for AAAA.
func typicalAAAA() []byte {
	addr := func(last byte) func(*builder) {
		return func(b *builder) { b.u8(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last) }
	}
	return response("www.example.test", TypeAAAA, 0, 2, 0, 1).
		ptr(12).rr(TypeAAAA, ClassIN, 300, addr(1)).
		ptr(12).rr(TypeAAAA, ClassIN, 300, addr(2)).
		opt(1232, 0, 0, false, nil).bytes()
}

// cnameChain is www.example.test → e1.cdn.test → e2.cdn.test → two A,
// every name compressed against an earlier one.
func cnameChain() []byte {
	b := response("www.example.test", TypeA, 0, 4, 0, 1)
	var t1, t2 int
	b.ptr(12).rr(TypeCNAME, ClassIN, 3600, func(b *builder) { t1 = b.off(); b.labels("e1", "cdn").ptr(24) })
	b.ptr(t1).rr(TypeCNAME, ClassIN, 60, func(b *builder) { t2 = b.off(); b.labels("e2").ptr(t1 + 3) })
	b.ptr(t2).rr(TypeA, ClassIN, 20, func(b *builder) { b.u8(192, 0, 2, 7) })
	b.ptr(t2).rr(TypeA, ClassIN, 20, func(b *builder) { b.u8(192, 0, 2, 8) })
	return b.opt(1232, 0, 0, true, nil).bytes()
}

func TestParseTypicalResponse(t *testing.T) {
	m, err := Parse(typicalA())
	require.NoError(t, err)
	require.Equal(t, Message{
		ID:                 0xbeef,
		Response:           true,
		RecursionDesired:   true,
		RecursionAvailable: true,
		QDCount:            1, ANCount: 2, ARCount: 1,
		Question: Question{Name: "www.example.test", Type: TypeA, Class: ClassIN},
		Answers: []tracep.DNSRecord{
			{Name: "www.example.test", Type: "A", TTL: 300, Data: "192.0.2.1"},
			{Name: "www.example.test", Type: "A", TTL: 300, Data: "192.0.2.2"},
		},
		EDNS: EDNS{Present: true, UDPSize: 1232},
	}, m)
	require.Equal(t, "NOERROR", RCodeName(m.RCode))

	m, err = Parse(typicalAAAA())
	require.NoError(t, err)
	require.Equal(t, []tracep.DNSRecord{
		{Name: "www.example.test", Type: "AAAA", TTL: 300, Data: "2001:db8::1"},
		{Name: "www.example.test", Type: "AAAA", TTL: 300, Data: "2001:db8::2"},
	}, m.Answers)
}

func TestParseQuery(t *testing.T) {
	msg := newMsg(0x1234, fRD|fAD, 1, 0, 0, 1).name("example.test").q(TypeHTTPS).
		opt(4096, 0, 0, true, func(b *builder) { b.u16(10).u16(8).u32(1).u32(2) }). // a cookie
		bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.Equal(t, Message{
		ID: 0x1234, RecursionDesired: true, AuthenticData: true,
		QDCount: 1, ARCount: 1,
		Question: Question{Name: "example.test", Type: TypeHTTPS, Class: ClassIN},
		EDNS:     EDNS{Present: true, UDPSize: 4096, DO: true},
	}, m)
}

func TestParseHeaderFlags(t *testing.T) {
	msg := newMsg(7, fQR|fAA|fTC|fRD|fRA|fAD|fCD|5<<11|RCodeRefused, 0, 0, 0, 0).bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.Equal(t, Message{
		ID: 7, Response: true, Opcode: 5, Authoritative: true, Truncated: true,
		RecursionDesired: true, RecursionAvailable: true, AuthenticData: true, CheckingDisabled: true,
		RCode: RCodeRefused,
	}, m)
	require.Equal(t, "UPDATE", OpcodeName(m.Opcode))
	require.Empty(t, m.Question.Name)
}

func TestParseCNAMEChain(t *testing.T) {
	m, err := Parse(cnameChain())
	require.NoError(t, err)
	require.Equal(t, []tracep.DNSRecord{
		{Name: "www.example.test", Type: "CNAME", TTL: 3600, Data: "e1.cdn.test"},
		{Name: "e1.cdn.test", Type: "CNAME", TTL: 60, Data: "e2.cdn.test"},
		{Name: "e2.cdn.test", Type: "A", TTL: 20, Data: "192.0.2.7"},
		{Name: "e2.cdn.test", Type: "A", TTL: 20, Data: "192.0.2.8"},
	}, m.Answers)
	require.True(t, m.EDNS.DO)
}

func TestParseNXDomainWithSOA(t *testing.T) {
	// nope.example.test: "nope" at 12, "example" at 17.
	soa := func(b *builder) {
		b.labels("ns1").ptr(17).labels("hostmaster").ptr(17)
		b.u32(2024010101).u32(7200).u32(3600).u32(1209600).u32(300)
	}
	msg := response("nope.example.test", TypeA, RCodeNXDomain, 0, 2, 1).
		ptr(17).rr(TypeSOA, ClassIN, 300, soa).
		ptr(17).rr(TypeRRSIG, ClassIN, 300, func(b *builder) { b.u8(1, 2, 3) }).
		opt(1232, 0, 0, true, nil).bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.Equal(t, "NXDOMAIN", RCodeName(m.RCode))
	require.Empty(t, m.Answers)
	require.Equal(t, []tracep.DNSRecord{{
		Name: "example.test", Type: "SOA", TTL: 300,
		Data: "ns1.example.test hostmaster.example.test 2024010101 7200 3600 1209600 300",
	}}, m.SOA)
}

func TestParseServFail(t *testing.T) {
	m, err := Parse(response("example.test", TypeA, RCodeServFail, 0, 0, 0).bytes())
	require.NoError(t, err)
	require.Equal(t, RCodeServFail, m.RCode)
	require.Equal(t, "SERVFAIL", RCodeName(m.RCode))
	require.Equal(t, "example.test", m.Question.Name)
	require.Nil(t, m.Answers)
	require.False(t, m.EDNS.Present)
}

func TestParseExtendedRCode(t *testing.T) {
	// BADVERS is 16: header rcode 0, extended rcode 1.
	msg := response("example.test", TypeA, 0, 0, 0, 1).opt(1232, 1, 0, false, nil).bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.Equal(t, RCodeBadVers, m.RCode)
	require.Equal(t, "BADVERS", RCodeName(m.RCode))
	require.Equal(t, EDNS{Present: true, UDPSize: 1232, ExtendedRCode: 1}, m.EDNS)

	// Extended bits combine with the header's: 0x12<<4 | 3.
	msg = response("example.test", TypeA, RCodeNXDomain, 0, 0, 1).opt(512, 0x12, 1, true, nil).bytes()
	m, err = Parse(msg)
	require.NoError(t, err)
	require.Equal(t, uint16(0x123), m.RCode)
	require.Equal(t, "RCODE291", RCodeName(m.RCode))
	require.Equal(t, EDNS{Present: true, UDPSize: 512, ExtendedRCode: 0x12, Version: 1, DO: true}, m.EDNS)
}

func TestParseTruncatedBit(t *testing.T) {
	msg := newMsg(1, fQR|fTC|fRD|fRA, 1, 0, 0, 0).name("big.example.test").q(TypeTXT).bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.True(t, m.Truncated)
	require.Equal(t, "big.example.test", m.Question.Name)
}

func TestParseMixedCase(t *testing.T) {
	msg := response("wWw.ExAmPlE.TeSt", TypeA, 0, 1, 0, 0).
		ptr(12).rr(TypeA, ClassIN, 1, func(b *builder) { b.u8(192, 0, 2, 1) }).bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.Equal(t, "wWw.ExAmPlE.TeSt", m.Question.Name)
	require.Equal(t, "wWw.ExAmPlE.TeSt", m.Answers[0].Name)
}

func TestParseNameEscaping(t *testing.T) {
	msg := newMsg(1, 0, 1, 0, 0, 0).labels("a.b", "\x00\x7f \\\"~", "caf\xc3\xa9").name("test").q(TypeA).bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.Equal(t, `a\.b.\000\127\032\\"~.caf\195\169.test`, m.Question.Name)

	m, err = Parse(newMsg(1, 0, 1, 0, 0, 0).name(".").q(TypeNS).bytes())
	require.NoError(t, err)
	require.Equal(t, ".", m.Question.Name)
}

func TestParseSeveralQuestions(t *testing.T) {
	msg := newMsg(1, 0, 2, 0, 0, 0).name("one.test").q(TypeA).labels("two").ptr(16).q(TypeAAAA).bytes()
	m, err := Parse(msg)
	require.NoError(t, err)
	require.Equal(t, uint16(2), m.QDCount)
	require.Equal(t, Question{Name: "one.test", Type: TypeA, Class: ClassIN}, m.Question)
}

type recordCase struct {
	name  string
	typ   uint16
	class uint16
	rdata func(*builder)
	want  string
}

// recordMsg is a response to example.test with one answer of the case's
// type and data.
func (tt recordCase) msg() []byte {
	return response("example.test", tt.typ, 0, 1, 0, 0).ptr(12).rr(tt.typ, tt.class, 42, tt.rdata).bytes()
}

func recordCases() []recordCase {
	const q = 12 // the question name, example.test
	return []recordCase{
		{"A", TypeA, ClassIN, func(b *builder) { b.u8(192, 0, 2, 1) }, "192.0.2.1"},
		{"AAAA", TypeAAAA, ClassIN, func(b *builder) {
			b.u8(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53)
		}, "2001:db8::53"},
		{"AAAA v4-mapped", TypeAAAA, ClassIN, func(b *builder) {
			b.u8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1)
		}, "::ffff:192.0.2.1"},
		{"CNAME", TypeCNAME, ClassIN, func(b *builder) { b.labels("www").ptr(q) }, "www.example.test"},
		{"CNAME uncompressed", TypeCNAME, ClassIN, func(b *builder) { b.name("other.test") }, "other.test"},
		{"NS", TypeNS, ClassIN, func(b *builder) { b.labels("ns1").ptr(q) }, "ns1.example.test"},
		{"PTR", TypePTR, ClassIN, func(b *builder) { b.name("host.example.test") }, "host.example.test"},
		{"DNAME", TypeDNAME, ClassIN, func(b *builder) { b.name("example.net") }, "example.net"},
		{"CNAME to root", TypeCNAME, ClassIN, func(b *builder) { b.u8(0) }, "."},
		{"MX", TypeMX, ClassIN, func(b *builder) { b.u16(10).labels("mail").ptr(q) }, "10 mail.example.test"},
		{"MX to a decoded name", TypeMX, ClassIN, func(b *builder) { b.u16(5).ptr(q) }, "5 example.test"},
		{"MX null", TypeMX, ClassIN, func(b *builder) { b.u16(0).u8(0) }, "0 ."},
		{"TXT", TypeTXT, ClassIN, func(b *builder) {
			b.u8(11).str("hello world").u8(7).str("a\"b\\c\x01\xff").u8(0)
		}, `"hello world" "a\"b\\c\001\255" ""`},
		{"TXT empty", TypeTXT, ClassIN, func(b *builder) {}, ""},
		{"SRV", TypeSRV, ClassIN, func(b *builder) { b.u16(10).u16(20).u16(443).name("srv.example.test") },
			"10 20 443 srv.example.test"},
		{"SOA", TypeSOA, ClassIN, func(b *builder) {
			b.labels("ns1").ptr(q).labels("host.master").ptr(q)
			b.u32(1).u32(2).u32(3).u32(4).u32(4294967295)
		}, `ns1.example.test host\.master.example.test 1 2 3 4 4294967295`},
		{"SOA compressed", TypeSOA, ClassIN, func(b *builder) { b.ptr(q).ptr(q).u32(1).u32(2).u32(3).u32(4).u32(5) },
			"example.test example.test 1 2 3 4 5"},
		{"CAA", TypeCAA, ClassIN, func(b *builder) { b.u8(0, 5).str("issue").str("letsencrypt.org") },
			`0 issue "letsencrypt.org"`},
		{"CAA critical escaped", TypeCAA, ClassIN, func(b *builder) { b.u8(128, 5).str("iodef").str("mailto:\"x\"") },
			`128 iodef "mailto:\"x\""`},
		{"CAA empty value", TypeCAA, ClassIN, func(b *builder) { b.u8(0, 9).str("issuewild") },
			`0 issuewild ""`},
		{"HTTPS", TypeHTTPS, ClassIN, func(b *builder) {
			b.u16(1).u8(0)
			b.u16(svcMandatory).u16(4).u16(svcALPN).u16(svcPort)
			b.u16(svcALPN).u16(6).u8(2).str("h2").u8(2).str("h3")
			b.u16(svcNoDefaultALPN).u16(0)
			b.u16(svcPort).u16(2).u16(8443)
			b.u16(svcIPv4Hint).u16(8).u8(192, 0, 2, 1, 192, 0, 2, 2)
			b.u16(svcECH).u16(3).u8(1, 2, 3)
			b.u16(svcIPv6Hint).u16(16).u8(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
			b.u16(svcDoHPath).u16(16).str("/dns-query{?dns}")
			b.u16(svcOHTTP).u16(0)
			b.u16(65000).u16(3).str("a b")
			b.u16(65001).u16(0)
		}, `1 . mandatory=alpn,port alpn=h2,h3 no-default-alpn port=8443 ipv4hint=192.0.2.1,192.0.2.2 ` +
			`ech=AQID ipv6hint=2001:db8::1 dohpath="/dns-query{?dns}" ohttp key65000="a b" key65001`},
		{"HTTPS alpn escaping", TypeHTTPS, ClassIN, func(b *builder) {
			b.u16(1).name("svc.example.test")
			b.u16(svcALPN).u16(9).u8(3).str("a,b").u8(4).str("c\\ \"")
		}, `1 svc.example.test alpn=a\\,b,c\\\\\032\034`},
		{"SVCB alias", TypeSVCB, ClassIN, func(b *builder) { b.u16(0).labels("svc").ptr(q) }, "0 svc.example.test"},
		{"DS generic", TypeDS, ClassIN, func(b *builder) { b.u8(0x01, 0x02, 0xab, 0xff) }, `\# 4 0102abff`},
		{"unknown empty", 65280, ClassIN, func(b *builder) {}, `\# 0`},
		{"A in class CH", TypeA, ClassCH, func(b *builder) { b.u16(0x1234).u8(0) }, `\# 3 123400`},
		{"class NONE", TypeA, ClassNONE, func(b *builder) {}, `\# 0`},
		{"class ANY", TypeMX, ClassANY, func(b *builder) {}, `\# 0`},
		{"TXT in class CH", TypeTXT, ClassCH, func(b *builder) { b.u8(4).str("bind") }, `"bind"`},
	}
}

func TestParseRecordData(t *testing.T) {
	tests := recordCases()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.msg())
			require.NoError(t, err)
			require.Equal(t, []tracep.DNSRecord{
				{Name: "example.test", Type: TypeName(tt.typ), TTL: 42, Data: tt.want},
			}, m.Answers)
		})
	}
}

// pointerChain returns a response whose first answer (a NULL record) holds
// n pointers, each to the one before, the first to the question name, and
// whose second answer has a pointer to the last as owner: reading that
// owner follows n+1 pointers.
func pointerChain(n int) []byte {
	b := response("a.test", TypeA, 0, 2, 0, 0).u8(0)
	var start int
	b.rr(10, ClassIN, 0, func(b *builder) {
		start = b.off()
		b.ptr(12)
		for i := 1; i < n; i++ {
			b.ptr(start + 2*(i-1))
		}
	})
	return b.ptr(start+2*(n-1)).rr(TypeA, ClassIN, 1, func(b *builder) { b.u8(192, 0, 2, 1) }).bytes()
}

func TestParsePointerChainLimit(t *testing.T) {
	m, err := Parse(pointerChain(maxPointers - 1))
	require.NoError(t, err)
	require.Equal(t, "a.test", m.Answers[1].Name)

	_, err = Parse(pointerChain(maxPointers))
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "too many compression pointers")

	// One more pointer to the owner already decoded (from the name cache)
	// counts the same.
	b := &builder{b: pointerChain(maxPointers - 1)}
	owner := len(b.b) - 2 - 10 - 4
	b.b[7] = 3 // ANCount
	msg := b.ptr(owner).rr(TypeA, ClassIN, 1, func(b *builder) { b.u8(192, 0, 2, 2) }).bytes()
	_, err = Parse(msg)
	require.ErrorContains(t, err, "too many compression pointers")
}

func TestParseNameLength(t *testing.T) {
	l63 := strings.Repeat("x", 63)
	// 3*64 + 62 + 1 = 255 octets.
	long := newMsg(1, 0, 1, 0, 0, 0).labels(l63, l63, l63, strings.Repeat("y", 61)).u8(0).q(TypeA).bytes()
	m, err := Parse(long)
	require.NoError(t, err)
	require.Len(t, m.Question.Name, 253)

	tooLong := newMsg(1, 0, 1, 0, 0, 0).labels(l63, l63, l63, strings.Repeat("y", 62)).u8(0).q(TypeA).bytes()
	_, err = Parse(tooLong)
	require.ErrorContains(t, err, "name longer than 255 octets")

	// 195 octets in the question, 64 more through a pointer to it: in the
	// answer section (decoded through the name cache) and in the authority
	// section (only checked).
	for _, sec := range []string{"answer", "authority"} {
		an, ns := 1, 0
		if sec == "authority" {
			an, ns = 0, 1
		}
		msg := newMsg(1, fQR, 1, an, ns, 0).labels(l63, l63, l63, "a").u8(0).q(TypeA).
			labels(l63).ptr(12).rr(TypeA, ClassIN, 1, func(b *builder) { b.u8(192, 0, 2, 1) }).bytes()
		_, err = Parse(msg)
		require.ErrorContains(t, err, "name longer than 255 octets", sec)
	}
}

type rejectCase struct {
	name   string
	msg    []byte
	reason string
	off    int // -1: any
}

func rejectCases() []rejectCase {
	rdA := func(b *builder) { b.u8(192, 0, 2, 1) }
	return []rejectCase{
		{"empty", nil, "message shorter than its 12-octet header", 0},
		{"short header", []byte{1, 2, 3, 4, 5}, "message shorter than its 12-octet header", 5},
		{"self pointer", newMsg(1, 0, 1, 0, 0, 0).ptr(12).q(TypeA).bytes(), "compression pointer loop", 12},
		{"pointer into own labels", newMsg(1, 0, 1, 0, 0, 0).labels("a").ptr(12).q(TypeA).bytes(),
			"compression pointer loop", 14},
		// The question ends at 19; the answer owner there points to 21,
		// which points back to 19.
		{"two-pointer cycle", newMsg(1, fQR, 1, 1, 0, 0).name("a").q(TypeA).ptr(21).ptr(19).rr(TypeA, ClassIN, 1, rdA).bytes(),
			"forward compression pointer", 19},
		{"cycle entered backwards", func() []byte {
			// A NULL record's data at 30 points to the next owner at 32,
			// which points back to 30.
			b := newMsg(1, fQR, 1, 2, 0, 0).name("a").q(TypeA)
			b.u8(0).rr(10, ClassIN, 1, func(b *builder) { b.ptr(32) })
			return b.ptr(30).rr(TypeA, ClassIN, 1, rdA).bytes()
		}(), "forward compression pointer", 30},
		{"forward pointer", newMsg(1, 0, 1, 0, 0, 0).ptr(14).name("a").q(TypeA).bytes(), "forward compression pointer", 12},
		{"pointer past the end", newMsg(1, 0, 1, 0, 0, 0).ptr(0x3fff).q(TypeA).bytes(), "forward compression pointer", 12},
		{"label type 0x40", newMsg(1, 0, 1, 0, 0, 0).u8(0x41, 'a', 0).q(TypeA).bytes(), "reserved label type 0x40", 12},
		{"label type 0x80", newMsg(1, 0, 1, 0, 0, 0).labels("ok").u8(0x81, 'a', 0).q(TypeA).bytes(), "reserved label type 0x80", 15},
		{"truncated label", newMsg(1, 0, 1, 0, 0, 0).u8(5, 'a', 'b').bytes(), "truncated label", 12},
		{"truncated name", newMsg(1, 0, 1, 0, 0, 0).labels("abc").bytes(), "truncated name", 16},
		{"truncated pointer", newMsg(1, 0, 1, 0, 0, 0).u8(0xC0).bytes(), "truncated compression pointer", 12},
		{"no question", newMsg(1, 0, 1, 0, 0, 0).bytes(), "truncated name", 12},
		{"truncated question", newMsg(1, 0, 1, 0, 0, 0).name("a.test").u16(TypeA).bytes(), "truncated question", 20},
		{"missing answer", response("a.test", TypeA, 0, 1, 0, 0).bytes(), "truncated name", 24},
		{"truncated answer header", response("a.test", TypeA, 0, 1, 0, 0).ptr(12).u16(TypeA).u16(ClassIN).bytes(),
			"truncated record header", 26},
		{"rdlength overrun", response("a.test", TypeA, 0, 1, 0, 0).ptr(12).rrLen(TypeA, ClassIN, 1, 4).u8(1, 2).bytes(),
			"record data overruns the message", 34},
		{"missing authority", response("a.test", TypeA, 0, 0, 1, 0).bytes(), "truncated name", 24},
		{"authority overrun", response("a.test", TypeA, 0, 0, 1, 0).ptr(12).rrLen(TypeNS, ClassIN, 1, 9).u8(0).bytes(),
			"record data overruns the message", 34},
		{"missing additional", response("a.test", TypeA, 0, 0, 0, 2).opt(512, 0, 0, false, nil).bytes(), "truncated name", 35},
		{"A length", response("a.test", TypeA, 0, 1, 0, 0).ptr(12).rr(TypeA, ClassIN, 1, func(b *builder) { b.u8(1, 2, 3, 4, 5) }).bytes(),
			"A record data of 5 octets, want 4", 36},
		{"AAAA length", response("a.test", TypeAAAA, 0, 1, 0, 0).ptr(12).rr(TypeAAAA, ClassIN, 1, rdA).bytes(),
			"AAAA record data of 4 octets, want 16", 36},
		{"CNAME trailing", response("a.test", TypeCNAME, 0, 1, 0, 0).ptr(12).rr(TypeCNAME, ClassIN, 1, func(b *builder) { b.ptr(12).u8(0) }).bytes(),
			"octets after the end of CNAME record data", 38},
		{"CNAME overruns rdata", response("a.test", TypeCNAME, 0, 1, 0, 0).ptr(12).rrLen(TypeCNAME, ClassIN, 1, 2).name("abc.test").bytes(),
			"name overruns its record data", 36},
		{"CNAME empty", response("a.test", TypeCNAME, 0, 1, 0, 0).ptr(12).rr(TypeCNAME, ClassIN, 1, nil).name("x").q(TypeA).bytes(),
			"name overruns its record data", 36},
		{"MX short", response("a.test", TypeMX, 0, 1, 0, 0).ptr(12).rr(TypeMX, ClassIN, 1, func(b *builder) { b.u16(10) }).bytes(),
			"MX record data of 2 octets, want at least 3", 36},
		{"MX trailing", response("a.test", TypeMX, 0, 1, 0, 0).ptr(12).rr(TypeMX, ClassIN, 1, func(b *builder) { b.u16(1).ptr(12).u8(0) }).bytes(),
			"octets after the end of MX record data", 40},
		{"SOA bad mname", response("a.test", TypeSOA, 0, 1, 0, 0).ptr(12).rr(TypeSOA, ClassIN, 1, func(b *builder) { b.u8(0x40) }).bytes(),
			"reserved label type 0x40", 36},
		{"SOA bad rname", response("a.test", TypeSOA, 0, 1, 0, 0).ptr(12).rr(TypeSOA, ClassIN, 1, func(b *builder) { b.u8(0, 0x80) }).bytes(),
			"reserved label type 0x80", 37},
		{"SRV short", response("a.test", TypeSRV, 0, 1, 0, 0).ptr(12).rr(TypeSRV, ClassIN, 1, func(b *builder) { b.u16(1).u16(2).u8(0) }).bytes(),
			"SRV record data of 5 octets, want at least 7", 36},
		{"SOA short", response("a.test", TypeSOA, 0, 1, 0, 0).ptr(12).rr(TypeSOA, ClassIN, 1, func(b *builder) { b.u8(0, 0).u32(1) }).bytes(),
			"SOA record data has 4 octets after its names, want 20", 38},
		{"SOA in authority short", response("a.test", TypeA, 3, 0, 1, 0).ptr(12).rr(TypeSOA, ClassIN, 1, func(b *builder) { b.u8(0, 0) }).bytes(),
			"SOA record data has 0 octets after its names, want 20", 38},
		{"TXT overrun", response("a.test", TypeTXT, 0, 1, 0, 0).ptr(12).rr(TypeTXT, ClassIN, 1, func(b *builder) { b.u8(3).str("ab") }).bytes(),
			"TXT string overruns its record data", 36},
		{"CAA no tag", response("a.test", TypeCAA, 0, 1, 0, 0).ptr(12).rr(TypeCAA, ClassIN, 1, func(b *builder) { b.u8(0, 0).str("x") }).bytes(),
			"CAA tag length 0 does not fit its record data", 37},
		{"CAA tag overrun", response("a.test", TypeCAA, 0, 1, 0, 0).ptr(12).rr(TypeCAA, ClassIN, 1, func(b *builder) { b.u8(0, 9).str("issue") }).bytes(),
			"CAA tag length 9 does not fit its record data", 37},
		{"SVCB keys order", response("a.test", TypeSVCB, 0, 1, 0, 0).ptr(12).rr(TypeSVCB, ClassIN, 1, func(b *builder) {
			b.u16(1).u8(0).u16(svcPort).u16(2).u16(443).u16(svcALPN).u16(3).u8(2).str("h2")
		}).bytes(), "SVCB parameter keys not in increasing order", 45},
		{"SVCB duplicate key", response("a.test", TypeSVCB, 0, 1, 0, 0).ptr(12).rr(TypeSVCB, ClassIN, 1, func(b *builder) {
			b.u16(1).u8(0).u16(svcNoDefaultALPN).u16(0).u16(svcNoDefaultALPN).u16(0)
		}).bytes(), "SVCB parameter keys not in increasing order", 43},
		{"SVCB port length", response("a.test", TypeHTTPS, 0, 1, 0, 0).ptr(12).rr(TypeHTTPS, ClassIN, 1, func(b *builder) {
			b.u16(1).u8(0).u16(svcPort).u16(3).u8(1, 2, 3)
		}).bytes(), "malformed SVCB port value", 39},
		{"SVCB ipv6hint length", response("a.test", TypeHTTPS, 0, 1, 0, 0).ptr(12).rr(TypeHTTPS, ClassIN, 1, func(b *builder) {
			b.u16(1).u8(0).u16(svcIPv6Hint).u16(4).u8(1, 2, 3, 4)
		}).bytes(), "malformed SVCB ipv6hint value", 39},
		{"SVCB empty alpn id", response("a.test", TypeHTTPS, 0, 1, 0, 0).ptr(12).rr(TypeHTTPS, ClassIN, 1, func(b *builder) {
			b.u16(1).u8(0).u16(svcALPN).u16(1).u8(0)
		}).bytes(), "malformed SVCB alpn value", 39},
		{"SVCB parameter overrun", response("a.test", TypeHTTPS, 0, 1, 0, 0).ptr(12).rr(TypeHTTPS, ClassIN, 1, func(b *builder) {
			b.u16(1).u8(0).u16(svcALPN).u16(9).u8(2).str("h2")
		}).bytes(), "SVCB parameter overruns its record data", 39},
		{"SVCB truncated parameter", response("a.test", TypeHTTPS, 0, 1, 0, 0).ptr(12).rr(TypeHTTPS, ClassIN, 1, func(b *builder) {
			b.u16(1).u8(0).u16(svcALPN)
		}).bytes(), "truncated SVCB parameter", 39},
		{"OPT in answers", response("a.test", TypeA, 0, 1, 0, 0).opt(512, 0, 0, false, nil).bytes(),
			"OPT record outside the additional section", 24},
		{"two OPT", response("a.test", TypeA, 0, 0, 0, 2).opt(512, 0, 0, false, nil).opt(512, 0, 0, false, nil).bytes(),
			"more than one OPT record", 35},
		{"EDNS option overrun", response("a.test", TypeA, 0, 0, 0, 1).opt(512, 0, 0, false, func(b *builder) { b.u16(10).u16(8).u32(0) }).bytes(),
			"EDNS option overruns its record", 35},
		{"EDNS option truncated", response("a.test", TypeA, 0, 0, 0, 1).opt(512, 0, 0, false, func(b *builder) { b.u16(10) }).bytes(),
			"truncated EDNS option", 35},
		{"counts too large", newMsg(1, 0, 0xffff, 0xffff, 0xffff, 0xffff).name("a").q(TypeA).bytes(), "truncated name", 19},
	}
}

func TestParseReject(t *testing.T) {
	tests := rejectCases()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.msg)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrMalformed)
			var pe *ParseError
			require.True(t, errors.As(err, &pe))
			require.Equal(t, tt.reason, pe.Reason, err.Error())
			if tt.off >= 0 {
				require.Equal(t, tt.off, pe.Offset, err.Error())
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	_, err := Parse(newMsg(1, 0, 1, 0, 0, 0).ptr(12).q(TypeA).bytes())
	require.EqualError(t, err, "malformed dns message: compression pointer loop at offset 12 in question 1")
}

// A ParseError names the section and record the fault is in; the
// sections before it were decoded whole, so the answers survive a fault
// after them.
func TestParseErrorSection(t *testing.T) {
	rdA := func(b *builder) { b.u8(192, 0, 2, 1) }
	twoA := func(ns, ar int) *builder {
		return response("a.test", TypeA, 0, 2, ns, ar).
			ptr(12).rr(TypeA, ClassIN, 1, rdA).ptr(12).rr(TypeA, ClassIN, 1, rdA)
	}
	for _, tc := range []struct {
		name    string
		msg     []byte
		section string
		index   int
		detail  string
		answers int
	}{
		{"short header", []byte{1, 2, 3}, SectionHeader, 0, "message shorter than its 12-octet header at offset 3 in the header", 0},
		{"question", newMsg(1, 0, 2, 0, 0, 0).name("a.test").q(TypeA).u8(0xC0).bytes(), SectionQuestion, 2,
			"truncated compression pointer at offset 24 in question 2", 0},
		{"second answer", response("a.test", TypeA, 0, 2, 0, 0).ptr(12).rr(TypeA, ClassIN, 1, rdA).ptr(12).rrLen(TypeA, ClassIN, 1, 9).bytes(),
			SectionAnswer, 2, "record data overruns the message at offset 50 in answer 2", 1},
		{"authority pointer loop", func() []byte {
			b := twoA(1, 0)
			return b.ptr(b.off()).rr(TypeNS, ClassIN, 1, func(b *builder) { b.ptr(12) }).bytes()
		}(), SectionAuthority, 1, "compression pointer loop at offset 56 in authority record 1", 2},
		{"additional length", twoA(0, 2).opt(1232, 0, 0, false, nil).ptr(12).rrLen(TypeA, ClassIN, 1, 300).u8(1, 2, 3, 4).bytes(),
			SectionAdditional, 2, "record data overruns the message at offset 77 in additional record 2", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.msg)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.section, pe.Section)
			require.Equal(t, tc.index, pe.Index)
			require.Equal(t, tc.detail, pe.Detail())
			require.Len(t, m.Answers, tc.answers)
		})
	}
}

func TestParsePartialOnError(t *testing.T) {
	msg := response("MiXed.test", TypeA, 0, 3, 0, 0).
		ptr(12).rr(TypeA, ClassIN, 5, func(b *builder) { b.u8(192, 0, 2, 1) }).
		ptr(12).rr(TypeA, ClassIN, 5, func(b *builder) { b.u8(192, 0, 2) }).bytes()
	m, err := Parse(msg)
	require.ErrorIs(t, err, ErrMalformed)
	require.Equal(t, uint16(0xbeef), m.ID)
	require.True(t, m.Response)
	require.Equal(t, Question{Name: "MiXed.test", Type: TypeA, Class: ClassIN}, m.Question)
	require.Equal(t, []tracep.DNSRecord{{Name: "MiXed.test", Type: "A", TTL: 5, Data: "192.0.2.1"}}, m.Answers)

	m, err = Parse(newMsg(9, fQR|fTC, 1, 0, 0, 0).labels("cut").bytes())
	require.Error(t, err)
	require.Equal(t, uint16(9), m.ID)
	require.True(t, m.Truncated)
	require.Empty(t, m.Question.Name)
}

func TestParserReuse(t *testing.T) {
	var p Parser
	m1, err := p.Parse(cnameChain())
	require.NoError(t, err)
	want, err := Parse(cnameChain())
	require.NoError(t, err)
	m2, err := p.Parse(typicalAAAA())
	require.NoError(t, err)
	_, err = p.Parse([]byte{1})
	require.Error(t, err)
	m3, err := p.Parse(typicalAAAA())
	require.NoError(t, err)
	require.Equal(t, want, m1, "an earlier result is not overwritten")
	require.Equal(t, m2, m3)

	// The memo generation wraps without confusing messages.
	p.gen = ^uint32(0) - 1
	for range 3 {
		m, err := p.Parse(cnameChain())
		require.NoError(t, err)
		require.Equal(t, want, m)
	}
	require.Equal(t, uint32(2), p.gen, "max, then 1 after wrapping, then 2")
}

func TestParserReleasesLargeBuffers(t *testing.T) {
	big := make([]byte, 255)
	msg := response("big.test", TypeTXT, 0, 1, 0, 0).ptr(12).rr(TypeTXT, ClassIN, 1, func(b *builder) {
		for range 100 {
			b.u8(255).u8(big...)
		}
	}).bytes()
	var p Parser
	m, err := p.Parse(msg)
	require.NoError(t, err)
	require.Len(t, m.Answers[0].Data, 100*(2+4*255)+99)
	require.Nil(t, p.buf, "a buffer above 64 KiB is not kept")
	_, err = p.Parse(typicalA())
	require.NoError(t, err)
	require.NotNil(t, p.buf)
}
