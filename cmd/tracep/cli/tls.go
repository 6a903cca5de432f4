package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/tracep"
)

const tlsHelp = `usage: tracep tls [-cjqQsvx] [-l LIB] [-o FILE] [-p PID[,PID...]] [[--] CMD [ARGS...]]

Trace TLS: the plaintext processes write and read through OpenSSL (libssl
1.1 and 3, or linked in statically with its symbols), GnuTLS and Go's
crypto/tls, byte for byte, and the server name (SNI) of every ClientHello
written to a TCP socket, whatever library wrote it.

  -c        force colour (default: on when the output is a terminal and NO_COLOR is unset)
  -j        JSON lines in the tracep event schema (data base64-encoded)
  -l LIB    also probe this library or program (repeatable)
  -o FILE   append output to FILE
  -p PID    trace these processes and all their descendants (comma-separated, repeatable)
  -q        no banner and no final count
  -Q        suppress warnings about programs whose TLS code cannot be probed
  -s        sizes only: the event lines, without the data
  -v        list the files probed on stderr
  -x        dump the data in hex and ASCII

Each event is one line, HH:MM:SS.mmm PID COMM then
  TX|RX FUNCTION  HOST  N bytes     plaintext written (TX) or read (RX)
  HS ClientHello  HOST  ADDR:PORT   a handshake: the ClientHello on the wire
where HOST is the server name, or the peer's address when the name is not
known. The data follows, line by line, indented, with control characters
escaped (with -x, as a hex dump). Only the first 16 KiB of a call are
captured; a longer one is marked.

With CMD, tracep runs it in a cgroup of its own, traced from its first
instruction, and exits with its exit status. Without -p or CMD the whole
system is traced until interrupted. Programs started later (a Go program
carries its own TLS) are probed as they start; in a -p or CMD trace they
are held at exec until their probes are attached.
`

func runTLS(e *env, args []string) int {
	spec := clusterSpec{bools: "cjqQsvx", values: "lop", cmd: true}
	a, err := spec.parse(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep tls: %v\n\n%s", err, tlsHelp)
		return exitUsage
	}
	if a.help {
		fmt.Fprint(e.stdout, tlsHelp)
		return exitOK
	}
	pids, err := parsePIDs(a.all('p'))
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep tls: %v\n", err)
		return exitUsage
	}
	if len(a.cmd) > 0 && (len(pids) > 0 || a.has('l') || a.has('v')) {
		fmt.Fprintf(e.stderr, "tracep tls: -p, -l and -v cannot be combined with a command (whose libraries and programs are followed anyway)\n\n%s", tlsHelp)
		return exitUsage
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(e.stderr, "tracep tls: -p %d: no such process\n", pid)
			return exitError
		}
	}
	out, err := openSink(a.last('o'), e.stdout, a.has('c'))
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep tls: %v\n", err)
		return exitError
	}
	p := &tlsPrinter{out: out, json: a.has('j') || a.doJSON, sizes: a.has('s'), hexdump: a.has('x'), stderr: e.stderr}
	if p.json {
		p.enc = tracep.NewEncoder(jsonWriter{out})
	}

	if len(a.cmd) > 0 {
		code := runTracedCommand(e, "tls", a.cmd, []tracep.Kind{tracep.KindTLS}, p.print)
		if err := out.close(); err != nil {
			fmt.Fprintf(e.stderr, "tracep tls: write output: %v\n", err)
		}
		return code
	}

	var logMu sync.Mutex
	cfg := tlstrace.Config{
		Scope: tracep.Scope{PIDs: pids},
		Files: a.all('l'),
		Log: func(d tlstrace.Diagnostic) {
			if (d.Warning && !a.has('Q')) || a.has('v') {
				logMu.Lock()
				fmt.Fprintf(e.stderr, "tracep tls: %s\n", tracep.Escape(d.Msg))
				logMu.Unlock()
			}
		},
	}
	s, err := tlstrace.Start(e.ctx, cfg, p.print)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep tls: %v\n", err)
		return exitError
	}
	files := s.Files()
	if a.has('v') {
		for _, f := range files {
			fmt.Fprintf(e.stderr, "tracep tls: probing %s (%s, %d uprobes)\n", tracep.Escape(f.Path), strings.Join(f.Libraries, ", "), f.Probes)
		}
	}
	if !a.has('q') {
		// Said once the probes are armed: from here on nothing is missed.
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = tracep.Escape(filepath.Base(f.Path))
		}
		fmt.Fprintf(e.stderr, "tracep tls: tracing %s through %s and programs as they start; Ctrl-C to stop\n",
			describeScope(pids), strings.Join(names, ", "))
	}
	<-e.ctx.Done()
	code := exitOK
	if err := s.Close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep tls: %v\n", err)
		code = exitError
	}
	if !a.has('q') {
		fmt.Fprintf(e.stderr, "\ncaptured %d TLS events\n", p.count())
	}
	if err := out.close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep tls: write output: %v\n", err)
		code = exitError
	}
	return code
}

