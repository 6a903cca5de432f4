package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/tracep/tracep/backends/dnstrace"
	"github.com/tracep/tracep/tracep"
)

const dnsHelp = `tracep dns — every DNS query and answer of a process tree, over UDP and TCP

USAGE
  tracep dns [flags] [--] [CMD [ARGS...]]

FLAGS
  -c          force colour (default: on when stdout is a terminal and NO_COLOR is unset; off with -o)
  -d DOMAIN   keep only queries whose name contains DOMAIN (case-insensitive)
  -f          flat output: no column padding, no name truncation
  -j          JSON lines: the reference keys (answers, latency_ms, name, pid, query,
              rcode, ts, type) and the tracep event schema (schema, seq, kind, proc, dns...)
  -n NAMES    keep only these process names (comma-separated, exact)
  -o FILE     append output to FILE
  -p PIDS     trace these processes and every process they start (comma-separated);
              0 selects the queries no process could be found for
  -q          print only the queried names
  -Q          suppress warnings and the start-up line
  -t          timestamps (HH:MM:SS, RFC 3339 in JSON as "ts")
  -T TYPES    keep only these query types (comma-separated, e.g. A,AAAA)
  -ports LIST ports that carry DNS (default 53; e.g. 53,5353)
  -timeout D  report a query unanswered after D (default 5s; seconds or a duration)

With CMD, tracep runs it in a cgroup of its own, traced from its first
instruction, and exits with its exit status. Without -p or CMD the whole
system is traced until interrupted.

Each line is one query, printed when its answer arrives (or, as NOANSWER,
after -timeout): pid, process, type, name, then the answers or the error
code and the latency. A truncated UDP answer is marked [TC]; the TCP retry
that follows is a line of its own. A query belongs to the process owning
the socket that sent it, in any network namespace.

No line for a lookup means no DNS packet of the traced processes: names
resolved from /etc/hosts, or through a local socket to systemd-resolved or
nscd (whose own queries belong to that daemon), are not DNS packets of the
program.

EXAMPLES
  tracep dns -- curl -s https://example.com/
  tracep dns -p 1234 -T A,AAAA -t
  tracep dns -j -o dns.jsonl -d example.com

Requires root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN).
`

// dnsOptions are the parsed flags of tracep dns.
type dnsOptions struct {
	color, flat, json, quiet, noWarn, stamps bool
	domain                                   string
	names                                    map[string]bool
	types                                    map[string]bool
	pids                                     []int
	unattributed                             bool // -p 0
	ports                                    []uint16
	timeout                                  time.Duration
	out                                      string
	cmd                                      []string
}

func parseDNSFlags(e *env, args []string) (*dnsOptions, int, bool) {
	fs := newFlagSet("tracep dns", e.stderr)
	o := &dnsOptions{}
	var names, types, pids, ports string
	fs.BoolVar(&o.color, "c", false, "force colour")
	fs.StringVar(&o.domain, "d", "", "keep only names containing `DOMAIN`")
	fs.BoolVar(&o.flat, "f", false, "flat output")
	fs.BoolVar(&o.json, "j", false, "JSON lines")
	fs.StringVar(&names, "n", "", "process `NAMES`")
	fs.StringVar(&o.out, "o", "", "append output to `FILE`")
	fs.StringVar(&pids, "p", "", "`PIDS` to trace, with descendants")
	fs.BoolVar(&o.quiet, "q", false, "print only the names")
	fs.BoolVar(&o.noWarn, "Q", false, "suppress warnings")
	fs.BoolVar(&o.stamps, "t", false, "timestamps")
	fs.StringVar(&types, "T", "", "query `TYPES`")
	fs.StringVar(&ports, "ports", "", "DNS `PORTS` (default 53)")
	o.timeout = dnstrace.DefaultTimeout
	fs.Var(secondsFlag{&o.timeout}, "timeout", "unanswered after `D`")
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, dnsHelp)
		return nil, exitOK, false
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "\n%s", dnsHelp)
		return nil, exitUsage, false
	}
	o.cmd = fs.Args()
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	bad := func(format string, args ...any) (*dnsOptions, int, bool) {
		fmt.Fprintf(e.stderr, "tracep dns: "+format+"\n", args...)
		return nil, exitUsage, false
	}
	o.names = csvSet(names, false)
	o.types = csvSet(types, true)
	for t := range o.types {
		if _, ok := dnstrace.ParseTypeName(t); !ok {
			return bad("-T: unknown query type %s", tracep.Escape(t))
		}
	}
	for _, f := range strings.Split(pids, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return bad("-p: invalid PID: %s", tracep.Escape(f))
		}
		if n == 0 {
			o.unattributed = true
			continue
		}
		o.pids = append(o.pids, n)
	}
	for _, f := range strings.Split(ports, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return bad("-ports: invalid port: %s", tracep.Escape(f))
		}
		o.ports = append(o.ports, uint16(n))
	}
	if len(o.cmd) > 0 {
		switch {
		case pids != "":
			return bad("-p and CMD exclude each other: CMD is traced with everything it starts")
		case ports != "" || timeoutSet:
			// harness.Run starts each tracer with its defaults.
			return bad("-ports and -timeout apply to -p or whole-system traces, not CMD")
		}
	}
	return o, 0, true
}

