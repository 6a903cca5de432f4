package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/tracep/tracep/tracep/tracetest"
)

// workloads lists the tracer table's rows: first the scoped bursts (-p),
// then the reference's own kind of run, the whole system with events
// spread out as real programs make them.
func workloads() []workload {
	return []workload{
		{name: "exec", desc: "N×4,000 execs of /bin/true", run: benchExec},
		{name: "net", desc: "N×1,000 TCP connects to a loopback listener, each closed at once", run: benchNet},
		{name: "dns", desc: "N×1,200 lookups (glibc, in the hermetic network) while another process floods 50,000 UDP packets on loopback", run: benchDNS, inNet: true},
		{name: "tls", desc: "N×300 HTTPS requests by curl (a full handshake each) to the local server", run: benchTLS, inNet: true},
		{name: "ca", desc: "N×50 fetches against the local HTTPS server (tracep, handing over to tracep-full)", run: benchCA, oneoff: true, inNet: true},
		{name: "ca", desc: "the same, tracep-full run directly", run: benchCAFull, oneoff: true, inNet: true},

		{name: "dns", system: true, desc: "N×1,200 getent lookups one after another (resolver on loopback in the hermetic network)", run: benchGetent, inNet: true},
		{name: "dns", system: true, desc: "the same, with a helper process and 50 unrelated datagrams after each lookup", run: benchGetentNoisy, inNet: true},
		{name: "net", system: true, desc: "N×1,000 TCP connects to a loopback listener", run: benchNet},
		{name: "net", system: true, desc: "N×300 TCP connects at ~60/s", run: benchNetPaced},
		{name: "net", system: true, desc: "N×40 TCP connects at ~4/s", run: benchNetSlow},
		{name: "tls", system: true, desc: "N×300 HTTPS requests by curl to the local server", run: benchTLS, inNet: true},
		{name: "exec", system: true, desc: "N×4,000 execs of /bin/true", run: benchExec},
	}
}

func benchExec(b *bench, w workload, scale int) (result, error) {
	n := 4000 * scale
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do /bin/true bench-exec; i=$((i+1)); done`, n)
	line := regexp.MustCompile(`(?m)^[0-9]+ /bin/true bench-exec$`)
	return b.daemon(w, []string{"exec", "-f"}, script, n, func(out []byte) int {
		return len(line.FindAllIndex(out, -1))
	})
}

// benchCA runs `tracep ca` as a process per fetch, as the reference does.
func benchCA(b *bench, _ workload, scale int) (result, error) { return fetches(b.bin, b, scale) }

// benchCAFull runs tracep-full ca, which tracep hands `ca` over to.
func benchCAFull(b *bench, _ workload, scale int) (result, error) {
	return fetches(filepath.Join(filepath.Dir(b.bin), "tracep-full"), b, scale)
}

func fetches(bin string, b *bench, scale int) (result, error) {
	var r result
	n := 50 * scale
	for i := 0; i < n; i++ {
		cmd := exec.Command(bin, "ca", "-o", "-", "example.test")
		cmd.Env = append(os.Environ(), "TRACEP_STARTUP=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := b.net.Run(cmd); err != nil {
			return r, fmt.Errorf("tracep ca: %w: %s", err, stderr.Bytes())
		}
		r.wall += time.Since(t0)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		r.cpu += tv(ru.Utime) + tv(ru.Stime)
		peak := peakFromStartupTrace(bufio.NewScanner(&stderr), io.Discard)
		if peak == 0 {
			return r, fmt.Errorf("tracep ca: %w", errNoPeak)
		}
		r.peakRSS = max(r.peakRSS, peak)
	}
	r.wall /= time.Duration(n)
	r.cpu /= time.Duration(n)
	return r, nil
}

func benchNet(b *bench, w workload, scale int) (result, error) {
	return b.connects(w, 1000*scale, 0)
}

// benchNetPaced connects about 60 times a second: each connect arrives on
// its own, the arrival pattern that costs a tracer a wakeup per event.
func benchNetPaced(b *bench, w workload, scale int) (result, error) {
	return b.connects(w, 300*scale, time.Second/60)
}

// benchNetSlow connects 4 times a second, so that about two connects
// share a tick: the tracer's wake-up, not its work per event, is what it
// pays for.
func benchNetSlow(b *bench, w workload, scale int) (result, error) {
	return b.connects(w, 40*scale, time.Second/4)
}

// connects runs n connects to a loopback listener, a pause apart.
func (b *bench) connects(w workload, n int, pause time.Duration) (result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer tracetest.Serve(ln, nil)()
	port := ln.Addr().(*net.TCPAddr).Port
	script := fmt.Sprintf(`python3 -c 'import socket, time
for i in range(%d):
    s = socket.create_connection(("127.0.0.1", %d)); s.close()
    if %f: time.sleep(%f)'`, n, port, pause.Seconds(), pause.Seconds())
	line := regexp.MustCompile(fmt.Sprintf(`(?m)^ *[0-9]+ python3 .*→ 127\.0\.0\.1:%d\b`, port))
	return b.daemon(w, []string{"net"}, script, n, func(out []byte) int {
		return len(line.FindAllIndex(out, -1))
	})
}

