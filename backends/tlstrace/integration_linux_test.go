package tlstrace_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

const helloResponse = "hello from example.test\n"

// Each client's plaintext is reported from its TLS library's calls, by
// the process that made them, with the ClientHello's server name and the
// connection's addresses:
//   - curl links OpenSSL (SSL_write and SSL_read), Python's ssl module
//     calls OpenSSL's SSL_write_ex and SSL_read_ex;
//   - gnutls-cli calls gnutls_record_send and gnutls_record_recv and sets
//     the server name with gnutls_server_name_set;
//   - a Go program built by the test is traced from its first instruction:
//     it is held at exec until its crypto/tls functions are probed, with
//     its symbol table or, stripped, through its pclntab; dynamically
//     linked or static; as a position-independent executable. Its events
//     carry the connection's socket, seen sent to and received from during
//     the calls, whatever the build.
func TestIntegrationClients(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	const get11, get10 = "GET / HTTP/1.1\r\nHost: example.test\r\n", "GET / HTTP/1.0\r\nHost: example.test\r\n\r\n"
	for _, c := range []struct {
		name  string
		argv  []string // "gocl..." is a build of the test's Go client
		stdin string   // also: the client prints more than the body
		x     exchange
		fns   map[string][]string // the functions each operation may come from
	}{
		{"curl", []string{"curl", "-sS", "https://example.test/"}, "",
			exchange{lib: tlstrace.LibOpenSSL, request: get11, response: "\r\n\r\n" + helloResponse},
			map[string][]string{tracep.TLSOpWrite: {"SSL_write", "SSL_write_ex"}, tracep.TLSOpRead: {"SSL_read", "SSL_read_ex"}}},
		{"python3", []string{"python3", "-c", `import urllib.request; print(urllib.request.urlopen("https://example.test/").read().decode(), end="")`}, "",
			exchange{lib: tlstrace.LibOpenSSL, request: "GET / HTTP/1.1\r\n", response: helloResponse},
			map[string][]string{tracep.TLSOpWrite: {"SSL_write_ex"}, tracep.TLSOpRead: {"SSL_read_ex"}}},
		{"gnutls-cli", []string{"gnutls-cli", "--logfile=/dev/null", "example.test"}, get10,
			exchange{lib: tlstrace.LibGnuTLS, request: get10, response: helloResponse},
			map[string][]string{tracep.TLSOpWrite: {"gnutls_record_send"}, tracep.TLSOpRead: {"gnutls_record_recv"}}},
		{"gocl", []string{"gocl", "https://example.test/"}, "",
			exchange{lib: tlstrace.LibGo, request: get11, response: helloResponse},
			map[string][]string{tracep.TLSOpRead: {"crypto/tls.(*Conn).Read"}}},
		{"gocl-stripped", []string{"gocl-stripped", "https://example.test/"}, "",
			exchange{lib: tlstrace.LibGo, request: get11, response: helloResponse},
			map[string][]string{tracep.TLSOpRead: {"crypto/tls.(*Conn).Read"}}},
		{"gocl-bare", []string{"gocl-bare", "https://example.test/"}, "",
			exchange{lib: tlstrace.LibGo, request: get11, response: helloResponse},
			map[string][]string{tracep.TLSOpRead: {"crypto/tls.(*Conn).Read"}}},
		{"gocl-bare-static", []string{"gocl-bare-static", "https://example.test/"}, "",
			exchange{lib: tlstrace.LibGo, request: get11, response: helloResponse},
			map[string][]string{tracep.TLSOpRead: {"crypto/tls.(*Conn).Read"}}},
		{"gocl-pie", []string{"gocl-pie", "https://example.test/"}, "",
			exchange{lib: tlstrace.LibGo, request: get11, response: helloResponse},
			map[string][]string{tracep.TLSOpRead: {"crypto/tls.(*Conn).Read"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			argv := slices.Clone(c.argv)
			if strings.HasPrefix(argv[0], "gocl") {
				argv[0] = goClient(t, argv[0])
			} else {
				tracetest.RequireTool(t, argv[0])
			}
			sc := startScoped(t, tlstrace.Config{})
			cmd := sc.cg.Command(argv[0], argv[1:]...)
			out := string(run(t, n, cmd, c.stdin))
			if c.stdin == "" {
				require.Equal(t, helloResponse, out)
			}
			require.Contains(t, out, helloResponse)
			evs := sc.close()
			c.x.pid, c.x.host = cmd.Process.Pid, "example.test"
			c.x.check(t, evs)
			for op, fns := range c.fns {
				for _, ev := range ops(evs, op, 0) {
					require.Contains(t, fns, ev.TLS.Function, "%s", tracetest.Lines(evs))
				}
			}
		})
	}
}

// A 1 MiB response body arrives complete: the plaintext read adds up to
// the headers and the body, byte for byte, with nothing lost.
func TestIntegrationLargeResponse(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	const size = 1 << 20
	url := fmt.Sprintf("https://example.test/bytes?n=%d", size)
	body := testnet.Bytes(size)
	clients := []struct {
		name  string
		argv  []string
		stdin string
	}{
		{"curl", []string{"curl", "-sS", "-o", "/dev/null", url}, ""},
		{"python3", []string{"python3", "-c", "import urllib.request,sys; sys.stdout.write(str(len(urllib.request.urlopen(sys.argv[1]).read())))", url}, ""},
		{"gnutls-cli", []string{"gnutls-cli", "--logfile=/dev/null", "example.test"}, fmt.Sprintf("GET /bytes?n=%d HTTP/1.0\r\nHost: example.test\r\n\r\n", size)},
		{"go", []string{"gocl", url}, ""},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			argv := c.argv
			if c.name == "go" {
				argv[0] = goClient(t, "gocl")
			} else {
				tracetest.RequireTool(t, argv[0])
			}
			sc := startScoped(t, tlstrace.Config{})
			cmd := sc.cg.Command(argv[0], argv[1:]...)
			run(t, n, cmd, c.stdin)
			evs := sc.close()
			reads := ops(evs, tracep.TLSOpRead, 0)
			rx := stream(reads)
			for _, ev := range reads {
				require.False(t, ev.TLS.Truncated)
			}
			require.True(t, bytes.HasSuffix(rx, body), "%d bytes read in %d events do not end with the body", len(rx), len(reads))
			headers := rx[:len(rx)-size]
			require.True(t, bytes.HasPrefix(headers, []byte("HTTP/1.")), "%.80q", headers)
			require.True(t, bytes.HasSuffix(headers, []byte("\r\n\r\n")), "extra bytes between headers and body: %q", headers)
			require.Equal(t, 1, bytes.Count(headers, []byte("\r\n\r\n")))
		})
	}
}

