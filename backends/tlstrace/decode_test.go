package tlstrace

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// rec describes a raw record for the tests; build encodes it as the BPF
// programs lay it out.
type rec struct {
	typ      uint32
	ktime    uint64
	pid, tid uint32
	conn     uint64
	len      uint64
	lib      uint32
	fn       fnID
	flags    uint32
	cookie   uint64
	netns    uint32
	family   uint16
	src, dst netip.AddrPort
	comm     string
	data     []byte
	dataLen  int // when >= 0 and not len(data): a lying header
}

func (r rec) build() []byte {
	b := make([]byte, recHeaderSize, recHeaderSize+len(r.data))
	le.PutUint64(b[offKtime:], r.ktime)
	le.PutUint64(b[offConn:], r.conn)
	le.PutUint64(b[offLen:], r.len)
	le.PutUint32(b[offType:], r.typ)
	procFields.Put(b, tracep.Proc{PID: int32(r.pid), TID: int32(r.tid), PPID: 1, UID: 1000, CgroupID: 77, Comm: r.comm})
	le.PutUint32(b[offLib:], r.lib)
	le.PutUint32(b[offFn:], uint32(r.fn))
	le.PutUint32(b[offFlags:], r.flags)
	n := len(r.data)
	if r.dataLen != 0 {
		n = r.dataLen
	}
	le.PutUint32(b[offDataLen:], uint32(n))
	le.PutUint64(b[offCookie:], r.cookie)
	le.PutUint32(b[offNetns:], r.netns)
	le.PutUint16(b[offFamily:], r.family)
	le.PutUint16(b[offSport:], r.src.Port())
	le.PutUint16(b[offDport:], r.dst.Port())
	s, d := r.src.Addr().As16(), r.dst.Addr().As16()
	if r.family == afInet {
		s4, d4 := r.src.Addr().As4(), r.dst.Addr().As4()
		copy(b[offSaddr:], s4[:])
		copy(b[offDaddr:], d4[:])
	} else {
		copy(b[offSaddr:], s[:])
		copy(b[offDaddr:], d[:])
	}
	return append(b, r.data...)
}

var (
	client4 = netip.MustParseAddrPort("10.0.0.1:40000")
	server4 = netip.MustParseAddrPort("192.0.2.10:443")
	client6 = netip.MustParseAddrPort("[2001:db8::1]:40001")
	server6 = netip.MustParseAddrPort("[2001:db8::10]:443")
)

// libOf returns the library a function belongs to (tlsx_lib in the C code).
func libOf(fn fnID) string {
	switch {
	case fn < 16:
		return LibOpenSSL
	case fn < 32:
		return LibGnuTLS
	case fn < 48:
		return LibGo
	}
	return LibWire
}

func dataRec(fn fnID, conn uint64, data string, n uint64, flags uint32) rec {
	lib := map[string]uint32{LibOpenSSL: 1, LibGnuTLS: 2, LibGo: 3}[libOf(fn)]
	return rec{typ: recData, ktime: 5, pid: 100, tid: 101, conn: conn, len: n, lib: lib, fn: fn,
		flags: flags, comm: "curl", data: []byte(data)}
}

// withAddr gives r the socket with cookie 7 and these addresses.
func withAddr(r rec, family uint16, src, dst netip.AddrPort) rec {
	r.flags |= flagAddr
	r.family, r.src, r.dst, r.netns, r.cookie = family, src, dst, 4026531840, 7
	return r
}

// withCookie changes r's socket cookie.
func withCookie(r rec, cookie uint64) rec {
	r.cookie = cookie
	return r
}

