package tracep_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// Each kind's words, in one table: the text people read, the golden form,
// whether it is an action, and the keys a matcher derives from it.
func TestPayloads(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name    string
		ev      tracep.Event
		text    string
		stable  string
		action  bool
		derived map[string][]string
		audit   []string
		// incomplete is Incomplete(): what of the event was not captured.
		incomplete string
	}{{
		name:    "exec",
		ev:      tracep.Event{Kind: tracep.KindExec, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/usr/bin/id", Argv: []string{"id", "-u", "a b", "\x1b[2J"}}},
		text:    `exec /usr/bin/id: id -u 'a b' $'\x1b[2J'`,
		stable:  `exec /usr/bin/id: id -u 'a b' $'\x1b[2J'`,
		action:  true,
		derived: map[string][]string{"prog": {"id"}, "args": {`id -u 'a b' $'\x1b[2J'`}},
		audit:   []string{"filename"},
	}, {
		name:   "exec truncated",
		ev:     tracep.Event{Kind: tracep.KindExec, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/x", Argv: []string{"x"}, ArgvTruncated: true}},
		text:   "exec /bin/x: x …(argv truncated)",
		stable: "exec /bin/x: x …(argv truncated)",
		action: true, derived: map[string][]string{"prog": {"x"}, "args": {"x"}}, audit: []string{"filename"},
		incomplete: "argv truncated",
	}, {
		name:   "exec cut at a limit, with its real size",
		ev:     tracep.Event{Kind: tracep.KindExec, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/x", Argv: []string{"x", "ab"}, ArgvTruncated: true, ArgvSize: 40960}},
		text:   "exec /bin/x: x ab …(argv truncated, 40960 bytes in all)",
		stable: "exec /bin/x: x ab …(argv truncated, 40960 bytes in all)",
		action: true, derived: map[string][]string{"prog": {"x"}, "args": {"x ab"}}, audit: []string{"filename"},
		incomplete: "argv truncated, 40960 bytes in all",
	}, {
		name:    "failed exec",
		ev:      tracep.Event{Kind: tracep.KindExec, Exec: &tracep.Exec{Op: tracep.ExecOpFail, Filename: "/nonexistent", Errno: "ENOENT"}},
		text:    "exec /nonexistent failed: ENOENT",
		stable:  "exec /nonexistent failed: ENOENT",
		derived: map[string][]string{"prog": {"nonexistent"}, "args": {""}}, audit: []string{"filename"},
	}, {
		name:    "exit by signal",
		ev:      tracep.Event{Kind: tracep.KindExec, Exec: &tracep.Exec{Op: tracep.ExecOpExit, ExitCode: -1, Signal: "SIGSEGV", CoreDumped: true, Duration: time.Second}},
		text:    "exit signal SIGSEGV (core dumped)",
		stable:  "exit signal SIGSEGV (core dumped)",
		derived: map[string][]string{"args": {""}}, audit: []string{"filename"},
	}, {
		name:   "connect",
		ev:     tracep.Event{Kind: tracep.KindNet, Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut, Src: ap("10.0.0.2:40000"), Dst: ap("[2001:db8::10]:443"), Errno: "ECONNREFUSED"}},
		text:   "connect tcp 10.0.0.2:40000 → [2001:db8::10]:443 ECONNREFUSED",
		stable: "connect tcp → [2001:db8::10]:443 ECONNREFUSED",
		action: true, audit: []string{"proto", "dir", "dst"},
	}, {
		name:   "accept: the peer's port is the kernel's choice",
		ev:     tracep.Event{Kind: tracep.KindNet, Net: &tracep.Net{Op: tracep.NetOpAccept, Proto: "tcp", Dir: tracep.DirIn, Src: ap("192.0.2.9:51000"), Dst: ap("127.0.0.1:8080")}},
		text:   "accept tcp 192.0.2.9:51000 ← 127.0.0.1:8080",
		stable: "accept tcp 192.0.2.9 ← 127.0.0.1:8080",
		action: true, audit: []string{"proto", "dir", "dst"},
	}, {
		name:   "close of an unconnected socket: no destination",
		ev:     tracep.Event{Kind: tracep.KindNet, Net: &tracep.Net{Op: tracep.NetOpClose, Proto: "udp", Dir: tracep.DirOut, Src: ap("0.0.0.0:5353"), Duration: 12 * time.Millisecond, BytesSent: 3}},
		text:   "close udp 0.0.0.0:5353 → ? after 0.012s tx=3 rx=0",
		stable: "close udp → ?",
		audit:  []string{"proto", "dir", "dst"},
	}, {
		name:  "a state change has no stable form",
		ev:    tracep.Event{Kind: tracep.KindNet, Net: &tracep.Net{Op: tracep.NetOpState, Proto: "tcp", Dir: tracep.DirUnknown, Src: ap("10.0.0.2:1"), Dst: ap("10.0.0.3:2"), State: "ESTABLISHED"}},
		text:  "state tcp 10.0.0.2:1 ↔ 10.0.0.3:2 ESTABLISHED",
		audit: []string{"proto", "dir", "dst"},
	}, {
		name: "dns",
		ev: tracep.Event{Kind: tracep.KindDNS, DNS: &tracep.DNS{ID: 7, Name: "WWW.Example.TEST.", Type: "A", Transport: "udp", Server: ap("127.0.0.1:53"),
			RCode: "NOERROR", Answered: true, Latency: 1234567, Answers: []tracep.DNSRecord{{Type: "CNAME", Data: "Example.test."}, {Type: "A", Data: "192.0.2.10"}}}},
		text:    "dns A WWW.Example.TEST. → NOERROR [CNAME Example.test., A 192.0.2.10] (udp 127.0.0.1:53, 1.235ms)",
		stable:  "dns A www.example.test → NOERROR [A 192.0.2.10, CNAME example.test.]",
		action:  true,
		derived: map[string][]string{"name": {"www.example.test"}},
		audit:   []string{"name", "type"},
	}, {
		name:    "dns without an answer, one wording",
		ev:      tracep.Event{Kind: tracep.KindDNS, DNS: &tracep.DNS{Name: "slow.test", Type: "AAAA", Transport: "tcp", Truncated: true}},
		text:    "dns AAAA slow.test → no answer TC (tcp)",
		stable:  "dns AAAA slow.test → no answer TC []",
		action:  true,
		derived: map[string][]string{"name": {"slow.test"}},
		audit:   []string{"name", "type"},
	}, {
		name: "dns malformed after its answers: the answers are whole",
		ev: tracep.Event{Kind: tracep.KindDNS, DNS: &tracep.DNS{Name: "x.test", Type: "A", Transport: "udp", RCode: "NOERROR", Answered: true,
			Answers: []tracep.DNSRecord{{Type: "A", Data: "192.0.2.1"}}, Malformed: "compression pointer loop at offset 40 in authority record 1"}},
		text:    "dns A x.test → NOERROR [A 192.0.2.1] malformed: compression pointer loop at offset 40 in authority record 1 (udp, 0s)",
		stable:  "dns A x.test → NOERROR [A 192.0.2.1] malformed",
		action:  true,
		derived: map[string][]string{"name": {"x.test"}},
		audit:   []string{"name", "type"},
	}, {
		name: "dns answers cut short",
		ev: tracep.Event{Kind: tracep.KindDNS, DNS: &tracep.DNS{Name: "x.test", Type: "A", Transport: "tcp", RCode: "NOERROR", Answered: true,
			Answers: []tracep.DNSRecord{{Type: "A", Data: "192.0.2.1"}}, AnswersIncomplete: true, Cut: "connection closed 40 octets into a 73-octet message"}},
		text:       "dns A x.test → NOERROR [A 192.0.2.1] answers incomplete, cut: connection closed 40 octets into a 73-octet message (tcp, 0s)",
		stable:     "dns A x.test → NOERROR [A 192.0.2.1] answers incomplete, cut",
		action:     true,
		derived:    map[string][]string{"name": {"x.test"}},
		audit:      []string{"name", "type"},
		incomplete: "dns answers incomplete: connection closed 40 octets into a 73-octet message",
	}, {
		name:       "dns response that could not be followed",
		ev:         tracep.Event{Kind: tracep.KindDNS, DNS: &tracep.DNS{Name: "x.test", Type: "A", Transport: "tcp", Cut: "tcp stream lost: 50 octets of the stream not seen"}},
		text:       "dns A x.test → no answer cut: tcp stream lost: 50 octets of the stream not seen (tcp)",
		stable:     "dns A x.test → no answer [] cut",
		action:     true,
		derived:    map[string][]string{"name": {"x.test"}},
		audit:      []string{"name", "type"},
		incomplete: "dns response not captured: tcp stream lost: 50 octets of the stream not seen",
	}, {
		name: "dns answer that came after the socket closed",
		ev: tracep.Event{Kind: tracep.KindDNS, DNS: &tracep.DNS{Name: "x.test", Type: "AAAA", Transport: "udp", RCode: "NOERROR", Truncated: true, Undelivered: true,
			Latency: time.Millisecond}},
		text:    "dns AAAA x.test → NOERROR TC not delivered [] (udp, 1ms)",
		stable:  "dns AAAA x.test → NOERROR TC not delivered []",
		action:  true,
		derived: map[string][]string{"name": {"x.test"}},
		audit:   []string{"name", "type"},
	}, {
		name: "tls write",
		ev: tracep.Event{Kind: tracep.KindTLS, TLS: &tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: "Example.test",
			Data: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Len: 99, Truncated: true, Src: ap("10.0.0.2:4000"), Dst: ap("192.0.2.10:443")}},
		text:       `tls write openssl SSL_write sni=Example.test 10.0.0.2:4000 → 192.0.2.10:443 99 bytes (first 27 captured) "GET / HTTP/1.1"`,
		stable:     `tls write openssl sni=example.test "GET / HTTP/1.1"`,
		action:     true,
		derived:    map[string][]string{"sni": {"example.test"}, "text": {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}},
		audit:      []string{"sni"},
		incomplete: "plaintext truncated: 27 of 99 bytes captured",
	}, {
		name:    "tls handshake without a name",
		ev:      tracep.Event{Kind: tracep.KindTLS, TLS: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", Function: "ClientHello", Dst: ap("192.0.2.10:443")}},
		text:    "tls handshake wire ClientHello sni=? → 192.0.2.10:443",
		stable:  "tls handshake wire sni=?",
		action:  true,
		derived: map[string][]string{"text": {""}},
	}, {
		name:       "tls read is not an action",
		ev:         tracep.Event{Kind: tracep.KindTLS, TLS: &tracep.TLS{Op: tracep.TLSOpRead, Library: "go", Data: []byte("\x1b]0;x\x07"), Len: 6}},
		text:       `tls read go  sni=? → ? 6 bytes "\x1b]0;x\x07"`,
		stable:     `tls read go sni=? "\x1b]0;x\x07"`,
		derived:    map[string][]string{"text": {"\x1b]0;x\x07"}},
		incomplete: "tls connection not known: no socket seen for this plaintext",
	}, {
		name: "tls read on a known connection",
		ev: tracep.Event{Kind: tracep.KindTLS, TLS: &tracep.TLS{Op: tracep.TLSOpRead, Library: "go", Function: "crypto/tls.(*Conn).Read", SNI: "www.example.test",
			Data: []byte("HTTP/1.1 200 OK\r\n"), Len: 17, Src: ap("10.0.0.2:4000"), Dst: ap("192.0.2.10:443"), Cookie: 4097}},
		text:    `tls read go crypto/tls.(*Conn).Read sni=www.example.test 10.0.0.2:4000 → 192.0.2.10:443 17 bytes "HTTP/1.1 200 OK"`,
		stable:  `tls read go sni=www.example.test "HTTP/1.1 200 OK"`,
		derived: map[string][]string{"sni": {"www.example.test"}, "text": {"HTTP/1.1 200 OK\r\n"}},
		audit:   []string{"sni"},
	}, {
		name:   "ca",
		ev:     tracep.Event{Kind: tracep.KindCA, CA: &tracep.Chain{Host: "example.test", Port: 443, Certs: make([]tracep.Cert, 3), VerifyError: "x509: unknown authority"}},
		text:   "ca example.test:443 3 certs, not verified: x509: unknown authority",
		stable: "ca example.test:443 3 certs, not verified",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.ev.Payload()
			require.NotNil(t, p)
			require.Equal(t, tc.ev.Kind, p.Kind())
			require.Equal(t, tc.text, p.Text())
			require.Equal(t, tc.text, tc.ev.Text())
			require.Equal(t, tc.stable, p.Stable())
			require.Equal(t, tc.action, tc.ev.IsAction())
			derived := map[string][]string{}
			p.DerivedKeys(func(k, v string) { derived[k] = append(derived[k], v) })
			if tc.derived == nil {
				tc.derived = map[string][]string{}
			}
			require.Equal(t, tc.derived, derived)
			require.Equal(t, tc.audit, p.AuditKeys())
			require.Equal(t, tc.incomplete, p.Incomplete())
		})
	}
}

func TestEventString(t *testing.T) {
	ev := tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: 12, Comm: "c\x1bx"}, Exec: &tracep.Exec{Op: tracep.ExecOpExit}}
	require.Equal(t, `c\x1bx[12] exit status 0`, ev.String())
	ev.Proc = tracep.Proc{}
	require.Equal(t, "exit status 0", ev.String())
	require.Nil(t, tracep.Event{Kind: tracep.KindDNS}.Payload(), "a missing payload")
	require.Nil(t, tracep.Event{Kind: tracep.KindNet, DNS: &tracep.DNS{}}.Payload(), "the payload of another kind")
	require.Equal(t, "dns", tracep.Event{Kind: tracep.KindDNS}.Text())
	require.Equal(t, "?", tracep.AddrText(netip.AddrPort{}))
	require.Equal(t, "example.test", tracep.CanonicalName("Example.TEST."))
	require.Equal(t, `a\\b`, tracep.EscapeDNS(`a\\b`), "presentation escapes stay as they are")
	require.Equal(t, `a\x1bb`, tracep.EscapeDNS("a\x1bb"))
}
