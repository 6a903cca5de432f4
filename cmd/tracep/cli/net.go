package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/nettrace"
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
  -o FILE   append output to FILE
  -O        outbound flows only: hide inbound (and unknown-direction) flows
  -p PID    trace these processes and all their descendants (comma-separated, repeatable)
  -Q        suppress runtime warnings
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
process accepted (shown only when tracing the whole system). IPv6 addresses
are in brackets; IPv4 flows of dual-stack sockets show as IPv4. A connect
that fails before any packet shows its errno; one refused or timed out
later is followed by a close with the errno, printed even without -t.

With CMD, tracep runs it in a cgroup of its own, traced from its first
instruction, and exits with its exit status. Without -p or CMD the whole
system is traced until interrupted.
`

func runNet(e *env, args []string) int {
	spec := clusterSpec{bools: "46cjOQrtuU", values: "opi", cmd: true}
	a, err := spec.parse(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep net: %v\n\n%s", err, netHelp)
		return exitUsage
	}
	if a.help {
		fmt.Fprint(e.stdout, netHelp)
		return exitOK
	}
	for _, v := range a.all('i') {
		if ms, err := strconv.Atoi(v); err != nil || ms <= 0 {
			fmt.Fprintf(e.stderr, "tracep net: -i: invalid interval: %s\n", v)
			return exitUsage
		}
	}
	pids, err := parsePIDs(a.all('p'))
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep net: %v\n", err)
		return exitUsage
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(e.stderr, "tracep net: -p %d: no such process\n", pid)
			return exitError
		}
	}
	out, err := openSink(a.last('o'), e.stdout, a.has('c'))
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep net: %v\n", err)
		return exitError
	}
	p := newNetPrinter(out, a, e.stderr)
	defer p.close()

	if len(a.cmd) > 0 {
		code := runTracedCommand(e, "net", a.cmd, []tracep.Kind{tracep.KindNet}, p.print)
		p.close()
		if err := out.close(); err != nil {
			fmt.Fprintf(e.stderr, "tracep net: write output: %v\n", err)
		}
		return code
	}

	// The kernel follows processes forked from now on; those already
	// running below the given pids are added here.
	scope := tracep.Scope{PIDs: withDescendants(pids)}
	s, err := nettrace.Start(e.ctx, nettrace.Config{Scope: scope, States: a.has('U')}, p.print)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep net: %v\n", err)
		return exitError
	}
	backends.ReleaseLoadCaches()
	if !a.has('Q') {
		// Said once the hooks are armed: from here on nothing is missed.
		fmt.Fprintf(e.stderr, "tracep net: tracing %s; Ctrl-C to stop\n", describeScope(pids))
	}
	<-e.ctx.Done()
	code := exitOK
	if err := s.Close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep net: %v\n", err)
		code = exitError
	}
	p.close()
	if err := out.close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep net: write output: %v\n", err)
		code = exitError
	}
	return code
}

// withDescendants returns pids and every process now running below them,
// found through the parent pid in /proc/N/stat.
func withDescendants(pids []int) []int {
	if len(pids) == 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return pids
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := readPPID(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(p int) {
		if seen[p] {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, p := range pids {
		walk(p)
	}
	return out
}

// readPPID reads the parent pid from /proc/pid/stat, after the comm's
// closing parenthesis (a comm may contain spaces and parentheses).
func readPPID(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// netPrinter renders net events in the reference's columns, or as JSON
// lines. It is safe for concurrent use.
type netPrinter struct {
	out    *sink
	a      *clusterArgs
	json   bool
	enc    *tracep.Encoder
	stderr io.Writer

	mu    sync.Mutex
	seq   uint64
	users map[uint32]string
	rdns  *reverseDNS
	srcW  int // column widths: 24 like the reference, widened (never
	dstW  int // narrowed) by a longer address so columns stay aligned
}

func newNetPrinter(out *sink, a *clusterArgs, stderr io.Writer) *netPrinter {
	p := &netPrinter{out: out, a: a, json: a.has('j') || a.doJSON, stderr: stderr,
		users: map[uint32]string{}, srcW: 24, dstW: 24}
	if p.json {
		p.enc = tracep.NewEncoder(jsonWriter{out})
	}
	if a.has('r') && !p.json {
		p.rdns = newReverseDNS(netLookupAddr)
	}
	return p
}

// close stops the reverse lookups still running. Idempotent.
func (p *netPrinter) close() {
	if p.rdns != nil {
		p.rdns.close()
	}
}

// keep applies the selection flags: closes only with -t (or carrying an
// errno), state changes only with -U, -O, -4 and -6.
func (p *netPrinter) keep(n *tracep.Net) bool {
	switch n.Op {
	case tracep.NetOpClose:
		if !p.a.has('t') && n.Errno == "" {
			return false
		}
	case tracep.NetOpState:
		if !p.a.has('U') {
			return false
		}
	}
	if p.a.has('O') && n.Dir != tracep.DirOut {
		return false
	}
	if p.a.has('4') || p.a.has('6') {
		a := n.Dst.Addr()
		if !n.Dst.IsValid() {
			a = n.Src.Addr()
		}
		if (p.a.has('4') && !a.Is4()) || (p.a.has('6') && !a.Is6()) {
			return false
		}
	}
	return true
}

func (p *netPrinter) print(ev tracep.Event) {
	if ev.Net == nil || !p.keep(ev.Net) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		p.seq++
		ev.Seq = p.seq
		if err := p.enc.Encode(ev); err != nil {
			fmt.Fprintf(p.stderr, "tracep net: %v\n", err)
		}
		return
	}
	p.out.write([]byte(p.format(ev) + "\n"))
}

// format renders one line (without its newline).
func (p *netPrinter) format(ev tracep.Event) string {
	n := ev.Net
	o := p.out
	var b strings.Builder
	if ev.Proc.PID > 0 {
		b.WriteString(o.clr(cYellow, fmt.Sprintf("%5d", ev.Proc.PID)))
		b.WriteString(" " + o.clr(cBrCyan, fmt.Sprintf("%-12s", tracep.Escape(ev.Proc.Comm))))
		if p.a.has('u') {
			b.WriteString(" " + p.user(ev.Proc.UID))
		}
	} else {
		b.WriteString(o.clr(cDim, "    ?") + " " + o.clr(cDim, fmt.Sprintf("%-12s", "?")))
	}
	b.WriteString(" " + o.clr(cDim, fmt.Sprintf("%-4s", strings.ToUpper(n.Proto))))

	src := n.Src.String()
	dst := "*"
	if n.Dst.IsValid() {
		dst = n.Dst.String()
	}
	p.srcW = max(p.srcW, len(src))
	b.WriteString(" " + o.clr(cGreen, fmt.Sprintf("%-*s", p.srcW, src)))

	var mark string
	switch n.Op {
	case tracep.NetOpState:
		mark = o.clr(cMagenta, "⇒")
	case tracep.NetOpClose:
		mark = o.clr(cRed, "×")
	default:
		mark = o.clr(cCyan, map[string]string{tracep.DirOut: "→", tracep.DirIn: "←"}[n.Dir])
		if mark == "" {
			mark = o.clr(cCyan, "↔")
		}
	}
	b.WriteString(" " + mark)

	var tail []string
	if p.rdns != nil {
		remote := n.Dst.Addr()
		if n.Dir == tracep.DirIn || !n.Dst.IsValid() {
			remote = n.Src.Addr()
		}
		if name := p.rdns.name(remote); name != "" {
			tail = append(tail, o.clr(cDim, "["+tracep.Escape(name)+"]"))
		}
	}
	switch n.Op {
	case tracep.NetOpState:
		tail = append(tail, o.clr(cCyan, n.State))
	case tracep.NetOpClose:
		extra := fmt.Sprintf("%.3fs", n.Duration.Seconds())
		if n.BytesSent > 0 || n.BytesReceived > 0 {
			extra += fmt.Sprintf(" tx=%d rx=%d", n.BytesSent, n.BytesReceived)
		}
		tail = append(tail, o.clr(cCyan, extra))
	}
	if n.Errno != "" {
		tail = append(tail, o.clr(cRed, n.Errno))
	}
	if len(tail) == 0 {
		// No trailing padding after the last column.
		b.WriteString(" " + o.clr(cYellow, dst))
		return b.String()
	}
	p.dstW = max(p.dstW, len(dst))
	b.WriteString(" " + o.clr(cYellow, fmt.Sprintf("%-*s", p.dstW, dst)))
	b.WriteString(" " + strings.Join(tail, " "))
	return b.String()
}

// user names uid, cached (the lookup reads /etc/passwd or asks NSS).
func (p *netPrinter) user(uid uint32) string {
	name, ok := p.users[uid]
	if !ok {
		name = strconv.Itoa(int(uid))
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		p.users[uid] = name
	}
	if uid == 0 {
		return p.out.clr(cBrRed, tracep.Escape(name))
	}
	return p.out.clr(cBrGreen, tracep.Escape(name))
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