func TestDecoder(t *testing.T) {
	hello, hello2 := clientHello(t, "example.test"), clientHello(t, "www.example.test")
	client4b := netip.MustParseAddrPort("10.0.0.1:40002")
	type step struct {
		rec  rec
		want *tracep.TLS // nil: no event
		proc *tracep.Proc
	}
	tests := []struct {
		name  string
		steps []step
	}{{
		name: "write with addresses",
		steps: []step{{
			rec: withAddr(dataRec(fnSSLWrite, 0xa0, "GET / HTTP/1.1\r\n\r\n", 18, 0), afInet, client4, server4),
			want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibOpenSSL, Function: "SSL_write",
				Data: []byte("GET / HTTP/1.1\r\n\r\n"), Len: 18, Src: client4, Dst: server4, Cookie: 7},
			proc: &tracep.Proc{PID: 100, TID: 101, PPID: 1, UID: 1000, Comm: "curl", CgroupID: 77},
		}},
	}, {
		name: "read, truncated, without addresses",
		steps: []step{{
			rec:  dataRec(fnSSLReadEx, 0xa0, "HTTP/1.1", 40000, flagRX),
			want: &tracep.TLS{Op: tracep.TLSOpRead, Library: LibOpenSSL, Function: "SSL_read_ex", Data: []byte("HTTP/1.1"), Len: 40000, Truncated: true},
		}},
	}, {
		name: "unreadable buffer",
		steps: []step{{
			rec:  dataRec(fnGnuTLSRecv, 0xa0, "", 10, flagRX|flagFault),
			want: &tracep.TLS{Op: tracep.TLSOpRead, Library: LibGnuTLS, Function: "gnutls_record_recv", Len: 10, Truncated: true},
		}},
	}, {
		name: "binary data kept byte for byte",
		steps: []step{{
			rec:  dataRec(fnGoWrite, 0xc000, "a\x00b\xff\x1b[31m", 9, 0),
			want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibGo, Function: goWriteSym, Data: []byte("a\x00b\xff\x1b[31m"), Len: 9},
		}},
	}, {
		name: "library SNI, then freed",
		steps: []step{
			{rec: rec{typ: recSNI, pid: 100, lib: 1, fn: fnSSLCtrl, conn: 0xa0, data: []byte("api.test")}},
			{
				rec:  dataRec(fnSSLWrite, 0xa0, "x", 1, 0),
				want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibOpenSSL, Function: "SSL_write", SNI: "api.test", Data: []byte("x"), Len: 1},
			},
			{ // another connection of the process
				rec:  dataRec(fnSSLWrite, 0xb0, "y", 1, 0),
				want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibOpenSSL, Function: "SSL_write", Data: []byte("y"), Len: 1},
			},
			{rec: rec{typ: recFree, pid: 100, lib: 1, fn: fnSSLFree, conn: 0xa0}},
			{ // the memory reused for a connection without SNI
				rec:  dataRec(fnSSLWrite, 0xa0, "z", 1, 0),
				want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibOpenSSL, Function: "SSL_write", Data: []byte("z"), Len: 1},
			},
		},
	}, {
		name: "ClientHello names the socket's later data",
		steps: []step{
			{
				rec:  withAddr(rec{typ: recHello, pid: 100, lib: 4, fn: fnWireWrite, len: uint64(len(hello)), data: hello}, afInet6, client6, server6),
				want: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: LibWire, Function: "ClientHello", SNI: "example.test", Len: len(hello), Src: client6, Dst: server6, Cookie: 7},
			},
			{
				rec:  withAddr(dataRec(fnGoRead, 0xc000, "ok", 2, flagRX), afInet6, client6, server6),
				want: &tracep.TLS{Op: tracep.TLSOpRead, Library: LibGo, Function: goReadSym, SNI: "example.test", Data: []byte("ok"), Len: 2, Src: client6, Dst: server6, Cookie: 7},
			},
			{ // another socket, with the same addresses in another network namespace
				rec: func() rec {
					r := withCookie(withAddr(dataRec(fnGoRead, 0xc000, "ok", 2, flagRX), afInet6, client6, server6), 8)
					r.netns++
					return r
				}(),
				want: &tracep.TLS{Op: tracep.TLSOpRead, Library: LibGo, Function: goReadSym, Data: []byte("ok"), Len: 2, Src: client6, Dst: server6, Cookie: 8},
			},
		},
	}, {
		name: "two connections of one process, each with its name",
		steps: []step{
			{rec: withAddr(rec{typ: recHello, pid: 100, lib: 4, fn: fnWireWrite, len: uint64(len(hello)), data: hello}, afInet, client4, server4),
				want: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: LibWire, Function: "ClientHello", SNI: "example.test", Len: len(hello), Src: client4, Dst: server4, Cookie: 7}},
			{rec: withCookie(withAddr(rec{typ: recHello, pid: 100, lib: 4, fn: fnWireWrite, len: uint64(len(hello2)), data: hello2}, afInet, client4b, server4), 9),
				want: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: LibWire, Function: "ClientHello", SNI: "www.example.test", Len: len(hello2), Src: client4b, Dst: server4, Cookie: 9}},
			{rec: withCookie(withAddr(dataRec(fnGoWrite, 0xc100, "b", 1, 0), afInet, client4b, server4), 9),
				want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibGo, Function: goWriteSym, SNI: "www.example.test", Data: []byte("b"), Len: 1, Src: client4b, Dst: server4, Cookie: 9}},
			{rec: withAddr(dataRec(fnGoWrite, 0xc000, "a", 1, 0), afInet, client4, server4),
				want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibGo, Function: goWriteSym, SNI: "example.test", Data: []byte("a"), Len: 1, Src: client4, Dst: server4, Cookie: 7}},
		},
	}, {
		name: "the name sent on the socket before the one the library was given",
		steps: []step{
			{rec: rec{typ: recSNI, pid: 100, lib: 1, fn: fnSSLCtrl, conn: 0xa0, data: []byte("api.test")}},
			{rec: withAddr(rec{typ: recHello, pid: 100, lib: 1, fn: fnWireWrite, conn: 0xa0, len: uint64(len(hello)), data: hello}, afInet, client4, server4),
				want: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: LibWire, Function: "ClientHello", SNI: "example.test", Len: len(hello), Src: client4, Dst: server4, Cookie: 7}},
			{rec: withAddr(dataRec(fnSSLWrite, 0xa0, "x", 1, 0), afInet, client4, server4),
				want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibOpenSSL, Function: "SSL_write", SNI: "example.test", Data: []byte("x"), Len: 1, Src: client4, Dst: server4, Cookie: 7}},
		},
	}, {
		name: "a server's socket has the name its client sent",
		steps: []step{
			{rec: withAddr(rec{typ: recHello, pid: 100, lib: 4, fn: fnWireWrite, len: uint64(len(hello)), data: hello}, afInet, client4, server4),
				want: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: LibWire, Function: "ClientHello", SNI: "example.test", Len: len(hello), Src: client4, Dst: server4, Cookie: 7}},
			{rec: withCookie(withAddr(dataRec(fnSSLRead, 0xd0, "GET", 3, flagRX), afInet, server4, client4), 8),
				want: &tracep.TLS{Op: tracep.TLSOpRead, Library: LibOpenSSL, Function: "SSL_read", SNI: "example.test", Data: []byte("GET"), Len: 3, Src: server4, Dst: client4, Cookie: 8}},
		},
	}, {
		name: "ClientHello written inside a library call names its connection",
		steps: []step{
			{
				// lib is the library whose call wrote it
				rec:  withAddr(rec{typ: recHello, pid: 100, lib: 1, fn: fnWireSendto, conn: 0xa0, len: uint64(len(hello)), data: hello}, afInet, client4, server4),
				want: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: LibWire, Function: "ClientHello", SNI: "example.test", Len: len(hello), Src: client4, Dst: server4, Cookie: 7},
			},
			{ // no addresses learnt for the connection, but its name is known
				rec:  dataRec(fnSSLWrite, 0xa0, "x", 1, 0),
				want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibOpenSSL, Function: "SSL_write", SNI: "example.test", Data: []byte("x"), Len: 1},
			},
		},
	}, {
		name: "v4-mapped addresses of a dual-stack socket",
		steps: []step{{
			rec: withAddr(dataRec(fnSSLWrite, 1, "x", 1, 0), afInet6,
				netip.MustParseAddrPort("[::ffff:10.0.0.1]:40000"), netip.MustParseAddrPort("[::ffff:192.0.2.10]:443")),
			want: &tracep.TLS{Op: tracep.TLSOpWrite, Library: LibOpenSSL, Function: "SSL_write", Data: []byte("x"), Len: 1, Src: client4, Dst: server4, Cookie: 7},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder()
			for i, st := range tt.steps {
				ev, ok, err := d.Decode(st.rec.build())
				require.NoError(t, err, "step %d", i)
				if st.want == nil {
					require.False(t, ok, "step %d: unexpected event %+v", i, ev.TLS)
					continue
				}
				require.True(t, ok, "step %d", i)
				require.Equal(t, tracep.KindTLS, ev.Kind)
				require.Equal(t, st.rec.ktime, ev.KTime)
				require.Equal(t, st.want, ev.TLS, "step %d", i)
				if st.proc != nil {
					require.Equal(t, *st.proc, ev.Proc)
				}
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := withAddr(dataRec(fnSSLWrite, 1, "abc", 3, 0), afInet, client4, server4)
	tests := []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"short header", good.build()[:recHeaderSize-1]},
		{"data shorter than said", good.build()[:recHeaderSize+2]},
		{"data longer than said", append(good.build(), 'x')},
		{"unknown type", func() []byte { r := good; r.typ = 9; return r.build() }()},
		{"unknown library", func() []byte { r := good; r.lib = 0; return r.build() }()},
		{"function beyond a byte", func() []byte { b := good.build(); le.PutUint32(b[offFn:], 300); return b }()},
		{"unknown family", func() []byte { r := good; r.family = 1; return r.build() }()},
		{"more data than the call", func() []byte { r := good; r.len = 2; return r.build() }()},
		{"hello without socket", rec{typ: recHello, lib: 4, fn: fnWireWrite, data: []byte{22}}.build()},
		{"free with data", rec{typ: recFree, lib: 1, fn: fnSSLFree, data: []byte{1}}.build()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := NewDecoder().Decode(tt.rec)
			require.ErrorIs(t, err, ErrMalformed)
			require.False(t, ok)
		})
	}
}

