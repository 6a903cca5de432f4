package base

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

var tlsANSI = regexp.MustCompile("\x1b\\[[0-9;]*m")

// tlsPrinted renders events as tracep tls with the given flags does.
func tlsPrinted(t *testing.T, color bool, flags string, evs ...tracep.Event) string {
	t.Helper()
	var args []string
	if flags != "" {
		args = []string{"-" + flags}
	}
	return printed(t, &tlsCmd{}, "tls", color, args, evs...)
}

var (
	tlsTime   = time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.Local)
	tlsServer = netip.MustParseAddrPort("192.0.2.10:443")
	tlsClient = netip.MustParseAddrPort("10.0.0.1:40000")
)

func tlsEv(comm string, x tracep.TLS) tracep.Event {
	return tracep.Event{Kind: tracep.KindTLS, Time: tlsTime, Proc: tracep.Proc{PID: 4242, Comm: comm}, TLS: &x}
}

func TestTLSFormat(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"
	tests := []struct {
		name  string
		flags string
		ev    tracep.Event
		want  string
	}{{
		name: "handshake",
		ev:   tlsEv("curl", tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", Function: "ClientHello", SNI: "example.test", Len: 517, Src: tlsClient, Dst: tlsServer}),
		want: "03:04:05.678 4242 curl HS ClientHello  example.test  192.0.2.10:443\n",
	}, {
		name: "handshake without a name",
		ev:   tlsEv("curl", tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", Function: "ClientHello", Len: 517, Dst: tlsServer}),
		want: "03:04:05.678 4242 curl HS ClientHello  -  192.0.2.10:443\n",
	}, {
		name: "write, data line by line",
		ev:   tlsEv("curl", tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: "example.test", Data: []byte(req), Len: len(req), Dst: tlsServer}),
		want: "03:04:05.678 4242 curl TX SSL_write  example.test  38 bytes\n" +
			"    GET / HTTP/1.1\\r\n    Host: example.test\\r\n    \\r\n",
	}, {
		name:  "sizes only",
		flags: "s",
		ev:    tlsEv("curl", tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: "example.test", Data: []byte(req), Len: len(req)}),
		want:  "03:04:05.678 4242 curl TX SSL_write  example.test  38 bytes\n",
	}, {
		name: "read without a name: the peer's address; truncated",
		ev:   tlsEv("gocl", tracep.TLS{Op: tracep.TLSOpRead, Library: "go", Function: "crypto/tls.(*Conn).Read", Data: []byte("HTTP/1.1 200 OK"), Len: 20000, Truncated: true, Dst: tlsServer}),
		want: "03:04:05.678 4242 gocl RX crypto/tls.(*Conn).Read  192.0.2.10:443  20000 bytes (first 15 captured)\n    HTTP/1.1 200 OK\n",
	}, {
		name: "hostile bytes escaped",
		ev:   tlsEv("ev\x1bil", tracep.TLS{Op: tracep.TLSOpRead, Library: "openssl", Function: "SSL_read", SNI: "x\x1b[2J.test", Data: []byte("a\x00b\x1b]0;pwn\x07"), Len: 10}),
		want: "03:04:05.678 4242 ev\\x1bil RX SSL_read  x\\x1b[2J.test  10 bytes\n    a\\x00b\\x1b]0;pwn\\x07\n",
	}, {
		name:  "hex dump",
		flags: "x",
		ev:    tlsEv("curl", tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: "h", Data: []byte("GET /\x00\x01"), Len: 7}),
		want: "03:04:05.678 4242 curl TX SSL_write  h  7 bytes\n" +
			"    00000000  47 45 54 20 2f 00 01                              |GET /..|\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tlsPrinted(t, false, tt.flags, tt.ev))
		})
	}
}

func TestTLSFormatColour(t *testing.T) {
	ev := tlsEv("curl", tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: "example.test", Data: []byte("x"), Len: 1})
	colored := tlsPrinted(t, true, "", ev)
	require.Contains(t, colored, "\x1b[33mTX\x1b[0m")
	require.Contains(t, colored, "\x1b[35mexample.test\x1b[0m")
	require.Equal(t, tlsPrinted(t, false, "", ev), tlsANSI.ReplaceAllString(colored, ""))
}