// A request body with NUL bytes (and every other byte value) is captured
// unchanged, and so is its echo.
func TestIntegrationBinaryBody(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	var body []byte
	for i := range 4 {
		for b := range 256 {
			body = append(body, byte(b), 0, byte(i))
		}
	}
	file := filepath.Join(t.TempDir(), "body.bin")
	require.NoError(t, os.WriteFile(file, body, 0o644))
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"curl", []string{"curl", "-sS", "--data-binary", "@" + file, "-H", "Content-Type: application/octet-stream", "https://example.test/echo"}},
		{"python3", []string{"python3", "-c", "import urllib.request,sys; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], data=open(sys.argv[2],'rb').read()).read())", "https://example.test/echo", file}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tracetest.RequireTool(t, c.argv[0])
			sc := startScoped(t, tlstrace.Config{})
			cmd := sc.cg.Command(c.argv[0], c.argv[1:]...)
			require.Equal(t, body, run(t, n, cmd, ""))
			evs := sc.close()
			tx := stream(ops(evs, tracep.TLSOpWrite, 0))
			require.True(t, bytes.HasSuffix(tx, body), "request body not captured unchanged: %d bytes written", len(tx))
			// The echo comes back chunked: the body in one chunk.
			require.True(t, bytes.Contains(stream(ops(evs, tracep.TLSOpRead, 0)), body))
		})
	}
}

