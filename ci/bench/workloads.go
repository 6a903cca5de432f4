package main

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"syscall"
	"time"

	"github.com/tracep/tracep/tracep/tracetest"
)

func workloads() []workload {
	return []workload{
		{name: "exec", desc: "N×4,000 execs of /bin/true", run: benchExec},
		{name: "net", desc: "N×1,000 TCP connects to a loopback listener, each closed at once", run: benchNet},
		{name: "dns", desc: "N×1,200 lookups (glibc, in the hermetic network) while another process floods 50,000 UDP packets on loopback", run: benchDNS, inNet: true},
		{name: "tls", desc: "N×300 HTTPS requests by curl (a full handshake each) to the local server", run: benchTLS, inNet: true},
		{name: "ca", desc: "N×50 fetches against the local HTTPS server", run: benchCA, oneoff: true, inNet: true},
	}
}

func benchExec(b *bench, scale int) (result, error) {
	n := 4000 * scale
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do /bin/true bench-exec; i=$((i+1)); done`, n)
	line := regexp.MustCompile(`(?m)^[0-9]+ /bin/true bench-exec$`)
	return b.daemon([]string{"exec", "-f"}, script, false, n, func(out []byte) int {
		return len(line.FindAllIndex(out, -1))
	})
}

// benchCA runs `tracep ca` as a process per fetch, as the reference does.
func benchCA(b *bench, scale int) (result, error) {
	var r result
	n := 50 * scale
	for i := 0; i < n; i++ {
		cmd := exec.Command(b.bin, "ca", "-o", "-", "example.test")
		t0 := time.Now()
		if err := b.net.Run(cmd); err != nil {
			return r, fmt.Errorf("tracep ca: %w", err)
		}
		r.wall += time.Since(t0)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		r.cpu += tv(ru.Utime) + tv(ru.Stime)
		r.peakRSS = max(r.peakRSS, ru.Maxrss)
	}
	r.wall /= time.Duration(n)
	r.cpu /= time.Duration(n)
	return r, nil
}

func benchNet(b *bench, scale int) (result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer tracetest.Serve(ln, nil)()
	port := ln.Addr().(*net.TCPAddr).Port
	n := 1000 * scale
	script := fmt.Sprintf(`python3 -c 'import socket
for i in range(%d):
    s = socket.create_connection(("127.0.0.1", %d)); s.close()'`, n, port)
	line := regexp.MustCompile(fmt.Sprintf(`(?m)^ *[0-9]+ python3 .*→ 127\.0\.0\.1:%d\b`, port))
	return b.daemon([]string{"net"}, script, false, n, func(out []byte) int {
		return len(line.FindAllIndex(out, -1))
	})
}

func benchDNS(b *bench, scale int) (result, error) {
	n := 1200 * scale
	// The flood: 50,000 unrelated UDP datagrams on the host's loopback,
	// sent by this process (outside the traced tree) during the workload.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
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
	line := regexp.MustCompile(`(?m)h[0-9]+\.example\.test`)
	return b.daemon([]string{"dns"}, script, true, n, func(out []byte) int {
		seen := map[string]bool{}
		for _, m := range line.FindAll(out, -1) {
			seen[string(m)] = true
		}
		return len(seen)
	})
}

func benchTLS(b *bench, scale int) (result, error) {
	n := 300 * scale
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do curl -sS -o /dev/null https://example.test/bench-tls; i=$((i+1)); done`, n)
	// One request line per handshake, as the TX event's first data line.
	line := regexp.MustCompile(`(?m)^    GET /bench-tls HTTP/1\.1`)
	return b.daemon([]string{"tls"}, script, true, n, func(out []byte) int {
		return len(line.FindAllIndex(out, -1))
	})
}