// The buffer-built lines are byte for byte what the formatter built with
// fmt and a string per field wrote before (tlsFormatWithFmt), in colour
// and without, for every flag that changes them.
func TestTLSFormatMatchesFmt(t *testing.T) {
	var evs []tracep.Event
	for _, comm := range []string{"curl", "ev\x1bil", "ünï"} {
		for _, sni := range []string{"", "example.test", "x\x1b[2J.test"} {
			for _, dst := range []netip.AddrPort{{}, tlsServer, netip.MustParseAddrPort("[2001:db8::1]:8443")} {
				evs = append(evs, tlsEv(comm, tracep.TLS{Op: tracep.TLSOpHandshake, Function: "ClientHello", SNI: sni, Len: 517, Dst: dst}))
				for _, data := range []string{"", "\n", "a", "a\n", "a\n\n", "\nb", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "a\x00b\x1b]0;pwn\x07\xff\\"} {
					for _, op := range []string{tracep.TLSOpRead, tracep.TLSOpWrite} {
						evs = append(evs, tlsEv(comm, tracep.TLS{Op: op, Function: "SSL_read", SNI: sni, Data: []byte(data), Len: len(data), Dst: dst}),
							tlsEv(comm, tracep.TLS{Op: op, Function: "crypto/tls.(*Conn).Write", SNI: sni, Data: []byte(data), Len: 20000, Truncated: true, Dst: dst}))
					}
				}
			}
		}
	}
	for _, color := range []bool{false, true} {
		for _, flags := range []string{"", "s", "x"} {
			var args []string
			if flags != "" {
				args = []string{"-" + flags}
			}
			for _, ev := range evs {
				out := &sink{color: color}
				c := &tlsCmd{sizes: flags == "s", hexdump: flags == "x"}
				require.Equal(t, tlsFormatWithFmt(out, c.sizes, c.hexdump, ev)+"\n", printed(t, &tlsCmd{}, "tls", color, args, ev),
					"%+v colour %v flags %q", *ev.TLS, color, flags)
			}
		}
	}
}

// tlsFormatWithFmt is the TLS formatter as it was before it built lines
// in a reused buffer.
func tlsFormatWithFmt(out *sink, sizes, hexdump bool, ev tracep.Event) string {
	x := ev.TLS
	var b strings.Builder
	b.WriteString(out.clr(cDim, ev.Time.Local().Format("15:04:05.000")))
	b.WriteString(" " + out.clr(cYellow, strconv.Itoa(int(ev.Proc.PID))))
	b.WriteString(" " + out.clr(cBrCyan, tracep.Escape(ev.Proc.Comm)))
	host := tracep.Escape(x.SNI)
	if host == "" && x.Dst.IsValid() {
		host = x.Dst.String()
	}
	switch x.Op {
	case tracep.TLSOpHandshake:
		b.WriteString(" " + out.clr(cGreen, "HS"))
		b.WriteString(" " + out.clr(cDim, tracep.Escape(x.Function)))
		if x.SNI == "" {
			host = "-"
		}
		b.WriteString("  " + out.clr(cMagenta, host))
		if x.Dst.IsValid() {
			b.WriteString("  " + x.Dst.String())
		}
		return b.String()
	case tracep.TLSOpRead:
		b.WriteString(" " + out.clr(cCyan, "RX"))
	default:
		b.WriteString(" " + out.clr(cYellow, "TX"))
	}
	b.WriteString(" " + out.clr(cDim, tracep.Escape(x.Function)))
	if host != "" {
		b.WriteString("  " + out.clr(cMagenta, host))
	}
	fmt.Fprintf(&b, "  %d bytes", x.Len)
	if x.Truncated {
		b.WriteString(out.clr(cRed, fmt.Sprintf(" (first %d captured)", len(x.Data))))
	}
	if sizes || len(x.Data) == 0 {
		return b.String()
	}
	if hexdump {
		for _, line := range strings.SplitAfter(strings.TrimSuffix(hex.Dump(x.Data), "\n"), "\n") {
			b.WriteString("\n    " + strings.TrimSuffix(line, "\n"))
		}
		return b.String()
	}
	data := string(x.Data)
	for data != "" {
		line, rest, found := strings.Cut(data, "\n")
		if found {
			line += "\n"
		}
		b.WriteString("\n    " + out.clr(cDim, tracep.Escape(strings.TrimSuffix(line, "\n"))))
		if found && rest == "" {
			break
		}
		data = rest
	}
	return b.String()
}

