package tracetest

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
)

// ListenTCP listens on addr ("127.0.0.1:0", "[::1]:0") and serves it with
// Serve until t ends. It returns the address listened on.
func ListenTCP(t testing.TB, addr string, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(Serve(ln, serve))
	return netip.MustParseAddrPort(ln.Addr().String())
}

// Serve accepts connections on ln until it is closed and hands each to
// serve on a goroutine of its own; a nil serve closes it at once. The stop
// function it returns closes ln and every connection still open, and waits
// for the goroutines. It needs no test, so helper processes use it too.
func Serve(ln net.Listener, serve func(net.Conn)) (stop func()) {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if serve == nil {
				c.Close()
				continue
			}
			mu.Lock()
			if closed { // accepted as stop began
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				serve(c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			})
		}
	})
	return func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// Echo writes back to c what it reads until EOF: a serve function for
// ListenTCP.
func Echo(c net.Conn) { _, _ = io.Copy(c, c) }

// ListenUDP binds a UDP socket on addr and reads datagrams until t ends,
// sending each back to its sender when echo is set. It returns the bound
// address.
func ListenUDP(t testing.TB, addr string, echo bool) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if echo {
				_, _ = pc.WriteTo(buf[:n], from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// ClosedPort returns a loopback TCP address nothing listens on: that of a
// listener just closed.
func ClosedPort(t testing.TB) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return ap
}
