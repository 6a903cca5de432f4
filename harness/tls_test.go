package harness_test

import (
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// tlsFakeT records a failure instead of stopping the test, to check the
// assertions fail when they should.
type tlsFakeT struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (f *tlsFakeT) Helper() {}

func (f *tlsFakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}

func (f *tlsFakeT) Errorf(format string, args ...any) { f.Fatalf(format, args...) }
func (f *tlsFakeT) FailNow()                          {}

func tlsEvent(pid int32, comm string, x tracep.TLS) tracep.Event {
	return tracep.Event{Kind: tracep.KindTLS, Proc: tracep.Proc{PID: pid, Comm: comm}, TLS: &x}
}

var (
	apiAddr   = netip.MustParseAddrPort("192.0.2.10:443")
	evilAddr  = netip.MustParseAddrPort("198.51.100.7:443")
	localAddr = netip.MustParseAddrPort("10.0.0.1:40000")
)

func tlsCapture() *harness.Capture {
	w := func(pid int32, sni string, dst netip.AddrPort, data string) tracep.Event {
		return tlsEvent(pid, "app", tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: sni, Src: localAddr, Dst: dst, Data: []byte(data), Len: len(data)})
	}
	return &harness.Capture{Events: []tracep.Event{
		tlsEvent(10, "app", tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", Function: "ClientHello", SNI: "API.example.test.", Dst: apiAddr}),
		w(10, "api.example.test", apiAddr, "POST /v1 HTTP/1.1\r\nAuthorization: Bearer tok"),
		w(10, "api.example.test", apiAddr, "en-s3cr3t\r\n\r\n"), // the secret split across two writes
		tlsEvent(10, "app", tracep.TLS{Op: tracep.TLSOpRead, Library: "openssl", Function: "SSL_read", SNI: "api.example.test", Dst: apiAddr, Data: []byte("HTTP/1.1 200 OK\r\n"), Len: 17}),
		tlsEvent(11, "app", tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", Function: "ClientHello", SNI: "cdn.example.test", Dst: evilAddr}),
		w(11, "cdn.example.test", evilAddr, "GET /logo.png HTTP/1.1\r\n\r\n"),
	}}
}

func TestTLSQueries(t *testing.T) {
	c := tlsCapture()
	require.Equal(t, []string{"api.example.test", "cdn.example.test"}, c.SNIs())
	streams := c.TLSStreams()
	require.Len(t, streams, 3)
	require.Equal(t, "POST /v1 HTTP/1.1\r\nAuthorization: Bearer token-s3cr3t\r\n\r\n", string(streams[0].Data))
	require.Equal(t, tracep.TLSOpRead, streams[1].Op)
	require.Equal(t, int32(11), streams[2].PID)

	c.RequireSNI(t, "api.example.test", "*.example.test")
	c.RequireOnlySNI(t, "*.example.test")
	c.RequirePlaintext(t, tracep.TLSOpWrite, "Bearer token-s3cr3t") // across the two writes
	c.RequirePlaintext(t, tracep.TLSOpRead, "200 OK")
	c.RequirePlaintext(t, "", "logo.png")
	c.RequireNoPlaintext(t, "token-s3cr3t", "api.example.test")
	c.RequireNoPlaintext(t, "never-sent")

	for name, check := range map[string]func(tb testing.TB){
		"sni missing":        func(tb testing.TB) { c.RequireSNI(tb, "other.test") },
		"sni outside":        func(tb testing.TB) { c.RequireOnlySNI(tb, "api.example.test") },
		"plaintext missing":  func(tb testing.TB) { c.RequirePlaintext(tb, tracep.TLSOpRead, "Bearer") },
		"secret to any host": func(tb testing.TB) { c.RequireNoPlaintext(tb, "token-s3cr3t") },
		"secret elsewhere":   func(tb testing.TB) { c.RequireNoPlaintext(tb, "logo", "api.example.test") },
	} {
		f := &tlsFakeT{TB: t}
		check(f)
		require.True(t, f.failed, name)
		require.NotEmpty(t, f.msg, name)
	}
}

// A secret cannot be said absent from writes that were only partly
// captured, nor from a connection whose server is not known.
func TestTLSNoPlaintextNeedsEverything(t *testing.T) {
	c := &harness.Capture{Events: []tracep.Event{
		tlsEvent(1, "app", tracep.TLS{Op: tracep.TLSOpWrite, Library: "go", SNI: "big.test", Data: []byte("x"), Len: 100000, Truncated: true}),
	}}
	f := &tlsFakeT{TB: t}
	c.RequireNoPlaintext(f, "secret")
	require.True(t, f.failed)
	require.Contains(t, f.msg, "partly captured")
	c.RequireNoPlaintext(t, "secret", "big.test") // an excepted host may get it anyway

	c = &harness.Capture{Events: []tracep.Event{
		tlsEvent(1, "app", tracep.TLS{Op: tracep.TLSOpWrite, Library: "go", Data: []byte("the secret\x1b[2J"), Len: 14}),
	}}
	f = &tlsFakeT{TB: t}
	c.RequireNoPlaintext(f, "secret", "*")
	require.True(t, f.failed)
	require.Contains(t, f.msg, "(no server name)")
	require.Contains(t, f.msg, `\x1b[2J`, "escaped")
	require.NotContains(t, f.msg, "\x1b")
}

func TestMatchSNI(t *testing.T) {
	require.True(t, harness.MatchSNI("example.test", "Example.Test."))
	require.True(t, harness.MatchSNI("*.example.test", "a.b.example.test"))
	require.False(t, harness.MatchSNI("*.example.test", "example.test"))
	require.False(t, harness.MatchSNI("*", ""))
}

// Live: curl sends a token to example.test only; the assertions see the
// server names and the plaintext, and catch the token sent elsewhere.
func TestIntegrationTLSAssertions(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TLS tracing needs Linux")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	n, err := testnet.New(nil)
	if err != nil {
		harness.Trace(t, exec.Command("true"), harness.Kinds(tracep.KindTLS)) // skips or fails on privileges
		t.Fatal(err)
	}
	defer n.Close()
	const secret = "tracep-api-token-8d1c"
	script := `curl -sS -H "Authorization: Bearer $0" https://example.test/ >/dev/null && curl -sS https://www.example.test/ >/dev/null`
	c := harness.Trace(t, exec.Command("sh", "-c", script, secret), harness.Kinds(tracep.KindTLS), harness.InNet(n))
	require.Zero(t, c.ExitCode)
	c.RequireSNI(t, "example.test", "www.example.test")
	c.RequireOnlySNI(t, "example.test", "*.example.test")
	c.RequirePlaintext(t, tracep.TLSOpWrite, "Authorization: Bearer "+secret)
	c.RequirePlaintext(t, tracep.TLSOpRead, "hello from www.example.test")
	c.RequireNoPlaintext(t, secret, "example.test")

	leak := harness.Trace(t, exec.Command("curl", "-sS", "-o", "/dev/null", "-H", "X-Token: "+secret, "https://www.example.test/"),
		harness.Kinds(tracep.KindTLS), harness.InNet(n))
	f := &tlsFakeT{TB: t}
	leak.RequireNoPlaintext(f, secret, "example.test")
	require.True(t, f.failed)
	require.True(t, strings.Contains(f.msg, "www.example.test"), f.msg)
}

// RequireNoPlaintext never prints the secret it protects, nor a part of it
// that a cut write or the excerpt's window leaves: the failure message is
// captured and searched.
func TestNoPlaintextMasksTheSecret(t *testing.T) {
	const secret = "hunter2-9f8e7d6c"
	for name, writes := range map[string][]string{
		"once":               {"POST /login HTTP/1.1\r\nAuthorization: Bearer " + secret + "\r\n\r\n"},
		"twice, close":       {"a=" + secret + "&b=" + secret},
		"twice, far apart":   {secret + strings.Repeat("x", 200) + secret},
		"split across calls": {"token=hunter2-", "9f8e7d6c&next=1"},
		"cut at the limit":   {"first=" + secret + "&again=hunter2-9f"},
		"at the start":       {secret + " and then some"},
		"escaped around it":  {"\x1b[2J" + secret + "\x00"},
	} {
		t.Run(name, func(t *testing.T) {
			var evs []tracep.Event
			for _, w := range writes {
				evs = append(evs, tlsEvent(7, "app", tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", SNI: "evil.test",
					Src: localAddr, Dst: evilAddr, Data: []byte(w), Len: len(w)}))
			}
			c := &harness.Capture{Events: evs}
			f := &tlsFakeT{TB: t}
			c.RequireNoPlaintext(f, secret, "api.example.test")
			require.True(t, f.failed)
			require.Contains(t, f.msg, "the secret was sent over TLS to a host outside")
			require.Contains(t, f.msg, "evil.test")
			require.Contains(t, f.msg, "<secret: 16 bytes>")
			require.NotContains(t, f.msg, secret)
			require.NotContains(t, f.msg, "hunter", "no part of it either")
			require.NotContains(t, f.msg, "9f8e")
		})
	}
}
