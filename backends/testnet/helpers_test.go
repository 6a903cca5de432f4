package testnet

import (
	"bytes"
	"runtime"
	"strings"
)

// serverFrames mark goroutines that serve a Net or a DNSServer.
var serverFrames = []string{
	"testnet.(*DNSServer).",
	"testnet.(*Net).",
	"testnet.(*namespace).",
	"net/http.(*Server).Serve",
	"net/http.(*conn).serve",
}

// blockedServers returns the stacks of goroutines that are parked inside
// server code. A goroutine that has signalled its WaitGroup but not yet
// returned is running or runnable, not parked, so the check needs no
// retries.
func blockedServers() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := strings.Cut(string(g), "\n")
		if strings.Contains(header, "[running") || strings.Contains(header, "[runnable") {
			continue
		}
		for _, f := range serverFrames {
			if bytes.Contains(g, []byte(f)) {
				out = append(out, string(g))
				break
			}
		}
	}
	return out
}