// csvSet splits a comma-separated list into a set, upper-casing when asked.
func csvSet(s string, upper bool) map[string]bool {
	var m map[string]bool
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if upper {
			f = strings.ToUpper(f)
		}
		if m == nil {
			m = map[string]bool{}
		}
		m[f] = true
	}
	return m
}

func runDNS(e *env, args []string) int {
	o, code, ok := parseDNSFlags(e, args)
	if !ok {
		return code
	}
	for _, pid := range o.pids {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(e.stderr, "tracep dns: -p %d: no such process\n", pid)
			return exitError
		}
	}
	// The reference's rule: colour with -c, else only on a terminal
	// stdout without NO_COLOR, and never into an -o file.
	out, err := openSink(o.out, e.stdout, o.color)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep dns: %v\n", err)
		return exitError
	}
	out.color = o.color || (o.out == "" && out.color)
	p := newDNSPrinter(out, o)

	if len(o.cmd) > 0 {
		code := runTracedCommand(e, "dns", o.cmd, []tracep.Kind{tracep.KindDNS}, p.print)
		if err := out.close(); err != nil {
			fmt.Fprintf(e.stderr, "tracep dns: write output: %v\n", err)
		}
		return code
	}

	cfg := dnstrace.Config{Ports: o.ports, Timeout: o.timeout}
	var scopes []tracep.Scope
	if len(o.pids) > 0 {
		scopes = append(scopes, tracep.Scope{PIDs: o.pids})
	}
	if o.unattributed || len(o.pids) == 0 {
		// Queries without an owner reach whole-system sessions only; with
		// -p 0 the printer keeps just those.
		scopes = append(scopes, tracep.Scope{})
	}
	var sessions []*dnstrace.Session
	closeAll := func() error {
		var errs []error
		for _, s := range sessions {
			errs = append(errs, s.Close())
		}
		return errors.Join(errs...)
	}
	for _, sc := range scopes {
		cfg.Scope = sc
		s, err := dnstrace.Start(e.ctx, cfg, p.print)
		if err != nil {
			closeAll()
			fmt.Fprintf(e.stderr, "tracep dns: %v\n", err)
			if errors.Is(err, os.ErrPermission) {
				fmt.Fprintln(e.stderr, "Hint: run as root")
			}
			return exitError
		}
		sessions = append(sessions, s)
	}
	if !o.noWarn {
		fmt.Fprintf(e.stderr, "tracep dns: tracing %s; Ctrl-C to stop\n", o.describeScope())
	}
	<-e.ctx.Done()
	code = exitOK
	if err := closeAll(); err != nil {
		fmt.Fprintf(e.stderr, "tracep dns: %v\n", err)
		code = exitError
	}
	if err := out.close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep dns: write output: %v\n", err)
		code = exitError
	}
	return code
}