func benchDNS(b *bench, w workload, scale int) (result, error) {
	n := 1200 * scale
	// The flood: 50,000 unrelated UDP datagrams on the host's loopback,
	// sent by this process (outside the traced tree) during the workload.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer sink.Close()
	go drain(sink)
	conn, err := net.Dial("udp", sink.LocalAddr().String())
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	stop := make(chan struct{})
	flooded := make(chan struct{})
	b.onRelease = func() {
		go func() {
			defer close(flooded)
			payload := make([]byte, 100)
			for i := 0; i < 50000*scale; i++ {
				select {
				case <-stop:
					return
				default:
				}
				conn.Write(payload)
			}
		}()
	}
	defer func() { close(stop); <-flooded; b.onRelease = nil }()
	script := fmt.Sprintf(`python3 -c 'import socket
for i in range(%d):
    try: socket.gethostbyname("h%%d.example.test" %% i)
    except OSError: pass'`, n)
	return b.daemon(w, []string{"dns"}, script, n, countNames)
}

var lookedUp = regexp.MustCompile(`(?m)h[0-9]+\.example\.test`)

// countNames counts the distinct names the workload looked up.
func countNames(out []byte) int {
	seen := map[string]bool{}
	for _, m := range lookedUp.FindAll(out, -1) {
		seen[string(m)] = true
	}
	return len(seen)
}

// drain reads pc until it is closed.
func drain(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return
		}
	}
}

// benchGetent runs getent, a process per lookup, one after another: the
// resolver is the hermetic network's, on its loopback.
func benchGetent(b *bench, w workload, scale int) (result, error) {
	n := 1200 * scale
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do getent ahostsv4 h$i.example.test; i=$((i+1)); done`, n)
	return b.daemon(w, []string{"dns"}, script, n, countNames)
}

// benchGetentNoisy is benchGetent with, after each lookup, a short-lived
// helper process that sends 50 datagrams to a UDP sink in the hermetic
// network: traffic a DNS tracer must look at and let go.
func benchGetentNoisy(b *bench, w workload, scale int) (result, error) {
	n := 1200 * scale
	var sink net.PacketConn
	if err := b.net.Do(func() (err error) {
		sink, err = net.ListenPacket("udp", "127.0.0.1:0")
		return err
	}); err != nil {
		return result{}, err
	}
	defer sink.Close()
	go drain(sink)
	port := sink.LocalAddr().(*net.UDPAddr).Port
	helper := fmt.Sprintf(`bash -c 'exec 3>/dev/udp/127.0.0.1/%d; for j in {1..50}; do printf x >&3; done'`, port)
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do getent ahostsv4 h$i.example.test; %s; i=$((i+1)); done`, n, helper)
	return b.daemon(w, []string{"dns"}, script, n, countNames)
}

func benchTLS(b *bench, w workload, scale int) (result, error) {
	n := 300 * scale
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do curl -sS -o /dev/null https://example.test/bench-tls; i=$((i+1)); done`, n)
	// One request line per handshake, as the TX event's first data line.
	// Whole-system, the local server (Go's crypto/tls, in this process) is
	// traced too: its read of each request is a second line.
	line := regexp.MustCompile(`(?m)^    GET /bench-tls HTTP/1\.1`)
	expected := n
	if w.system {
		expected = 2 * n
	}
	return b.daemon(w, []string{"tls"}, script, expected, func(out []byte) int {
		return len(line.FindAllIndex(out, -1))
	})
}