// tlsPrinter renders TLS events.
type tlsPrinter struct {
	out     *sink
	json    bool
	sizes   bool
	hexdump bool
	enc     *tracep.Encoder
	stderr  io.Writer

	mu  sync.Mutex
	seq uint64
}

func (p *tlsPrinter) count() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

func (p *tlsPrinter) print(ev tracep.Event) {
	if ev.TLS == nil {
		return
	}
	p.mu.Lock()
	p.seq++
	ev.Seq = p.seq
	p.mu.Unlock()
	if p.json {
		if err := p.enc.Encode(ev); err != nil {
			fmt.Fprintf(p.stderr, "tracep tls: %v\n", err)
		}
		return
	}
	p.out.line("%s", p.format(ev))
}

// format renders one event as its line and, unless -s, its data: one
// write, so that an event's lines never interleave with another's.
func (p *tlsPrinter) format(ev tracep.Event) string {
	x := ev.TLS
	var b strings.Builder
	b.WriteString(p.out.clr(cDim, ev.Time.Local().Format("15:04:05.000")))
	b.WriteString(" " + p.out.clr(cYellow, strconv.Itoa(int(ev.Proc.PID))))
	b.WriteString(" " + p.out.clr(cBrCyan, tracep.Escape(ev.Proc.Comm)))
	host := tracep.Escape(x.SNI)
	if host == "" && x.Dst.IsValid() {
		host = x.Dst.String()
	}
	switch x.Op {
	case tracep.TLSOpHandshake:
		b.WriteString(" " + p.out.clr(cGreen, "HS"))
		b.WriteString(" " + p.out.clr(cDim, tracep.Escape(x.Function)))
		if x.SNI == "" {
			host = "-"
		}
		b.WriteString("  " + p.out.clr(cMagenta, host))
		if x.Dst.IsValid() {
			b.WriteString("  " + x.Dst.String())
		}
		return b.String()
	case tracep.TLSOpRead:
		b.WriteString(" " + p.out.clr(cCyan, "RX"))
	default:
		b.WriteString(" " + p.out.clr(cYellow, "TX"))
	}
	b.WriteString(" " + p.out.clr(cDim, tracep.Escape(x.Function)))
	if host != "" {
		b.WriteString("  " + p.out.clr(cMagenta, host))
	}
	fmt.Fprintf(&b, "  %d bytes", x.Len)
	if x.Truncated {
		b.WriteString(p.out.clr(cRed, fmt.Sprintf(" (first %d captured)", len(x.Data))))
	}
	if p.sizes || len(x.Data) == 0 {
		return b.String()
	}
	if p.hexdump {
		for _, line := range strings.SplitAfter(strings.TrimSuffix(hex.Dump(x.Data), "\n"), "\n") {
			b.WriteString("\n    " + strings.TrimSuffix(line, "\n"))
		}
		return b.String()
	}
	// Text: one output line per line of data, each escaped (so a \r shows
	// as \r and a terminal escape as \x1b).
	data := string(x.Data)
	for data != "" {
		line, rest, found := strings.Cut(data, "\n")
		if found {
			line += "\n"
		}
		b.WriteString("\n    " + p.out.clr(cDim, tracep.Escape(strings.TrimSuffix(line, "\n"))))
		if found && rest == "" {
			break
		}
		data = rest
	}
	return b.String()
}