func (o *dnsOptions) describeScope() string {
	s := describeScope(o.pids)
	if o.unattributed {
		if len(o.pids) == 0 {
			return "queries of unknown processes"
		}
		s += ", and queries of unknown processes"
	}
	return s
}

// cGrey is the reference's grey (SGR 90) for arrows and latencies.
const cGrey = 90

// dnsPrinter filters and prints DNS events in the reference's formats.
type dnsPrinter struct {
	out *sink
	o   *dnsOptions
	seq uint64
	buf bytes.Buffer
	enc *tracep.Encoder
}

func newDNSPrinter(out *sink, o *dnsOptions) *dnsPrinter {
	p := &dnsPrinter{out: out, o: o}
	p.enc = tracep.NewEncoder(&p.buf)
	return p
}

// keep applies the filters, all of which must hold.
func (p *dnsPrinter) keep(ev tracep.Event) bool {
	o, d := p.o, ev.DNS
	if d == nil {
		return false
	}
	if o.unattributed && len(o.pids) == 0 && ev.Proc.PID != 0 {
		return false
	}
	if o.domain != "" && !strings.Contains(strings.ToLower(d.Name), strings.ToLower(o.domain)) {
		return false
	}
	if o.names != nil && !o.names[ev.Proc.Comm] {
		return false
	}
	return o.types == nil || o.types[strings.ToUpper(d.Type)]
}

func (p *dnsPrinter) print(ev tracep.Event) {
	if !p.keep(ev) {
		return
	}
	switch {
	case p.o.quiet:
		p.out.line("%s", escName(ev.DNS.Name))
	case p.o.json:
		p.out.write(p.jsonLine(ev))
	default:
		p.out.line("%s", p.textLine(ev))
	}
}

// rcodeOf is the reference's rcode: the response code, or NOANSWER for a
// query no response came for.
func rcodeOf(d *tracep.DNS) string {
	if !d.Answered {
		return "NOANSWER"
	}
	return d.RCode
}

// refJSON holds the reference tool's keys, in its (sorted) order.
type refJSON struct {
	Answers   []string `json:"answers"`
	LatencyMS float64  `json:"latency_ms"`
	Name      string   `json:"name"`
	PID       int32    `json:"pid"`
	Query     string   `json:"query"`
	RCode     string   `json:"rcode"`
	TS        string   `json:"ts,omitempty"`
	Type      string   `json:"type"`
}

// jsonLine renders ev as one JSON object: the reference's keys first, then
// the tracep event schema's (which has none of the same names), so that
// consumers of either read the line unchanged.
func (p *dnsPrinter) jsonLine(ev tracep.Event) []byte {
	d := ev.DNS
	comm := ev.Proc.Comm
	if ev.Proc.PID == 0 && comm == "" {
		comm = "?"
	}
	r := refJSON{
		Answers: refAnswers(d.Answers),
		Name:    comm,
		PID:     ev.Proc.PID,
		Query:   d.Name,
		RCode:   rcodeOf(d),
		Type:    d.Type,
	}
	if d.Answered {
		r.LatencyMS = float64(d.Latency.Microseconds()) / 1000
	}
	if p.o.stamps {
		r.TS = ev.Time.Local().Format(time.RFC3339Nano)
	}
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r) // strings and numbers only: cannot fail

	p.seq++
	ev.Seq = p.seq
	p.buf.Reset()
	_ = p.enc.Encode(ev)

	line := bytes.TrimRight(head.Bytes(), "\n")
	line = append(line[:len(line)-1], ',')
	return append(line, p.buf.Bytes()[1:]...)
}