// A process outside the scope using the same libssl (and a Go program
// inspected for the scope) is not reported.
func TestIntegrationOutsiderNotReported(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	tracetest.RequireTool(t, "curl")
	n := newNet(t)
	gocl := goClient(t, "gocl")
	sc := startScoped(t, tlstrace.Config{})
	inside := sc.cg.Command("curl", "-sS", "https://example.test/")
	run(t, n, inside, "")
	// After the inside one, so that the Go client is probed already.
	insideGo := sc.cg.Command(gocl, "https://example.test/")
	run(t, n, insideGo, "")
	outside := exec.Command("curl", "-sS", "https://www.example.test/")
	run(t, n, outside, "")
	outsideGo := exec.Command(gocl, "https://www.example.test/")
	run(t, n, outsideGo, "")
	evs := sc.close()
	pids := map[int32]bool{}
	for _, ev := range evs {
		pids[ev.Proc.PID] = true
		require.NotEqual(t, "www.example.test", ev.TLS.SNI, tracetest.Lines(evs))
	}
	require.Equal(t, map[int32]bool{int32(inside.Process.Pid): true, int32(insideGo.Process.Pid): true}, pids, tracetest.Lines(evs))
}

// A pid scope covers a process running before the session (whose
// libraries are found in its memory maps) and the children it starts
// later, but not its siblings.
func TestIntegrationPIDScope(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	tracetest.RequireTool(t, "python3")
	tracetest.RequireTool(t, "curl")
	n := newNet(t)
	// It maps libssl now, then waits for a line before using it.
	script := `import ssl, sys, subprocess, urllib.request
print("ready", flush=True)
sys.stdin.readline()
urllib.request.urlopen("https://example.test/").read()
subprocess.run(["curl", "-sS", "-o", "/dev/null", "https://www.example.test/"], check=True)
`
	cmd := exec.Command("python3", "-c", script)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, n.Start(cmd))
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	var c tracetest.Collector
	s := tracetest.Start(t, tlstrace.Start, tlstrace.Config{Scope: tracep.Scope{PIDs: []int{cmd.Process.Pid}}}, c.Emit)
	sibling := exec.Command("curl", "-sS", "-o", "/dev/null", "https://example.test/")
	run(t, n, sibling, "")
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	c.CloseSession(t, s)

	evs := c.Events()
	hosts := map[string]int32{}
	for _, ev := range ops(evs, tracep.TLSOpHandshake, 0) {
		hosts[ev.TLS.SNI] = ev.Proc.PID
	}
	require.Equal(t, int32(cmd.Process.Pid), hosts["example.test"], tracetest.Lines(evs))
	require.Contains(t, hosts, "www.example.test", tracetest.Lines(evs))
	require.NotEqual(t, int32(cmd.Process.Pid), hosts["www.example.test"], "the child's own pid")
	for _, ev := range evs {
		require.NotEqual(t, int32(sibling.Process.Pid), ev.Proc.PID, "sibling reported:\n%s", tracetest.Lines(evs))
	}
	require.NotEmpty(t, ops(evs, tracep.TLSOpRead, cmd.Process.Pid), tracetest.Lines(evs))
}

// Plaintext beyond the data limit is cut, with the real length and
// Truncated; two sessions with different limits each get their own.
func TestIntegrationDataLimit(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	tracetest.RequireTool(t, "curl")
	n := newNet(t)
	body := strings.Repeat("0123456789", 300)
	small := startScoped(t, tlstrace.Config{DataLimit: 100})
	cmd := small.cg.Command("curl", "-sS", "--data-binary", body, "https://example.test/echo")
	require.Equal(t, body, string(run(t, n, cmd, "")))
	large := startScoped(t, tlstrace.Config{DataLimit: 64 << 10})
	cmd2 := large.cg.Command("curl", "-sS", "--data-binary", body, "https://example.test/echo")
	run(t, n, cmd2, "")

	for _, evs := range [][]tracep.Event{small.close(), large.close()} {
		require.NotEmpty(t, evs)
	}
	evs := small.Events()
	var cut bool
	for _, ev := range ops(evs, tracep.TLSOpWrite, 0) {
		require.LessOrEqual(t, len(ev.TLS.Data), 100)
		if ev.TLS.Len > 100 {
			cut = true
			require.True(t, ev.TLS.Truncated)
			require.Len(t, ev.TLS.Data, 100)
		}
	}
	require.True(t, cut, tracetest.Lines(evs))
	require.Contains(t, string(stream(ops(large.Events(), tracep.TLSOpWrite, 0))), body)
}