// The decoder copies data out of the record, whose buffer the ring reuses.
func TestDecodeCopiesData(t *testing.T) {
	b := dataRec(fnSSLWrite, 1, "secret", 6, 0).build()
	ev, ok, err := NewDecoder().Decode(b)
	require.NoError(t, err)
	require.True(t, ok)
	copy(b[recHeaderSize:], "XXXXXX")
	require.Equal(t, []byte("secret"), ev.TLS.Data)
}

func TestTrackedBound(t *testing.T) {
	tr := newTracked[int](3)
	for i := range 5 {
		tr.put(i, "v")
	}
	for i := range 5 {
		_, ok := tr.get(i)
		require.Equal(t, i >= 2, ok, "key %d", i)
	}
	tr.put(4, "w") // an update does not evict
	_, ok := tr.get(2)
	require.True(t, ok)
	tr.del(3)
	_, ok = tr.get(3)
	require.False(t, ok)
}

func FuzzDecode(f *testing.F) {
	f.Add(withAddr(dataRec(fnSSLWrite, 1, "GET /", 5, 0), afInet, client4, server4).build())
	f.Add(rec{typ: recSNI, lib: 1, fn: fnSSLCtrl, data: []byte("x.test")}.build())
	f.Add(withAddr(rec{typ: recHello, lib: 4, fn: fnWireWrite, data: minimalHello(sniExt(hostName(0, "a.test")))}, afInet6, client6, server6).build())
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder()
		for range 2 { // twice: state from the first must not break the second
			ev, ok, err := d.Decode(b)
			if err != nil {
				if ok {
					t.Fatal("event with error")
				}
				continue
			}
			if !ok {
				continue
			}
			x := ev.TLS
			if x == nil || ev.Kind != tracep.KindTLS {
				t.Fatalf("bad event %+v", ev)
			}
			if x.Op != tracep.TLSOpHandshake && (len(x.Data) > x.Len || x.Truncated != (len(x.Data) < x.Len)) {
				t.Fatalf("data %d, len %d, truncated %v", len(x.Data), x.Len, x.Truncated)
			}
			if len(x.Data) > 0 && !bytes.Contains(b, x.Data) {
				t.Fatal("data not from the record")
			}
		}
	})
}

// layout names the decoder's offsets after the fields of the C record,
// as bpf2go names them (see TestRecordLayoutMatchesBPF).
var layout = map[string]int{
	"Ktime": offKtime, "CgroupId": offCgroupID, "Conn": offConn, "Len": offLen,
	"Type": offType, "Pid": offPID, "Tid": offTID, "Ppid": offPPID, "Uid": offUID,
	"Lib": offLib, "Fn": offFn, "Flags": offFlags, "DataLen": offDataLen,
	"Addr.Cookie": offCookie, "Addr.Netns": offNetns, "Addr.Family": offFamily, "Addr.Sport": offSport,
	"Addr.Dport": offDport, "Addr.Saddr": offSaddr, "Addr.Daddr": offDaddr,
	"Comm": offComm,
}
