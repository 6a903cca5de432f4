package base

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tracep/tracep/backends"
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
  -net      run CMD inside tracep's hermetic test network
  -o FILE   append output to FILE
  -p PIDS   trace these processes and all their descendants, running and
            future (comma-separated, repeatable)
  -q        no banner and no final count
  -Q        no banner, no warnings about programs whose TLS code cannot be probed
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

Programs started later (a Go program carries its own TLS) are probed as
they start; in a -p or CMD trace they are held at exec until their probes
are attached.
` + commonHelp

// tlsCmd is tracep tls: the reference's TX/RX lines, with the data.
type tlsCmd struct {
	t                                 *traceRun
	noBanner, sizes, verbose, hexdump bool
	libs                              []string
	count                             uint64
	line                              line
}

func runTLS(e *env, args []string) int { return runTrace(e, "tls", &tlsCmd{}, args) }

func (c *tlsCmd) help() string { return tlsHelp }

func (c *tlsCmd) declare(fs *FlagSet) {
	fs.Bool("q", &c.noBanner, "no banner and no final count")
	fs.Bool("s", &c.sizes, "sizes only")
	fs.Bool("v", &c.verbose, "list the files probed")
	fs.Bool("x", &c.hexdump, "hex dump")
	fs.Strings("l", "LIB", &c.libs, "also probe LIB")
}

func (c *tlsCmd) prepare(t *traceRun) error {
	c.t = t
	t.noBanner = c.noBanner
	t.kinds = []tracep.Kind{tracep.KindTLS}
	t.tracers.TLS.Files = c.libs
	t.tracers.TLS.Log = func(d tlstrace.Diagnostic) {
		if (d.Warning && !t.quiet) || c.verbose {
			t.warnf("%s", tracep.Escape(d.Msg))
		}
	}
	return nil
}

// armed lists the files probed (-v) and says through which libraries
// the trace sees TLS.
func (c *tlsCmd) armed(tr *backends.Trace) string {
	s, _ := tr.Session(tracep.KindTLS).(*tlstrace.Session)
	if s == nil {
		return ""
	}
	files := s.Files()
	names := make([]string, len(files))
	for i, f := range files {
		if c.verbose {
			c.t.warnf("probing %s (%s, %d uprobes)", tracep.Escape(f.Path), strings.Join(f.Libraries, ", "), f.Probes)
		}
		names[i] = tracep.Escape(filepath.Base(f.Path))
	}
	return "through " + strings.Join(names, ", ") + " and programs as they start"
}

func (c *tlsCmd) keep(ev tracep.Event) bool {
	if ev.TLS == nil {
		return false
	}
	c.count++
	return true
}

// print writes ev's line and, unless -s, its data: one write, so that an
// event's lines never interleave with another's.
func (c *tlsCmd) print(ev tracep.Event) {
	l := &c.line
	l.start(c.t.out)
	c.format(l, ev)
	l.writeTo(c.t.out)
}

// finish prints the reference's final count.
func (c *tlsCmd) finish(_ *traceResult, code int) int {
	if !c.t.noBanner && !c.t.quiet && len(c.t.argv) == 0 {
		// The reference's count, of the events printed.
		fmt.Fprintf(c.t.stderr, "\ncaptured %d TLS events\n", c.count)
	}
	return code
}

// format renders ev into l, in a buffer reused from event to event: a
// string per field and fmt made formatting the larger part of a TLS
// tracer's CPU.
func (c *tlsCmd) format(l *line, ev tracep.Event) {
	x := ev.TLS
	l.clock(ev.Time)
	l.b = append(l.b, ' ')
	l.number(cYellow, int64(ev.Proc.PID), 0)
	l.b = append(l.b, ' ')
	l.escaped(cBrCyan, ev.Proc.Comm)
	// The host: the server name, else the peer's address (called when
	// there is one or the other).
	host := func() {
		l.b = append(l.b, "  "...)
		if x.SNI != "" {
			l.escaped(cMagenta, x.SNI)
			return
		}
		l.begin(cMagenta)
		l.b = x.Dst.AppendTo(l.b)
		l.end()
	}
	switch x.Op {
	case tracep.TLSOpHandshake:
		l.b = append(l.b, ' ')
		l.text(cGreen, "HS")
		l.b = append(l.b, ' ')
		l.escaped(cDim, x.Function)
		if x.SNI == "" {
			l.b = append(l.b, "  "...)
			l.text(cMagenta, "-")
		} else {
			host()
		}
		if x.Dst.IsValid() {
			l.b = append(l.b, "  "...)
			l.b = x.Dst.AppendTo(l.b)
		}
		return
	case tracep.TLSOpRead:
		l.b = append(l.b, ' ')
		l.text(cCyan, "RX")
	default:
		l.b = append(l.b, ' ')
		l.text(cYellow, "TX")
	}
	l.b = append(l.b, ' ')
	l.escaped(cDim, x.Function)
	if x.SNI != "" || x.Dst.IsValid() {
		host()
	}
	l.b = append(l.b, "  "...)
	l.b = strconv.AppendInt(l.b, int64(x.Len), 10)
	l.b = append(l.b, " bytes"...)
	if x.Truncated {
		l.begin(cRed)
		l.b = append(l.b, " (first "...)
		l.b = strconv.AppendInt(l.b, int64(len(x.Data)), 10)
		l.b = append(l.b, " captured)"...)
		l.end()
	}
	if c.sizes || len(x.Data) == 0 {
		return
	}
	if c.hexdump {
		for _, line := range strings.SplitAfter(strings.TrimSuffix(hex.Dump(x.Data), "\n"), "\n") {
			l.b = append(l.b, "\n    "...)
			l.b = append(l.b, strings.TrimSuffix(line, "\n")...)
		}
		return
	}
	// Text: one output line per line of data, each escaped (so a \r shows
	// as \r and a terminal escape as \x1b); a last newline ends the data
	// rather than starting an empty line.
	data := unsafeString(x.Data)
	for {
		line, rest, found := strings.Cut(data, "\n")
		l.b = append(l.b, "\n    "...)
		l.escaped(cDim, line)
		if !found || rest == "" {
			return
		}
		data = rest
	}
}
