package base

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
  -net        run CMD inside tracep's hermetic test network
  -j          JSON lines: the reference keys (answers, latency_ms, name, pid, query,
              rcode, ts, type) and the tracep event schema (schema, seq, kind, proc, dns...)
  -n NAMES    keep only these process names (comma-separated, exact)
  -o FILE     append output to FILE
  -p PIDS     trace these processes and all their descendants, running and future
              (comma-separated, repeatable); 0 adds the queries of no known process
  -q          print only the queried names
  -Q          no start-up line, no warnings
  -t          timestamps (HH:MM:SS, RFC 3339 in JSON as "ts")
  -T TYPES    keep only these query types (comma-separated, e.g. A,AAAA)
  -ports LIST ports that carry DNS (default 53; e.g. 53,5353)
  -timeout D  report a query unanswered after D (default 5s; seconds or a duration)
` + commonHelp + `
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

// dnsCmd is tracep dns: the reference's columns and JSON keys.
type dnsCmd struct {
	t                            *traceRun
	flat, namesOnly, stamps      bool
	domain                       string
	nameList, typeList, portList []string
	cfg                          dnstrace.Config
	names, types                 map[string]bool
	buf                          bytes.Buffer
	enc                          *tracep.Encoder
	// Buffers print reuses; the trace calls it one event at a time.
	line    line
	scratch []byte
}

func newDNSCmd() *dnsCmd { return &dnsCmd{cfg: dnstrace.Config{Timeout: dnstrace.DefaultTimeout}} }

func runDNS(e *env, args []string) int { return runTrace(e, "dns", newDNSCmd(), args) }

func (c *dnsCmd) help() string { return dnsHelp }

func (c *dnsCmd) declare(fs *FlagSet) {
	fs.String("d", "DOMAIN", &c.domain, "names containing DOMAIN")
	fs.Bool("f", &c.flat, "flat output")
	fs.List("n", "NAMES", &c.nameList, "process names")
	fs.Bool("q", &c.namesOnly, "names only")
	fs.Bool("t", &c.stamps, "timestamps")
	fs.List("T", "TYPES", &c.typeList, "query types")
	fs.List("ports", "LIST", &c.portList, "DNS ports")
	fs.Var("timeout", "D", secondsFlag{&c.cfg.Timeout}, "unanswered after D")
}

func (c *dnsCmd) prepare(t *traceRun) error {
	c.t = t
	t.kinds = []tracep.Kind{tracep.KindDNS}
	c.names = csvSet(c.nameList, false)
	c.types = csvSet(c.typeList, true)
	for typ := range c.types {
		if _, ok := dnstrace.ParseTypeName(typ); !ok {
			return fmt.Errorf("-T: unknown query type %s", tracep.Escape(typ))
		}
	}
	for _, f := range c.portList {
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("-ports: invalid port: %s", tracep.Escape(f))
		}
		c.cfg.Ports = append(c.cfg.Ports, uint16(n))
	}
	t.tracers.DNS = c.cfg
	c.enc = tracep.NewEncoder(&c.buf)
	return nil
}