// The fallback to one perf event per uprobe, for kernels without
// uprobe_multi (before 6.6), works the same: curl and a Go program,
// in a process of its own since the choice is made once per process.
func TestIntegrationPerfEventUprobes(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	if os.Getenv("TRACEP_TLS_UPROBES") == "perf" {
		require.False(t, tlstrace.UsesUprobeMulti())
		return
	}
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^(TestIntegrationPerfEventUprobes|TestIntegrationClients)$/^(curl|gocl)$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "TRACEP_TLS_UPROBES=perf")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestIntegrationClients/curl ")
	require.Contains(t, string(out), "--- PASS: TestIntegrationClients/gocl ")
	require.NotContains(t, string(out), "--- SKIP")
}

// A session started before a process and closed after it leaves no
// process behind held: many short Go programs in a row run through.
func TestIntegrationManyExecs(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	gocl := goClient(t, "gocl-pie")
	sc := startScoped(t, tlstrace.Config{})
	done := make(chan error, 1)
	go func() {
		cmd := sc.cg.Command("/bin/sh", "-c", `for i in 1 2 3 4 5 6 7 8; do "$0" https://example.test/ || exit 1; done`, gocl)
		done <- n.Run(cmd)
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the programs did not finish: held and not continued?")
	}
	evs := sc.close()
	require.Len(t, ops(evs, tracep.TLSOpHandshake, 0), 8, tracetest.Lines(evs))
	require.Len(t, ops(evs, tracep.TLSOpWrite, 0), 8, tracetest.Lines(evs))
}

// waitStops waits for pid to exit and returns how often it was stopped
// and continued on the way, from what its parent saw (wait4 with WUNTRACED
// and WCONTINUED). A process continued before its parent looked shows only
// the continuation (the kernel forgets the stop then); that counts as a
// stop too, since only a stopped process reports one.
func waitStops(t *testing.T, pid int) (stops, conts int, exit int) {
	t.Helper()
	stopped := false
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED|unix.WCONTINUED, nil)
		require.NoError(t, err)
		switch {
		case ws.Stopped():
			require.Equal(t, syscall.SIGSTOP, ws.StopSignal())
			stops++
			stopped = true
		case ws.Continued():
			if !stopped {
				stops++
			}
			conts++
			stopped = false
		case ws.Exited():
			return stops, conts, ws.ExitStatus()
		default:
			t.Fatalf("wait status %#x", ws)
		}
	}
}

// A binary not inspected yet is held at exec (SIGSTOP) until probed and
// continued, once; a process leading its own process group (an
// interactive shell's job) is never held.
func TestIntegrationHold(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	// A copy: a file of its own, never inspected before.
	fresh := filepath.Join(t.TempDir(), "gocl")
	require.NoError(t, os.WriteFile(fresh, readFile(t, goClient(t, "gocl")), 0o755))
	sc := startScoped(t, tlstrace.Config{})

	start := func(setpgid bool) *exec.Cmd {
		cmd := sc.cg.Command(fresh, "https://example.test/")
		cmd.SysProcAttr.Setpgid = setpgid
		require.NoError(t, n.Start(cmd))
		return cmd
	}
	var held []int
	holds := tlstrace.Holds()
	cmd := start(false)
	_, _, exit := waitStops(t, cmd.Process.Pid)
	// Held at exec (the kernel says so: the stop itself may be cancelled
	// by the continuation before it takes effect), and continued: it ran
	// to its end.
	require.Greater(t, tlstrace.Holds(), holds, "held")
	require.Zero(t, exit)
	held = append(held, cmd.Process.Pid)
	cmd.Process.Release()

	// Known now: not held again, and probed from the start.
	cmd = start(false)
	stops, _, exit := waitStops(t, cmd.Process.Pid)
	require.Zero(t, exit)
	require.Zero(t, stops)
	held = append(held, cmd.Process.Pid)
	cmd.Process.Release()

	// A new file in a process group of its own: not held, so its first
	// calls race with the attach; its ClientHello, seen on the wire, never
	// does.
	fresh2 := filepath.Join(t.TempDir(), "gocl2")
	require.NoError(t, os.WriteFile(fresh2, readFile(t, fresh), 0o755))
	cmd = sc.cg.Command(fresh2, "https://example.test/")
	cmd.SysProcAttr.Setpgid = true
	require.NoError(t, n.Start(cmd))
	stops, _, exit = waitStops(t, cmd.Process.Pid)
	require.Zero(t, exit)
	require.Zero(t, stops)
	cmd.Process.Release()

	evs := sc.close()
	require.Len(t, ops(evs, tracep.TLSOpHandshake, 0), 3, tracetest.Lines(evs))
	for _, pid := range held {
		require.Len(t, ops(evs, tracep.TLSOpWrite, pid), 1, tracetest.Lines(evs))
		require.Len(t, ops(evs, tracep.TLSOpRead, pid), 1, tracetest.Lines(evs))
	}
}