// refAnswers renders answer records as the reference did: addresses bare,
// names with their type ("CNAME:www.example.test"), one entry per TXT
// string; nil (JSON null) when there is none. Types the reference dropped
// are kept as "TYPE:data".
func refAnswers(rrs []tracep.DNSRecord) []string {
	var out []string
	for _, a := range rrs {
		switch a.Type {
		case "A", "AAAA", "PTR":
			out = append(out, a.Data)
		case "CNAME", "NS":
			out = append(out, a.Type+":"+a.Data)
		case "MX":
			_, host, _ := strings.Cut(a.Data, " ")
			out = append(out, "MX:"+host)
		case "SRV":
			f := strings.Fields(a.Data)
			out = append(out, "SRV:"+f[len(f)-1])
		case "TXT":
			out = append(out, txtStrings(a.Data)...)
		default:
			out = append(out, a.Type+":"+a.Data)
		}
	}
	return out
}

// txtStrings undoes the presentation form of TXT data ("a" "b\"c"), giving
// each character-string's octets.
func txtStrings(data string) []string {
	var out []string
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		var b []byte
		for i++; i < len(data) && data[i] != '"'; i++ {
			c := data[i]
			if c == '\\' && i+1 < len(data) {
				if i+3 < len(data) && isDigit(data[i+1]) && isDigit(data[i+2]) && isDigit(data[i+3]) {
					n, _ := strconv.Atoi(data[i+1 : i+4])
					b = append(b, byte(n))
					i += 3
					continue
				}
				i++
				c = data[i]
			}
			b = append(b, c)
		}
		out = append(out, string(b))
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// textLine renders the reference's columns, padded before colouring so
// that they line up with colour on too.
func (p *dnsPrinter) textLine(ev tracep.Event) string {
	d, out := ev.DNS, p.out
	var b strings.Builder
	if p.o.stamps {
		b.WriteString(out.clr(cCyan, ev.Time.Local().Format("15:04:05")) + "  ")
	}
	pid := strconv.Itoa(int(ev.Proc.PID))
	comm := tracep.Escape(ev.Proc.Comm)
	if ev.Proc.PID == 0 && comm == "" {
		comm = "?"
	}
	typ, name := d.Type, escName(d.Name)
	if p.o.flat {
		fmt.Fprintf(&b, "%s  %s  %s  %s  ", out.clr(cYellow, pid), out.clr(cBrCyan, comm), out.clr(cMagenta, typ), out.clr(cGreen, name))
	} else {
		fmt.Fprintf(&b, "%s  %s  %s  %s  ", out.clr(cYellow, pad(pid, 7)), out.clr(cBrCyan, pad(cut(comm, 15), 15)),
			out.clr(cMagenta, pad(typ, 5)), out.clr(cGreen, pad(name, 42)))
	}
	b.WriteString(out.clr(cGrey, "→ "))
	var parts []string
	if rcode := rcodeOf(d); rcode == "NOERROR" || rcode == "" {
		var ans []string
		for _, a := range refAnswers(d.Answers) {
			ans = append(ans, escName(a))
		}
		if len(ans) > 0 {
			parts = append(parts, out.clr(cBlue, strings.Join(ans, " ")))
		}
	} else {
		parts = append(parts, out.clr(cRed, rcode))
	}
	if d.Truncated {
		parts = append(parts, out.clr(cDim, "[TC]"))
	}
	b.WriteString(strings.Join(parts, " "))
	if d.Answered {
		b.WriteString("  " + out.clr(cGrey, fmt.Sprintf("%.1fms", float64(d.Latency.Microseconds())/1000)))
	}
	return b.String()
}

// escName makes a DNS name or record data safe on a terminal. The parser
// gives names in presentation form, where every octet outside printable
// ASCII is already written \DDD: those pass unchanged (escaping their
// backslashes again would only confuse); anything else, such as the raw
// octets of a TXT string, goes through tracep.Escape.
func escName(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return tracep.Escape(s)
		}
	}
	return s
}

// pad pads s with spaces to n runes.
func pad(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// cut shortens s to n runes, the last being "…", when it is longer.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