// csvSet makes a set of the non-empty items, upper-cased when asked.
func csvSet(items []string, upper bool) map[string]bool {
	var m map[string]bool
	for _, f := range items {
		if f == "" {
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

// cGrey is the reference's grey (SGR 90) for arrows and latencies.
const cGrey = 90

// keep applies the filters, all of which must hold.
func (c *dnsCmd) keep(ev tracep.Event) bool {
	d := ev.DNS
	if d == nil {
		return false
	}
	if c.domain != "" && !strings.Contains(strings.ToLower(d.Name), strings.ToLower(c.domain)) {
		return false
	}
	if c.names != nil && !c.names[ev.Proc.Comm] {
		return false
	}
	return c.types == nil || c.types[strings.ToUpper(d.Type)]
}

func (c *dnsCmd) print(ev tracep.Event) {
	if c.namesOnly {
		c.t.out.line("%s", tracep.EscapeDNS(ev.DNS.Name))
		return
	}
	c.line.start(c.t.out)
	c.format(&c.line, ev)
	c.line.writeTo(c.t.out)
}

func (c *dnsCmd) printJSON(ev tracep.Event) {
	if c.namesOnly {
		c.print(ev)
		return
	}
	c.t.out.write(c.jsonLine(ev))
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
func (c *dnsCmd) jsonLine(ev tracep.Event) []byte {
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
	if c.stamps {
		r.TS = ev.Time.Local().Format(time.RFC3339Nano)
	}
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r) // strings and numbers only: cannot fail

	c.buf.Reset()
	_ = c.enc.Encode(ev)

	line := bytes.TrimRight(head.Bytes(), "\n")
	line = append(line[:len(line)-1], ',')
	return append(line, c.buf.Bytes()[1:]...)
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

// format appends ev's line (without its newline) to l: the reference's
// columns, padded before colouring so that they line up with colour on too.
func (c *dnsCmd) format(l *line, ev tracep.Event) {
	d := ev.DNS
	if c.stamps {
		c.scratch = ev.Time.Local().AppendFormat(c.scratch[:0], "15:04:05")
		l.text(cCyan, unsafeString(c.scratch))
		l.b = append(l.b, "  "...)
	}
	comm := tracep.Escape(ev.Proc.Comm)
	if ev.Proc.PID == 0 && comm == "" {
		comm = "?"
	}
	typ, name := d.Type, tracep.EscapeDNS(d.Name)
	c.scratch = strconv.AppendInt(c.scratch[:0], int64(ev.Proc.PID), 10)
	if c.flat {
		l.text(cYellow, unsafeString(c.scratch))
		l.b = append(l.b, "  "...)
		l.text(cBrCyan, comm)
		l.b = append(l.b, "  "...)
		l.text(cMagenta, typ)
		l.b = append(l.b, "  "...)
		l.text(cGreen, name)
	} else {
		l.padded(cYellow, unsafeString(c.scratch), 7)
		l.b = append(l.b, "  "...)
		l.padded(cBrCyan, cut(comm, 15), 15)
		l.b = append(l.b, "  "...)
		l.padded(cMagenta, typ, 5)
		l.b = append(l.b, "  "...)
		l.padded(cGreen, name, 42)
	}
	l.b = append(l.b, "  "...)
	l.text(cGrey, "→ ")
	sep := false
	part := func(code int, s string) {
		if sep {
			l.b = append(l.b, ' ')
		}
		l.text(code, s)
		sep = true
	}
	if rcode := rcodeOf(d); rcode == "NOERROR" || rcode == "" {
		c.scratch = appendAnswers(c.scratch[:0], d.Answers)
		if len(c.scratch) > 0 {
			part(cBlue, unsafeString(c.scratch))
		}
	} else {
		part(cRed, rcode)
	}
	if d.Truncated {
		part(cDim, "[TC]")
	}
	if d.Undelivered {
		// The program never read it, but the host got one: say what.
		part(cDim, "[response after the client gave up: "+d.RCode+"]")
	}
	if d.Answered {
		l.b = append(l.b, "  "...)
		c.scratch = strconv.AppendFloat(c.scratch[:0], float64(d.Latency.Microseconds())/1000, 'f', 1, 64)
		c.scratch = append(c.scratch, "ms"...)
		l.text(cGrey, unsafeString(c.scratch))
	}
}

// appendAnswers appends the answers as refAnswers renders them, escaped
// and space-separated.
func appendAnswers(b []byte, rrs []tracep.DNSRecord) []byte {
	n := 0
	add := func(s string) {
		if n > 0 {
			b = append(b, ' ')
		}
		b = append(b, tracep.EscapeDNS(s)...)
		n++
	}
	for i, a := range rrs {
		switch a.Type {
		case "A", "AAAA", "PTR":
			add(a.Data)
		default: // prefixed, or several strings (TXT), or none
			for _, s := range refAnswers(rrs[i : i+1]) {
				add(s)
			}
		}
	}
	return b
}

// cut shortens s to n runes, the last being "…", when it is longer.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
