package base

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tracep/tracep/tracep"
)

const netHelp = `usage: tracep net [-46cjOQrtuU] [-o FILE] [-p PID[,PID...]] [-i MS] [[--] CMD [ARGS...]]

Trace TCP and UDP flows: every connect, accepted connection and first UDP
datagram to each peer, with the process that made it, from BPF hooks in the
kernel (nothing is polled, so no flow is too short to be seen).

  -4        IPv4 flows only
  -6        IPv6 flows only
  -c        force colour (default: on when the output is a terminal and NO_COLOR is unset)
  -i MS     accepted and ignored (the reference's macOS poll interval)
  -j        JSON lines in the tracep event schema
  -net      run CMD inside tracep's hermetic test network
  -o FILE   append output to FILE
  -O        outbound flows only: hide inbound (and unknown-direction) flows
  -p PIDS   trace these processes and all their descendants, running and
            future (comma-separated, repeatable)
  -Q        no start-up line, no warnings
  -r        append the remote host's name (human output), looked up in the background
            and cached: a line never waits for it, so the first flow to an address
            shows none
  -t        also print closes, with how long the flow lived (and TCP payload bytes)
  -u        print the owning user
  -U        also print TCP state changes

Columns: PID COMM [USER] PROTO SRC MARK DST [[HOST]] [EXTRA]. SRC is the end
that opened the flow: the local address for → (outbound), the remote peer for
← (inbound, the accepting process's connection). ↔ marks an unknown
direction, ⇒ a state change, × a close; "? ?" an inbound connection no
process accepted (shown when tracing the whole system, or with -p 0). IPv6 addresses
are in brackets; IPv4 flows of dual-stack sockets show as IPv4. A connect
that fails before any packet shows its errno; one refused or timed out
later is followed by a close with the errno, printed even without -t.
` + commonHelp

// netCmd is tracep net: the reference's columns.
type netCmd struct {
	t                                      *traceRun
	only4, only6, outbound, rdnsOn, closes bool
	owners, states                         bool
	interval                               []string
	users                                  userNames
	rdns                                   *reverseDNS
	srcW, dstW                             int // column widths: 24 like the reference, widened (never narrowed) by a longer address so columns stay aligned
	// Buffers print reuses.
	line            line
	src, dst, extra []byte
}

func newNetCmd() *netCmd { return &netCmd{srcW: 24, dstW: 24} }

func runNet(e *env, args []string) int {
	c := newNetCmd()
	defer c.close()
	return runTrace(e, "net", c, args)
}

func (c *netCmd) help() string { return netHelp }

func (c *netCmd) declare(fs *FlagSet) {
	fs.Bool("4", &c.only4, "IPv4 only")
	fs.Bool("6", &c.only6, "IPv6 only")
	fs.Bool("O", &c.outbound, "outbound only")
	fs.Bool("r", &c.rdnsOn, "reverse DNS")
	fs.Bool("t", &c.closes, "closes too")
	fs.Bool("u", &c.owners, "print the user")
	fs.Bool("U", &c.states, "TCP state changes too")
	fs.List("i", "MS", &c.interval, "ignored")
}

func (c *netCmd) prepare(t *traceRun) error {
	c.t = t
	for _, v := range c.interval {
		if ms, err := strconv.Atoi(v); err != nil || ms <= 0 {
			return fmt.Errorf("-i: invalid interval: %s", printable(v))
		}
	}
	t.kinds = []tracep.Kind{tracep.KindNet}
	t.tracers.Net.States = c.states
	if c.rdnsOn && !t.json {
		c.rdns = newReverseDNS(netLookupAddr)
	}
	return nil
}

// close stops the reverse lookups still running. Idempotent.
func (c *netCmd) close() {
	if c.rdns != nil {
		c.rdns.close()
	}
}

// keep applies the selection flags: closes only with -t (or carrying an
// errno), state changes only with -U, -O, -4 and -6.
func (c *netCmd) keep(ev tracep.Event) bool {
	n := ev.Net
	if n == nil {
		return false
	}
	switch n.Op {
	case tracep.NetOpClose:
		if !c.closes && n.Errno == "" {
			return false
		}
	case tracep.NetOpState:
		if !c.states {
			return false
		}
	}
	if c.outbound && n.Dir != tracep.DirOut {
		return false
	}
	if c.only4 || c.only6 {
		a := n.Dst.Addr()
		if !n.Dst.IsValid() {
			a = n.Src.Addr()
		}
		if (c.only4 && !a.Is4()) || (c.only6 && !a.Is6()) {
			return false
		}
	}
	return true
}

// print writes ev's line; the trace calls it one event at a time.
func (c *netCmd) print(ev tracep.Event) {
	c.line.start(c.t.out)
	c.format(&c.line, ev)
	c.line.writeTo(c.t.out)
}