// Many processes executing one new binary at once: the first is held while
// the file is inspected, the others are reported too and continued as soon
// as it is known, each exactly after its stop was sent. None stays stopped.
func TestIntegrationHoldConcurrentExecs(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	for round := range 3 {
		fresh := filepath.Join(t.TempDir(), "true")
		require.NoError(t, os.WriteFile(fresh, readFile(t, "/bin/true"), 0o755))
		sc := startScoped(t, tlstrace.Config{})
		cmd := sc.cg.Command("/bin/sh", "-c", `i=0; while [ $i -lt 30 ]; do "$0" & i=$((i+1)); done; wait`, fresh)
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: processes left stopped", round)
		}
		sc.close()
	}
}

// staticClientSource is an HTTPS client in C, linked with OpenSSL's static
// libraries by TestIntegrationStaticOpenSSL.
const staticClientSource = `#include <openssl/ssl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
	const char *host = argv[1];
	struct addrinfo hints = {0}, *ai;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, "443", &hints, &ai)) return 2;
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen)) return 3;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_default_verify_paths(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
	if (SSL_connect(ssl) != 1) return 4;
	char req[256];
	snprintf(req, sizeof req, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
	SSL_write(ssl, req, strlen(req));
	char buf[4096];
	int n;
	while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) fwrite(buf, 1, n, stdout);
	return 0;
}
`

// A program that links OpenSSL statically, keeping its symbols, is probed
// in its own executable, which the system's libssl does not cover.
func TestIntegrationStaticOpenSSL(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	cc := ""
	for _, c := range []string{"cc", "clang", "gcc"} {
		if p, err := exec.LookPath(c); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "client.c"), filepath.Join(dir, "sslclient")
	require.NoError(t, os.WriteFile(src, []byte(staticClientSource), 0o644))
	if out, err := exec.Command(cc, "-O1", "-o", bin, src, "-Wl,-Bstatic", "-lssl", "-lcrypto", "-Wl,-Bdynamic", "-ldl", "-lpthread").CombinedOutput(); err != nil {
		t.Skipf("cannot link OpenSSL statically (libssl-dev's static libraries?): %v\n%s", err, out)
	}
	n := newNet(t)
	sc := startScoped(t, tlstrace.Config{})
	cmd := sc.cg.Command(bin, "example.test")
	require.Contains(t, string(run(t, n, cmd, "")), helloResponse)
	found := false
	for _, f := range sc.s.Files() {
		found = found || (f.Path == bin && f.Libraries[0] == tlstrace.LibOpenSSL)
	}
	require.True(t, found, "the program itself is probed: %+v", sc.s.Files())
	evs := sc.close()
	exchange{pid: cmd.Process.Pid, lib: tlstrace.LibOpenSSL, host: "example.test",
		request: "GET / HTTP/1.0\r\nHost: example.test\r\n\r\n", response: helloResponse}.check(t, evs)
}

