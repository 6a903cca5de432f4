package tlstrace_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

func discard(tracep.Event) {}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkArmCold measures Start of the first TLS session of a fresh
// process, as a CLI run or a test binary pays it: loading the kernel's
// BTF, the core and the TLS programs, attaching the system call and exec
// hooks and the uprobes of the system's libssl and libgnutls, a ring buffer
// and the scope. Each iteration runs in a new process (TestArmHelper).
func BenchmarkArmCold(b *testing.B) {
	tracetest.RequireSupported(b, tlstrace.Supported())
	self, err := os.Executable()
	must(b, err)
	var arm time.Duration
	for range b.N {
		cmd := exec.Command(self, "-test.run=^TestArmHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TRACEP_TLS_HELPER=arm")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		f := strings.Fields(lastArm(string(out)))
		if len(f) != 2 {
			b.Fatalf("helper said %q", out)
		}
		d, err := time.ParseDuration(f[1])
		must(b, err)
		arm += d
	}
	b.ReportMetric(ms(arm)/float64(b.N), "arm-ms")
}

func lastArm(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "arm ") {
			return line
		}
	}
	return ""
}

// TestArmHelper is BenchmarkArmCold's process: it starts one session and
// prints how long Start took.
func TestArmHelper(t *testing.T) {
	if os.Getenv("TRACEP_TLS_HELPER") != "arm" {
		t.Skip("helper process of BenchmarkArmCold")
	}
	cg := tracetest.Open(t, cgroup.New)
	t0 := time.Now()
	s, err := tlstrace.Start(context.Background(), tlstrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, discard)
	d := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("arm %v\n", d)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// certFiles writes a fresh self-signed certificate for bench.test and its
// key, and returns their paths.
func certFiles(b *testing.B) (string, string) {
	b.Helper()
	dir := b.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench.test"},
		DNSNames: []string{"bench.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(b, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(b, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// tlsServer runs `openssl s_server` on a loopback port with a fresh
// certificate, in a process of its own so that its CPU is not the
// tracer's; mode is its mode flag ("-www": a status page per connection).
func tlsServer(b *testing.B, mode string) string {
	b.Helper()
	tracetest.RequireTool(b, "openssl")
	certFile, keyFile := certFiles(b)

	// A free port: bind, note it, release it for the server.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := exec.Command("openssl", "s_server", "-accept", "127.0.0.1:"+strconv.Itoa(port), mode,
		"-cert", certFile, "-key", keyFile)
	stdout, err := srv.StdoutPipe()
	must(b, err)
	must(b, srv.Start())
	b.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	// It prints ACCEPT once listening.
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("openssl s_server did not start: %v", err)
		}
		if strings.HasPrefix(line, "ACCEPT") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return "127.0.0.1:" + strconv.Itoa(port)
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHandshakes runs 300 curl processes in a traced cgroup, each a
// TLS handshake with a local openssl s_server and one request, and reports
// the tracer's CPU time (this process: ring reading, decoding, the
// collector; the BPF programs run in the traced processes), the events
// and losses.
func BenchmarkHandshakes(b *testing.B) {
	tracetest.RequireSupported(b, tlstrace.Supported())
	tracetest.RequireTool(b, "curl")
	addr := tlsServer(b, "-www")
	const n = 300
	for range b.N {
		cg, err := cgroup.New()
		must(b, err)
		var c tracetest.Collector
		s, err := tlstrace.Start(context.Background(), tlstrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.Emit)
		must(b, err)
		cmd := cg.Command("/bin/sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do curl -sk -o /dev/null https://%s/ || exit 1; i=$((i+1)); done`, n, addr))
		cpu0, t0 := tracetest.CPUTime(b), time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		closeErr := s.Close()
		cpu, wall := tracetest.CPUTime(b)-cpu0, time.Since(t0)
		cg.Close()
		var lost uint64
		var le *tracep.LostError
		switch {
		case errors.As(closeErr, &le):
			lost = le.Count
		case closeErr != nil:
			b.Fatal(closeErr)
		}
		evs := c.Events()
		hs, tx := len(ops(evs, tracep.TLSOpHandshake, 0)), len(ops(evs, tracep.TLSOpWrite, 0))
		if hs != n || tx < n {
			b.Fatalf("%d handshakes and %d writes seen for %d requests", hs, tx, n)
		}
		b.ReportMetric(cpu.Seconds(), "tracer-cpu-s")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(len(evs)), "events")
		b.ReportMetric(float64(lost), "lost")
	}
}

// BenchmarkUntracedSlowdown measures what the probes cost a process that
// is not traced but uses the probed libssl: python3 exchanging 20,000
// short messages between two TLS objects over memory BIOs (one
// SSL_write_ex and one SSL_read_ex each, no system calls, so nothing but
// the library's own work to compare with), with no probe attached and then
// while a session traces another cgroup. The uprobes fire in every process
// that maps the library; the BPF programs return after the scope check.
// Each figure is the best of three runs, alternated.
func BenchmarkUntracedSlowdown(b *testing.B) {
	tracetest.RequireSupported(b, tlstrace.Supported())
	tracetest.RequireTool(b, "python3")
	certFile, keyFile := certFiles(b)
	const rounds = 20000
	script := fmt.Sprintf(`import ssl, time
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(%q, %q)
cctx = ssl._create_unverified_context()
c2s, s2c, x, y = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
cli = cctx.wrap_bio(s2c, c2s, server_hostname="bench.test")
srv = sctx.wrap_bio(c2s, s2c, server_side=True)
for _ in range(10):
    for o in (cli, srv):
        try:
            o.do_handshake()
        except ssl.SSLWantReadError:
            pass
msg = b"hello tracep"
t0 = time.perf_counter()
for i in range(%d):
    cli.write(msg)
    srv.read(64)
print(time.perf_counter() - t0)
`, certFile, keyFile, rounds)
	measure := func() time.Duration {
		out, err := exec.Command("python3", "-c", script).CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		sec, err := strconv.ParseFloat(strings.TrimSpace(lastLine(string(out))), 64)
		must(b, err)
		return time.Duration(sec * float64(time.Second))
	}
	cg := tracetest.Open(b, cgroup.New)
	var base, probed time.Duration
	for range b.N {
		bestBase, bestProbed := time.Duration(1<<62), time.Duration(1<<62)
		for range 3 {
			bpfcore.DetachIdle()
			bestBase = min(bestBase, measure())
			s, err := tlstrace.Start(context.Background(), tlstrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, discard)
			must(b, err)
			bestProbed = min(bestProbed, measure())
			must(b, s.Close())
		}
		base += bestBase
		probed += bestProbed
	}
	bpfcore.DetachIdle()
	perCall := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*rounds*2) / 1000 }
	b.ReportMetric(perCall(base), "untraced-us/call")
	b.ReportMetric(perCall(probed), "probed-us/call")
	b.ReportMetric(perCall(probed)-perCall(base), "cost-us/call")
	b.ReportMetric(100*(perCall(probed)/perCall(base)-1), "slowdown-%")
}

func lastLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	last := ""
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	return last
}

// BenchmarkSocketIO measures what a TLS session costs the socket I/O of a
// process it does not trace: 20,000 one-byte round trips over a loopback
// TCP connection (a write and a read at each end), with no session and
// then while one traces another cgroup. Every send and receive of the
// machine passes the socket tracepoints, which look for a library call in
// progress. Each figure is the best of three runs, alternated.
func BenchmarkSocketIO(b *testing.B) {
	tracetest.RequireSupported(b, tlstrace.Supported())
	const rounds = 20000
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	measure := func() time.Duration {
		c, err := net.Dial("tcp", l.Addr().String())
		must(b, err)
		defer c.Close()
		buf := []byte{1}
		t0 := time.Now()
		for range rounds {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	cg := tracetest.Open(b, cgroup.New)
	var base, traced time.Duration
	for range b.N {
		bestBase, bestTraced := time.Duration(1<<62), time.Duration(1<<62)
		for range 3 {
			bpfcore.DetachIdle()
			bestBase = min(bestBase, measure())
			s, err := tlstrace.Start(context.Background(), tlstrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, discard)
			must(b, err)
			bestTraced = min(bestTraced, measure())
			must(b, s.Close())
		}
		base += bestBase
		traced += bestTraced
	}
	bpfcore.DetachIdle()
	perTrip := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*rounds) / 1000 }
	b.ReportMetric(perTrip(base), "untraced-us/roundtrip")
	b.ReportMetric(perTrip(traced), "traced-us/roundtrip")
	b.ReportMetric((perTrip(traced)-perTrip(base))*1000/4, "cost-ns/sendrecv")
}
