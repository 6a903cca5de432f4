package webtest

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tracep/tracep/tracep"
)

// Trace returns a synthetic trace of n events (n ≥ 100) shaped like a
// real one, numbered and in time order: a shell whose workers each run
// curls that resolve a name, connect, speak TLS and exit, with an argv cut
// at the capture limit now and then, a truncated TLS read, and a "lost"
// note in the middle. It is the same for the same n.
func Trace(n int) []tracep.Event {
	g := &gen{t0: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), k: 1_000_000_000}
	root := tracep.Proc{PID: 1000, PPID: 1, UID: 0, Comm: "sh"}
	g.add(n, root, func(ev *tracep.Event) {
		ev.Kind, ev.Exec = tracep.KindExec, &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/sh", Argv: []string{"sh", "-c", "run-workers"}}
	})
	const perCurl = 44 // events of one curl, below
	pid := int32(2000)
	for w := 0; len(g.evs)+perCurl+3 < n; w++ {
		worker := tracep.Proc{PID: 1001 + int32(w), PPID: root.PID, Comm: "xargs"}
		g.add(n, worker, func(ev *tracep.Event) {
			ev.Kind, ev.Exec = tracep.KindExec, &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/usr/bin/xargs", Argv: []string{"xargs", "-n1", "curl", "-sS"}}
		})
		for c := 0; c < 20 && len(g.evs)+perCurl+2 < n; c++ {
			pid++
			g.curl(n, tracep.Proc{PID: pid, PPID: worker.PID, Comm: "curl"}, int(pid))
		}
		g.add(n, worker, func(ev *tracep.Event) {
			ev.Kind, ev.Exec = tracep.KindExec, &tracep.Exec{Op: tracep.ExecOpExit}
		})
	}
	for len(g.evs) < n-1 { // the shell's own lookups fill the rest
		g.add(n, root, func(ev *tracep.Event) {
			ev.Kind, ev.DNS = tracep.KindDNS, &tracep.DNS{Name: "localhost", Type: "A", Transport: "udp", RCode: "NXDOMAIN", Answered: true}
		})
	}
	g.add(n, root, func(ev *tracep.Event) {
		ev.Kind, ev.Exec = tracep.KindExec, &tracep.Exec{Op: tracep.ExecOpExit}
	})
	return g.evs
}

type gen struct {
	evs  []tracep.Event
	t0   time.Time
	k    uint64
	lost bool
}

// add appends one event of proc, unless the trace has n events already;
// the gap before it is a few hundred microseconds, with a quiet second
// every 10,000 events, so that the timeline has bursts and gaps.
func (g *gen) add(n int, proc tracep.Proc, fill func(*tracep.Event)) {
	if len(g.evs) >= n {
		return
	}
	g.k += uint64(137+len(g.evs)%263) * 1000
	if len(g.evs)%10_000 == 9_999 {
		g.k += uint64(time.Second)
	}
	ev := tracep.Event{Schema: tracep.SchemaVersion, Seq: uint64(len(g.evs) + 1), KTime: g.k,
		Time: g.t0.Add(time.Duration(g.k)), Proc: proc}
	ev.Proc.TID = proc.PID
	fill(&ev)
	g.evs = append(g.evs, ev)
	if !g.lost && len(g.evs) >= n/2 {
		g.lost = true
		g.add(n, tracep.Proc{}, func(ev *tracep.Event) {
			ev.Kind, ev.Trace = tracep.KindTrace, &tracep.Note{Op: tracep.NoteLost, Of: tracep.KindNet, Count: 17, Total: 17}
		})
	}
}

// curl adds one curl process: exec, A and AAAA queries, a few HTTPS
// requests, exit.
func (g *gen) curl(n int, p tracep.Proc, i int) {
	host := fmt.Sprintf("host-%d.example.test", i%500)
	addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%250)})
	argv := []string{"curl", "-sS", "https://" + host + "/item/" + fmt.Sprint(i)}
	g.add(n, p, func(ev *tracep.Event) {
		ev.Kind, ev.Exec = tracep.KindExec, &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/usr/bin/curl", Argv: argv, ArgvTruncated: i%97 == 0}
	})
	client := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(40000+i%20000))
	server := netip.MustParseAddrPort("127.0.0.53:53")
	for _, typ := range []string{"A", "AAAA"} {
		g.add(n, p, func(ev *tracep.Event) {
			d := &tracep.DNS{ID: uint16(i), Name: host, Type: typ, Transport: "udp", Client: client, Server: server,
				RCode: "NOERROR", Answered: true, Latency: 300 * time.Microsecond}
			if typ == "A" {
				d.Answers = []tracep.DNSRecord{{Name: host, Type: "A", TTL: 300, Data: addr.String()}}
			}
			ev.Kind, ev.DNS = tracep.KindDNS, d
		})
	}
	for r := 0; r < 8; r++ {
		src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(30000+(i*8+r)%30000))
		dst := netip.AddrPortFrom(addr, 443)
		g.add(n, p, func(ev *tracep.Event) {
			ev.Kind, ev.Net = tracep.KindNet, &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut, Src: src, Dst: dst}
		})
		g.add(n, p, func(ev *tracep.Event) {
			ev.Kind, ev.TLS = tracep.KindTLS, &tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", Function: "ClientHello", SNI: host, Src: src, Dst: dst}
		})
		req := []byte("GET /item/" + fmt.Sprint(i) + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
		g.add(n, p, func(ev *tracep.Event) {
			ev.Kind, ev.TLS = tracep.KindTLS, &tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Function: "SSL_write", SNI: host, Data: req, Len: len(req), Src: src, Dst: dst}
		})
		resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n")
		g.add(n, p, func(ev *tracep.Event) {
			x := &tracep.TLS{Op: tracep.TLSOpRead, Library: "openssl", Function: "SSL_read", SNI: host, Data: resp, Len: len(resp), Src: src, Dst: dst}
			if (i+r)%101 == 0 {
				x.Len, x.Truncated = 70000, true
			}
			ev.Kind, ev.TLS = tracep.KindTLS, x
		})
		g.add(n, p, func(ev *tracep.Event) {
			ev.Kind, ev.Net = tracep.KindNet, &tracep.Net{Op: tracep.NetOpClose, Proto: "tcp", Dir: tracep.DirOut, Src: src, Dst: dst,
				Duration: 4 * time.Millisecond, BytesSent: uint64(len(req)), BytesReceived: uint64(len(resp))}
		})
	}
	g.add(n, p, func(ev *tracep.Event) {
		x := &tracep.Exec{Op: tracep.ExecOpExit, Duration: 40 * time.Millisecond}
		if i%53 == 0 {
			x.ExitCode = 6
		}
		ev.Kind, ev.Exec = tracep.KindExec, x
	})
}