// Two Go clients without symbols, DWARF or file paths, one dynamically
// linked and one static, run side by side with a connection each to the
// same server address under different server names, both connections open
// at once and used after each other's handshake: every plaintext event
// names its own connection (socket cookie and addresses) and server name.
func TestIntegrationStrippedSideBySide(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	sc := startScoped(t, tlstrace.Config{})
	type client struct {
		host        string
		cmd         *exec.Cmd
		stdin       io.WriteCloser
		out, stderr tracetest.Buffer
	}
	start := func(bin, host string) *client {
		c := &client{host: host, cmd: sc.cg.Command(goClient(t, bin), "https://"+host+"/")}
		c.cmd.Env = append(os.Environ(), "GOCL_PAUSE=1")
		c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.stderr
		var err error
		c.stdin, err = c.cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, n.Start(c.cmd))
		t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
		c.stderr.WaitLine(t, "paused") // handshake and first request done
		return c
	}
	clients := []*client{start("gocl-bare", "example.test"), start("gocl-bare-static", "www.example.test")}
	for _, c := range clients { // the second requests, on the open connections
		_, err := io.WriteString(c.stdin, "go\n")
		require.NoError(t, err)
	}
	for _, c := range clients {
		require.NoError(t, c.cmd.Wait(), c.stderr.String())
		require.Equal(t, "hello from "+c.host+"\n"+"hello from "+c.host+"\n", c.out.String())
	}
	evs := sc.close()
	all := tracetest.Lines(evs)

	cookies := map[uint64]bool{}
	for _, c := range clients {
		pid := c.cmd.Process.Pid
		hs := ops(evs, tracep.TLSOpHandshake, pid)
		require.Len(t, hs, 1, "one connection for pid %d:\n%s", pid, all)
		conn := hs[0].TLS
		require.Equal(t, c.host, conn.SNI)
		require.NotZero(t, conn.Cookie)
		cookies[conn.Cookie] = true
		data := append(ops(evs, tracep.TLSOpWrite, pid), ops(evs, tracep.TLSOpRead, pid)...)
		require.Len(t, ops(evs, tracep.TLSOpWrite, pid), 2, "two requests:\n%s", all)
		for _, ev := range data {
			x := ev.TLS
			require.Equal(t, tlstrace.LibGo, x.Library)
			require.Equal(t, c.host, x.SNI, all)
			require.Equal(t, conn.Cookie, x.Cookie, all)
			require.Equal(t, conn.Src, x.Src, all)
			require.Equal(t, conn.Dst, x.Dst, all)
			require.Empty(t, x.Incomplete(), all)
		}
		require.Contains(t, string(stream(ops(evs, tracep.TLSOpWrite, pid))), "Host: "+c.host+"\r\n")
	}
	require.Len(t, cookies, 2, "two connections")
	require.Equal(t, ops(evs, tracep.TLSOpHandshake, clients[0].cmd.Process.Pid)[0].TLS.Dst,
		ops(evs, tracep.TLSOpHandshake, clients[1].cmd.Process.Pid)[0].TLS.Dst, "the same server address")
}

// One stripped static Go program with two connections at once, to two
// server names, in two goroutines: each plaintext event has the socket and
// server name of its own connection.
func TestIntegrationGoConnectionsAtOnce(t *testing.T) {
	tracetest.RequireSupported(t, tlstrace.Supported())
	n := newNet(t)
	sc := startScoped(t, tlstrace.Config{})
	cmd := sc.cg.Command(goClient(t, "gocl-bare-static"), "https://example.test/", "https://www.example.test/")
	cmd.Env = append(os.Environ(), "GOCL_PARALLEL=1")
	run(t, n, cmd, "")
	evs := sc.close()
	all := tracetest.Lines(evs)
	names := map[uint64]string{}
	for _, ev := range ops(evs, tracep.TLSOpHandshake, 0) {
		names[ev.TLS.Cookie] = ev.TLS.SNI
	}
	require.Len(t, names, 2, all)
	writes := ops(evs, tracep.TLSOpWrite, 0)
	require.Len(t, writes, 6, all)
	for _, ev := range append(writes, ops(evs, tracep.TLSOpRead, 0)...) {
		require.NotZero(t, ev.TLS.Cookie, all)
		require.Equal(t, names[ev.TLS.Cookie], ev.TLS.SNI, all)
		require.Empty(t, ev.TLS.Incomplete(), all)
	}
	for _, ev := range writes {
		require.Contains(t, string(ev.TLS.Data), "Host: "+ev.TLS.SNI+"\r\n", all)
	}
}