// format appends ev's line (without its newline) to l.
func (c *netCmd) format(l *line, ev tracep.Event) {
	n := ev.Net
	if ev.Proc.PID > 0 {
		l.number(cYellow, int64(ev.Proc.PID), 5)
		l.b = append(l.b, ' ')
		l.padded(cBrCyan, tracep.Escape(ev.Proc.Comm), 12)
		if c.owners {
			l.b = append(l.b, ' ')
			l.text(userColor(ev.Proc.UID), c.users.name(ev.Proc.UID))
		}
	} else {
		l.text(cDim, "    "+tracep.NoValue)
		l.b = append(l.b, ' ')
		l.padded(cDim, tracep.NoValue, 12)
	}
	l.b = append(l.b, ' ')
	l.padded(cDim, protoColumn(n.Proto), 4)

	c.src = appendAddr(c.src[:0], n.Src)
	c.srcW = max(c.srcW, len(c.src))
	l.b = append(l.b, ' ')
	l.padded(cGreen, unsafeString(c.src), c.srcW)

	l.b = append(l.b, ' ')
	switch n.Op {
	case tracep.NetOpState:
		l.text(cMagenta, "⇒")
	case tracep.NetOpClose:
		l.text(cRed, "×")
	default:
		l.text(cCyan, n.Arrow())
	}

	var name string
	if c.rdns != nil {
		remote := n.Dst.Addr()
		if n.Dir == tracep.DirIn || !n.Dst.IsValid() {
			remote = n.Src.Addr()
		}
		name = c.rdns.name(remote)
	}
	c.dst = appendAddr(c.dst[:0], n.Dst)
	l.b = append(l.b, ' ')
	if name == "" && n.Op != tracep.NetOpState && n.Op != tracep.NetOpClose && n.Errno == "" {
		// No trailing padding after the last column.
		l.text(cYellow, unsafeString(c.dst))
		return
	}
	c.dstW = max(c.dstW, len(c.dst))
	l.padded(cYellow, unsafeString(c.dst), c.dstW)
	if name != "" {
		l.b = append(l.b, ' ')
		l.text(cDim, "["+tracep.Escape(name)+"]")
	}
	switch n.Op {
	case tracep.NetOpState:
		l.b = append(l.b, ' ')
		l.text(cCyan, n.State)
	case tracep.NetOpClose:
		extra := strconv.AppendFloat(c.extra[:0], n.Duration.Seconds(), 'f', 3, 64)
		extra = append(extra, 's')
		if n.BytesSent > 0 || n.BytesReceived > 0 {
			extra = append(extra, " tx="...)
			extra = strconv.AppendUint(extra, n.BytesSent, 10)
			extra = append(extra, " rx="...)
			extra = strconv.AppendUint(extra, n.BytesReceived, 10)
		}
		c.extra = extra
		l.b = append(l.b, ' ')
		l.text(cCyan, unsafeString(extra))
	}
	if n.Errno != "" {
		l.b = append(l.b, ' ')
		l.text(cRed, n.Errno)
	}
}

// protoColumn is the protocol as the column shows it.
func protoColumn(proto string) string {
	switch proto {
	case "tcp":
		return "TCP"
	case "udp":
		return "UDP"
	}
	return strings.ToUpper(proto)
}

// appendAddr appends ap as tracep.AddrText writes it.
func appendAddr(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, tracep.NoValue...)
	}
	return ap.AppendTo(b)
}

// netLookupAddr is the reverse lookup -r uses; tests replace it.
var netLookupAddr = net.DefaultResolver.LookupAddr

// reverseDNS resolves addresses to names in the background. name never
// blocks: it returns what the cache holds and, the first time it sees an
// address, starts a lookup whose answer later lines show. The cache and
// the lookups in flight are bounded, and close waits for the lookups.
type reverseDNS struct {
	lookup func(ctx context.Context, addr string) ([]string, error)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	mu    sync.Mutex
	names map[netip.Addr]string // "" while pending or when there is none
	order []netip.Addr          // insertion order, for eviction
	once  sync.Once
}

const (
	rdnsMaxEntries  = 4096
	rdnsMaxInFlight = 8
	rdnsTimeout     = 3 * time.Second
)

func newReverseDNS(lookup func(ctx context.Context, addr string) ([]string, error)) *reverseDNS {
	ctx, cancel := context.WithCancel(context.Background())
	return &reverseDNS{lookup: lookup, ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, rdnsMaxInFlight), names: map[netip.Addr]string{}}
}

func (r *reverseDNS) name(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.names[a]; ok {
		return n
	}
	if r.ctx.Err() != nil {
		return ""
	}
	select {
	case r.sem <- struct{}{}:
	default:
		return "" // too many lookups in flight: asked again on a later line
	}
	if len(r.order) >= rdnsMaxEntries {
		delete(r.names, r.order[0])
		r.order = r.order[1:]
	}
	r.names[a] = ""
	r.order = append(r.order, a)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.sem }()
		ctx, cancel := context.WithTimeout(r.ctx, rdnsTimeout)
		defer cancel()
		names, err := r.lookup(ctx, a.String())
		if err != nil || len(names) == 0 {
			return
		}
		r.mu.Lock()
		if _, ok := r.names[a]; ok {
			r.names[a] = strings.TrimSuffix(names[0], ".")
		}
		r.mu.Unlock()
	}()
	return ""
}

func (r *reverseDNS) close() {
	r.once.Do(func() {
		r.cancel()
		r.wg.Wait()
	})
}