// JSON lines carry the data base64-encoded, exactly.
func TestTLSJSON(t *testing.T) {
	data := []byte("\x00\x01binary\xff")
	out := tlsPrinted(t, false, "j",
		tlsEv("curl", tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: "example.test", Data: data, Len: len(data)}),
		tlsEv("curl", tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", Function: "ClientHello", SNI: "example.test", Len: 300, Dst: tlsServer}))
	require.Contains(t, out, `"data":"AAFiaW5hcnn/"`)
	evs, err := tracep.ReadAll(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, data, evs[0].TLS.Data)
	require.Equal(t, uint64(1), evs[0].Seq)
	require.Equal(t, uint64(2), evs[1].Seq)
	require.Equal(t, tlsServer, evs[1].TLS.Dst)
}

// requireTLSTracing skips (or fails under TRACEP_REQUIRE_PRIVILEGED=1) where
// TLS cannot be traced.
func requireTLSTracing(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("TLS tracing needs Linux")
	}
	tracetest.SkipUnlessRoot(t, "tracep tls")
	tracetest.SkipIfUnprivileged(t, tlstrace.Supported())
}

// localTLS serves HTTPS on loopback with a certificate for tls.test.
func localTLS(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.Host+"\n")
	}))
	srv.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	return port
}

// tracep tls CMD: curl's handshake, request and response, attributed to
// curl, with the server name and correct wall-clock times.
func TestTLSLiveCommand(t *testing.T) {
	requireTLSTracing(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	port := localTLS(t)
	before := time.Now()
	// The command writes to tracep's stderr: a buffer shared by two
	// goroutines needs a lock (a terminal or file would not).
	var o, e tracetest.Buffer
	code := Run(context.Background(), []string{"tls", "curl", "-sk", "--resolve", "tls.test:" + port + ":127.0.0.1", "https://tls.test:" + port + "/"},
		strings.NewReader(""), &o, &e)
	out, errOut := o.String(), e.String()
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "hello from tls.test:"+port+"\n", errOut, "curl's own output, off the trace")
	require.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} \d+ curl HS ClientHello  tls\.test  127\.0\.0\.1:`+port+`$`, out)
	require.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} \d+ curl TX SSL_write  tls\.test  \d+ bytes\n    GET / HTTP/1\.1\\r$`, out)
	require.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} \d+ curl RX SSL_read(_ex)?  tls\.test  \d+ bytes\n    HTTP/1\.1 200 OK\\r$`, out)
	stamp := regexp.MustCompile(`(?m)^(\d\d:\d\d:\d\d\.\d{3}) \d+ curl HS`).FindStringSubmatch(out)[1]
	ts, err := time.ParseInLocation("15:04:05.000", stamp, time.Local)
	require.NoError(t, err)
	now := time.Now()
	ts = time.Date(now.Year(), now.Month(), now.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), time.Local)
	require.False(t, ts.Before(before.Truncate(time.Millisecond)) || ts.After(now), "timestamp %s outside %s..%s", stamp, before, now)
}

// tracep tls -p follows a running process (its libraries found in its
// memory maps) until interrupted, then prints the count.
func TestTLSLivePID(t *testing.T) {
	requireTLSTracing(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	port := localTLS(t)
	py := exec.Command("python3", "-c", `import ssl, sys, urllib.request
print("ready", flush=True)
sys.stdin.readline()
ctx = ssl._create_unverified_context()
print(urllib.request.urlopen("https://127.0.0.1:`+port+`/", context=ctx).read().decode(), end="", flush=True)
`)
	stdin, err := py.StdinPipe()
	require.NoError(t, err)
	stdout, err := py.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, py.Start())
	t.Cleanup(func() { _ = py.Process.Kill(); _ = py.Wait() })
	pyOut := bufio.NewReader(stdout)
	line, err := pyOut.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	out, errOut := traceUntil(t, []string{"tls", "-s", "-p", strconv.Itoa(py.Process.Pid)}, func() {
		_, err = io.WriteString(stdin, "go\n")
		require.NoError(t, err)
		line, err = pyOut.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "hello from 127.0.0.1:"+port+"\n", line)
		require.NoError(t, py.Wait())
	})
	require.Contains(t, errOut, "tracep tls: tracing pid "+strconv.Itoa(py.Process.Pid)+" and descendants through ")
	require.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} \d+ python3[.0-9]* TX SSL_write_ex  127\.0\.0\.1:`+port+`  \d+ bytes\n`, out)
	require.Regexp(t, `(?m) RX `, out)
	require.Regexp(t, `captured [3-9]\d* TLS events`, errOut)
}
