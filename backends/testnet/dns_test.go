package testnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/tracep/tracep/tracep"
)

// dnsTest is a DNSServer on 127.0.0.1, UDP and TCP on one port.
type dnsTest struct {
	*DNSServer
	udp, tcp string
}

func startDNS(t *testing.T, zone Zone) *dnsTest {
	t.Helper()
	s, err := NewDNSServer(zone)
	require.NoError(t, err)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	pc, err := net.ListenPacket("udp4", l.Addr().String())
	if err != nil {
		// The port is free for TCP only; UDP on its own port works too.
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
	}
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(pc, l) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.NoError(t, <-served)
	})
	return &dnsTest{DNSServer: s, udp: pc.LocalAddr().String(), tcp: l.Addr().String()}
}

// query builds a query; edns adds an OPT record advertising 4096 bytes.
func query(t *testing.T, name string, typ dnsmessage.Type, edns bool) []byte {
	t.Helper()
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: 0x1234, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}},
	}
	if edns {
		var h dnsmessage.ResourceHeader
		require.NoError(t, h.SetEDNS0(4096, dnsmessage.RCodeSuccess, false))
		msg.Additionals = []dnsmessage.Resource{{Header: h, Body: &dnsmessage.OPTResource{}}}
	}
	b, err := msg.Pack()
	require.NoError(t, err)
	return b
}

// exchange sends req over network and returns the raw response.
func (d *dnsTest) exchange(t *testing.T, network string, req []byte) []byte {
	t.Helper()
	addr := d.udp
	if network == "tcp" {
		addr = d.tcp
	}
	c, err := net.Dial(network, addr)
	require.NoError(t, err)
	defer c.Close()
	// A guard, not a wait: an answer held back by mistake fails the test.
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	if network == "udp" {
		_, err = c.Write(req)
		require.NoError(t, err)
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		require.NoError(t, err)
		return buf[:n]
	}
	_, err = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(req))), req...))
	require.NoError(t, err)
	var size [2]byte
	_, err = io.ReadFull(c, size[:])
	require.NoError(t, err)
	resp := make([]byte, binary.BigEndian.Uint16(size[:]))
	_, err = io.ReadFull(c, resp)
	require.NoError(t, err)
	return resp
}

func (d *dnsTest) ask(t *testing.T, network, name string, typ dnsmessage.Type) dnsmessage.Message {
	t.Helper()
	var m dnsmessage.Message
	require.NoError(t, m.Unpack(d.exchange(t, network, query(t, name, typ, false))))
	require.Equal(t, uint16(0x1234), m.Header.ID)
	require.True(t, m.Header.Response)
	return m
}

// answers renders the answer section as "name TYPE data" lines.
func answers(m dnsmessage.Message) []string {
	var out []string
	for _, r := range m.Answers {
		var data string
		switch b := r.Body.(type) {
		case *dnsmessage.AResource:
			data = netip.AddrFrom4(b.A).String()
		case *dnsmessage.AAAAResource:
			data = netip.AddrFrom16(b.AAAA).String()
		case *dnsmessage.CNAMEResource:
			data = b.CNAME.String()
		case *dnsmessage.TXTResource:
			data = strings.Join(b.TXT, " ")
		case *dnsmessage.MXResource:
			data = b.MX.String()
		}
		out = append(out, r.Header.Name.String()+" "+strings.TrimPrefix(r.Header.Type.String(), "Type")+" "+data)
	}
	return out
}

