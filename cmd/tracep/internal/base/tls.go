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

func (c *tlsCmd) print(ev tracep.Event) { c.t.out.line("%s", c.format(ev)) }

// finish prints the reference's final count.
func (c *tlsCmd) finish(_ *traceResult, code int) int {
	if !c.t.noBanner && !c.t.quiet && len(c.t.argv) == 0 {
		// The reference's count, of the events printed.
		fmt.Fprintf(c.t.stderr, "\ncaptured %d TLS events\n", c.count)
	}
	return code
}

// format renders one event as its line and, unless -s, its data: one
// write, so that an event's lines never interleave with another's.
func (c *tlsCmd) format(ev tracep.Event) string {
	x := ev.TLS
	var b strings.Builder
	b.WriteString(c.t.out.clr(cDim, ev.Time.Local().Format("15:04:05.000")))
	b.WriteString(" " + c.t.out.clr(cYellow, strconv.Itoa(int(ev.Proc.PID))))
	b.WriteString(" " + c.t.out.clr(cBrCyan, tracep.Escape(ev.Proc.Comm)))
	host := tracep.Escape(x.SNI)
	if host == "" && x.Dst.IsValid() {
		host = x.Dst.String()
	}
	switch x.Op {
	case tracep.TLSOpHandshake:
		b.WriteString(" " + c.t.out.clr(cGreen, "HS"))
		b.WriteString(" " + c.t.out.clr(cDim, tracep.Escape(x.Function)))
		if x.SNI == "" {
			host = "-"
		}
		b.WriteString("  " + c.t.out.clr(cMagenta, host))
		if x.Dst.IsValid() {
			b.WriteString("  " + x.Dst.String())
		}
		return b.String()
	case tracep.TLSOpRead:
		b.WriteString(" " + c.t.out.clr(cCyan, "RX"))
	default:
		b.WriteString(" " + c.t.out.clr(cYellow, "TX"))
	}
	b.WriteString(" " + c.t.out.clr(cDim, tracep.Escape(x.Function)))
	if host != "" {
		b.WriteString("  " + c.t.out.clr(cMagenta, host))
	}
	fmt.Fprintf(&b, "  %d bytes", x.Len)
	if x.Truncated {
		b.WriteString(c.t.out.clr(cRed, fmt.Sprintf(" (first %d captured)", len(x.Data))))
	}
	if c.sizes || len(x.Data) == 0 {
		return b.String()
	}
	if c.hexdump {
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
		b.WriteString("\n    " + c.t.out.clr(cDim, tracep.Escape(strings.TrimSuffix(line, "\n"))))
		if found && rest == "" {
			break
		}
		data = rest
	}
	return b.String()
}