func TestDNSAnswers(t *testing.T) {
	t.Parallel()
	d := startDNS(t, DefaultZone())
	tests := []struct {
		name  string
		typ   dnsmessage.Type
		rcode dnsmessage.RCode
		want  []string
	}{
		{"example.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"example.test. A 192.0.2.10"}},
		{"example.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, []string{"example.test. AAAA 2001:db8::10"}},
		{"ExAmple.TEST.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"ExAmple.TEST. A 192.0.2.10"}},
		{"example.test.", dnsmessage.TypeTXT, dnsmessage.RCodeSuccess, []string{"example.test. TXT v=testnet1 hello from example.test"}},
		{"example.test.", dnsmessage.TypeMX, dnsmessage.RCodeSuccess, []string{"example.test. MX mail.example.test."}},
		{"www.example.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{
			"www.example.test. CNAME example.test.",
			"example.test. A 192.0.2.10",
		}},
		{"cname.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, []string{
			"cname.test. CNAME www.example.test.",
			"www.example.test. CNAME example.test.",
			"example.test. AAAA 2001:db8::10",
		}},
		{"cname.test.", dnsmessage.TypeCNAME, dnsmessage.RCodeSuccess, []string{"cname.test. CNAME www.example.test."}},
		{"v4.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, nil}, // NODATA
		{"nxdomain.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"unknown.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"servfail.test.", dnsmessage.TypeA, dnsmessage.RCodeServerFailure, nil},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(network+"/"+tt.name+"/"+tt.typ.String(), func(t *testing.T) {
				m := d.ask(t, network, tt.name, tt.typ)
				require.Equal(t, tt.rcode, m.Header.RCode)
				require.False(t, m.Header.Truncated)
				require.True(t, m.Header.Authoritative)
				require.Equal(t, tt.want, answers(m))
			})
		}
	}
}

func TestDNSTruncateOverUDP(t *testing.T) {
	t.Parallel()
	d := startDNS(t, DefaultZone())

	m := d.ask(t, "udp", "tc.test.", dnsmessage.TypeA)
	require.True(t, m.Header.Truncated)
	require.Empty(t, m.Answers)

	m = d.ask(t, "tcp", "tc.test.", dnsmessage.TypeA)
	require.False(t, m.Header.Truncated)
	require.Equal(t, []string{"tc.test. A 192.0.2.50"}, answers(m))

	// A stub resolver retries over TCP on its own. (Names end in a dot
	// so that the host's search list plays no part.)
	addrs, err := goResolver(d).LookupNetIP(context.Background(), "ip4", "tc.test.")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.50")}, addrs)

	require.Equal(t, 2, d.Count("tc.test", dnsmessage.TypeA, "udp"))
	require.Equal(t, 2, d.Count("TC.test.", dnsmessage.TypeA, "tcp"))
	require.Equal(t, 4, d.Count("tc.test", 0, ""))
}

func TestDNSTruncateLargeAnswer(t *testing.T) {
	t.Parallel()
	txt := make([]string, 8)
	for i := range txt {
		txt[i] = strings.Repeat(string(rune('a'+i)), 200)
	}
	d := startDNS(t, Zone{"big.test": {TXT: txt}})

	m := d.ask(t, "udp", "big.test.", dnsmessage.TypeTXT)
	require.True(t, m.Header.Truncated, "over 512 bytes without EDNS")
	require.Empty(t, m.Answers)

	var edns dnsmessage.Message
	require.NoError(t, edns.Unpack(d.exchange(t, "udp", query(t, "big.test.", dnsmessage.TypeTXT, true))))
	require.False(t, edns.Header.Truncated, "EDNS allows 4096 bytes")
	require.Len(t, edns.Answers, 8)
	require.Len(t, edns.Additionals, 1)
	require.Equal(t, dnsmessage.TypeOPT, edns.Additionals[0].Header.Type)

	require.Len(t, d.ask(t, "tcp", "big.test.", dnsmessage.TypeTXT).Answers, 8)
	require.Equal(t, 1, d.Count("big.test", dnsmessage.TypeTXT, "tcp"))
}

func TestDNSCompression(t *testing.T) {
	t.Parallel()
	d := startDNS(t, DefaultZone())
	resp := d.exchange(t, "udp", query(t, "Cname.Test.", dnsmessage.TypeA, false))

	// Every name after the question repeats a suffix already written, so
	// each must be a pointer (0b11 in the top bits of a length byte).
	require.GreaterOrEqual(t, bytes.Count(resp, []byte{0xc0}), 4)
	require.NotContains(t, string(resp), "\x07example\x04test\x00\x07example", "example.test written out twice")

	var m dnsmessage.Message
	require.NoError(t, m.Unpack(resp))
	require.Equal(t, []string{
		"Cname.Test. CNAME www.example.test.",
		"www.example.test. CNAME example.test.",
		"example.test. A 192.0.2.10",
	}, answers(m))

	// Go's own parser follows the chain through the pointers too.
	r := goResolver(d)
	hosts, err := r.LookupHost(context.Background(), "cname.test.")
	require.NoError(t, err)
	slices.Sort(hosts)
	require.Equal(t, []string{"192.0.2.10", "2001:db8::10"}, hosts)
	mx, err := r.LookupMX(context.Background(), "example.test.")
	require.NoError(t, err)
	require.Len(t, mx, 1)
	require.Equal(t, "mail.example.test.", mx[0].Host)
}

func TestDNSGoResolverErrors(t *testing.T) {
	t.Parallel()
	d := startDNS(t, DefaultZone())
	r := goResolver(d)
	var dnsErr *net.DNSError

	_, err := r.LookupHost(context.Background(), "nxdomain.test.")
	require.ErrorAs(t, err, &dnsErr)
	require.True(t, dnsErr.IsNotFound)

	_, err = r.LookupHost(context.Background(), "servfail.test.")
	require.ErrorAs(t, err, &dnsErr)
	require.False(t, dnsErr.IsNotFound)
	require.Positive(t, d.Count("servfail.test", dnsmessage.TypeA, "udp"))
}

func TestDNSMalformed(t *testing.T) {
	t.Parallel()
	s, err := NewDNSServer(DefaultZone())
	require.NoError(t, err)
	require.Nil(t, s.build([]byte{1, 2, 3}, "udp"), "shorter than a header: dropped")

	// A header without its question gets FORMERR.
	var m dnsmessage.Message
	require.NoError(t, m.Unpack(s.build([]byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, "udp")))
	require.Equal(t, dnsmessage.RCodeFormatError, m.Header.RCode)
	require.Equal(t, uint16(0xabcd), m.Header.ID)

	// Responses are not answered, so two servers cannot loop.
	resp := s.build(query(t, "example.test.", dnsmessage.TypeA, false), "udp")
	require.NotNil(t, resp)
	require.Nil(t, s.build(resp, "udp"))
	require.Len(t, s.Queries(), 1)
	require.NoError(t, s.Close())
}

func TestDNSZoneInvalid(t *testing.T) {
	t.Parallel()
	for name, z := range map[string]Zone{
		"empty name":  {"": {}},
		"long txt":    {"a.test": {TXT: []string{strings.Repeat("x", 256)}}},
		"duplicate":   {"a.test": {}, "A.test.": {}},
		"bad address": {"a.test": {Addrs: []netip.Addr{{}}}},
		"bad label":   {strings.Repeat("x", 64) + ".test": {}},
		"bad cname":   {"a.test": {CNAME: strings.Repeat("x", 64) + ".test"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewDNSServer(z)
			require.ErrorIs(t, err, tracep.ErrInvalid)
		})
	}
}

func TestDNSCloseIdempotent(t *testing.T) {
	t.Parallel()
	s, err := NewDNSServer(DefaultZone())
	require.NoError(t, err)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(nil, l) }()

	// An open TCP connection does not keep Close waiting.
	c, err := net.Dial("tcp4", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte{0}) // half a length prefix: the handler is now reading
	require.NoError(t, err)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.NoError(t, <-served)

	// Serving after Close closes what it is given at once.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, s.Serve(pc, nil))
	_, _, err = pc.ReadFrom(make([]byte, 1))
	require.True(t, errors.Is(err, net.ErrClosed), "got %v", err)
}

// goResolver is a pure-Go resolver that asks d, whatever the host says.
func goResolver(d *dnsTest) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			addr := d.udp
			if strings.HasPrefix(network, "tcp") {
				addr = d.tcp
			}
			var dialer net.Dialer
			return dialer.DialContext(ctx, network, addr)
		},
	}
}

// The zone's misbehaviours, for tests of clients and tracers: a mangled
// answer, a TCP answer cut short, a UDP answer held back until the TCP
// retry, a TCP answer sent only once the client has closed its end.
func TestDNSMisbehaviour(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	zone := Zone{
		"mangled.test": {Addrs: []netip.Addr{a("127.1.0.1")}, Mangle: func(resp []byte, network string) []byte {
			return append(resp, network...)
		}},
		"cut.test":     {Addrs: []netip.Addr{a("127.1.0.2")}, CutTCP: 20},
		"late.test":    {Addrs: []netip.Addr{a("127.1.0.3"), a("::1")}, HoldUDP: []dnsmessage.Type{dnsmessage.TypeAAAA}},
		"closing.test": {Addrs: []netip.Addr{a("127.1.0.4")}, HoldTCP: true},
	}
	d := startDNS(t, zone)

	resp := d.exchange(t, "udp", query(t, "mangled.test.", dnsmessage.TypeA, false))
	require.True(t, bytes.HasSuffix(resp, []byte("udp")), "%q", resp)

	c, err := net.Dial("tcp", d.tcp)
	require.NoError(t, err)
	req := query(t, "cut.test.", dnsmessage.TypeA, false)
	_, err = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(req))), req...))
	require.NoError(t, err)
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Len(t, got, 2+20)
	require.Greater(t, int(binary.BigEndian.Uint16(got)), 20, "the whole length announced")

	// The AAAA answer waits for the TCP query; the A answer does not.
	u, err := net.Dial("udp", d.udp)
	require.NoError(t, err)
	defer u.Close()
	_, err = u.Write(query(t, "late.test.", dnsmessage.TypeAAAA, false))
	require.NoError(t, err)
	aResp := d.exchange(t, "udp", query(t, "late.test.", dnsmessage.TypeA, false))
	var m dnsmessage.Message
	require.NoError(t, m.Unpack(aResp))
	require.Equal(t, []string{"late.test. A 127.1.0.3"}, answers(m))
	require.Len(t, d.Queries(), 4, "answered, one held")
	m = d.ask(t, "tcp", "late.test.", dnsmessage.TypeAAAA)
	require.Equal(t, []string{"late.test. AAAA ::1"}, answers(m))
	buf := make([]byte, 512)
	n, err := u.Read(buf) // sent before the TCP answer
	require.NoError(t, err)
	require.NoError(t, m.Unpack(buf[:n]))
	require.Equal(t, []string{"late.test. AAAA ::1"}, answers(m))
	// Read after the TCP retry (a busy server loop): as late, so sent at once.
	require.NoError(t, m.Unpack(d.exchange(t, "udp", query(t, "late.test.", dnsmessage.TypeAAAA, false))))
	require.Equal(t, []string{"late.test. AAAA ::1"}, answers(m))

	tc, err := net.Dial("tcp", d.tcp)
	require.NoError(t, err)
	defer tc.Close()
	req = query(t, "closing.test.", dnsmessage.TypeA, false)
	_, err = tc.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(req))), req...))
	require.NoError(t, err)
	require.NoError(t, tc.(*net.TCPConn).CloseWrite())
	got, err = io.ReadAll(tc)
	require.NoError(t, err)
	require.NoError(t, m.Unpack(got[2:]))
	require.Equal(t, []string{"closing.test. A 127.1.0.4"}, answers(m))

	_, err = NewDNSServer(Zone{"x.test": {CutTCP: -1}})
	require.ErrorIs(t, err, tracep.ErrInvalid)
}
