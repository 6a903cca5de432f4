package harness

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// TLS assertions. A TLS event is a handshake (a ClientHello seen on the
// wire, with the server name it asks for) or plaintext a program wrote to
// or read from a TLS library. Host patterns are globs (see Glob) over the
// server name in lower case without a trailing dot: "example.test",
// "*.example.test" (names below it), "*" (any name, but not a connection
// without one).

// MatchSNI reports whether the server name host matches the host pattern.
func MatchSNI(pattern, host string) bool {
	return host != "" && Glob(tracep.CanonicalName(pattern), tracep.CanonicalName(host))
}

// TLS returns the TLS events, in order.
func (c *Capture) TLS() []tracep.Event { return c.Of(tracep.KindTLS) }

// TLSStream is the plaintext of one direction of one connection: the data
// of its reads or of its writes, concatenated in order.
type TLSStream struct {
	PID     int32
	Comm    string
	Library string
	// Op is tracep.TLSOpWrite (sent) or tracep.TLSOpRead (received).
	Op string
	// SNI is the server name, "" when not known.
	SNI string
	// Src and Dst are the connection's local and peer addresses, when known.
	Src, Dst netip.AddrPort
	Data     []byte
	// Truncated is set when a call was longer than what was captured, so
	// Data misses bytes.
	Truncated bool
}

type streamKey struct {
	pid          int32
	lib, op, sni string
	src, dst     netip.AddrPort
}

// TLSStreams returns the plaintext of the traced programs, one stream per
// process, connection and direction, in the order each began. A
// connection whose addresses are unknown is one stream per process,
// library and server name.
func (c *Capture) TLSStreams() []TLSStream {
	var out []*TLSStream
	idx := map[streamKey]*TLSStream{}
	for _, ev := range c.TLS() {
		x := ev.TLS
		if x.Op != tracep.TLSOpWrite && x.Op != tracep.TLSOpRead {
			continue
		}
		k := streamKey{ev.Proc.PID, x.Library, x.Op, tracep.CanonicalName(x.SNI), x.Src, x.Dst}
		s, ok := idx[k]
		if !ok {
			s = &TLSStream{PID: ev.Proc.PID, Comm: ev.Proc.Comm, Library: x.Library, Op: x.Op,
				SNI: k.sni, Src: x.Src, Dst: x.Dst}
			idx[k] = s
			out = append(out, s)
		}
		s.Data = append(s.Data, x.Data...)
		s.Truncated = s.Truncated || x.Truncated
	}
	streams := make([]TLSStream, len(out))
	for i, s := range out {
		streams[i] = *s
	}
	return streams
}

// RequireSNI fails t unless, for each host pattern, the traced programs
// asked a TLS server for a matching name. The failure lists the names
// asked for and the handshakes.
func (c *Capture) RequireSNI(t testing.TB, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		if !slices.ContainsFunc(c.SNIs(), func(s string) bool { return MatchSNI(h, s) }) {
			fail(t, "no TLS connection to %s; the server names were %q:\n%s", h, c.SNIs(), c.tlsSummary())
			return
		}
	}
}

// RequireOnlySNI fails t if the traced programs made a TLS handshake with
// a server name matching none of the host patterns, or without any name
// (a connection to a bare address), showing the offending handshakes.
func (c *Capture) RequireOnlySNI(t testing.TB, hosts ...string) {
	t.Helper()
	var bad []tracep.Event
	for _, ev := range c.TLS() {
		if ev.TLS.Op != tracep.TLSOpHandshake {
			continue
		}
		if !slices.ContainsFunc(hosts, func(h string) bool { return MatchSNI(h, ev.TLS.SNI) }) {
			bad = append(bad, ev)
		}
	}
	if len(bad) > 0 {
		fail(t, "TLS handshakes outside %q:\n%s", hosts, formatEvents(bad))
		return
	}
	c.requireComplete(t, fmt.Sprintf("only the server names %q", hosts), nil, tracep.KindTLS)
}

// RequirePlaintext fails t unless a stream of direction op
// (tracep.TLSOpWrite, tracep.TLSOpRead, or "" for either) contains
// pattern, and returns the first such stream.
func (c *Capture) RequirePlaintext(t testing.TB, op, pattern string) TLSStream {
	t.Helper()
	for _, s := range c.TLSStreams() {
		if (op == "" || s.Op == op) && bytes.Contains(s.Data, []byte(pattern)) {
			return s
		}
	}
	verb, _ := opWords(op)
	fail(t, "no TLS plaintext %scontains %q; the TLS activity was:\n%s", verb, pattern, c.tlsSummary())
	return TLSStream{}
}

// RequireNoPlaintext fails t if secret appears in plaintext the traced
// programs wrote over TLS to any server other than those matching
// exceptSNI: a secret that must never reach any host but its own. A
// connection whose server name is unknown is not excepted. Since absence
// can only be asserted over what was captured, it also fails when a write
// to a host not excepted was longer than the data limit and so only partly
// captured.
func (c *Capture) RequireNoPlaintext(t testing.TB, secret string, exceptSNI ...string) {
	t.Helper()
	if secret == "" {
		fail(t, "RequireNoPlaintext: empty secret")
		return
	}
	var leaks, cut []string
	for _, s := range c.TLSStreams() {
		if s.Op != tracep.TLSOpWrite || slices.ContainsFunc(exceptSNI, func(h string) bool { return MatchSNI(h, s.SNI) }) {
			continue
		}
		if i := bytes.Index(s.Data, []byte(secret)); i >= 0 {
			leaks = append(leaks, describeStream(s)+": "+maskedExcerpt(s.Data, []byte(secret), i))
		} else if s.Truncated {
			cut = append(cut, describeStream(s))
		}
	}
	switch {
	case len(leaks) > 0:
		where := ""
		if len(exceptSNI) > 0 {
			where = fmt.Sprintf(" to a host outside %q", exceptSNI)
		}
		fail(t, "the secret was sent over TLS%s:\n  %s", where, strings.Join(leaks, "\n  "))
		return
	case len(cut) > 0:
		fail(t, "cannot tell whether the secret was sent: writes longer than the data limit were only partly captured:\n  %s",
			strings.Join(cut, "\n  "))
		return
	}
	c.requireComplete(t, "the secret never sent", nil, tracep.KindTLS)
}

// tlsSummary describes the TLS activity: the handshakes and the size of
// each plaintext stream, escaped, for failure messages.
func (c *Capture) tlsSummary() string {
	var b strings.Builder
	for _, ev := range c.TLS() {
		if ev.TLS.Op == tracep.TLSOpHandshake {
			fmt.Fprintf(&b, "  %s\n", ev)
		}
	}
	for _, s := range c.TLSStreams() {
		fmt.Fprintf(&b, "  %s: %s\n", describeStream(s), excerpt(s.Data, 0, 0))
	}
	if b.Len() == 0 {
		return "  (no TLS events)\n"
	}
	return b.String()
}

func describeStream(s TLSStream) string {
	host := tracep.Escape(s.SNI)
	if host == "" {
		host = "(no server name)"
	}
	verb, prep := opWords(s.Op)
	d := fmt.Sprintf("%s %s%s%s %d bytes", tracep.Proc{PID: s.PID, Comm: s.Comm}, verb, prep, host, len(s.Data))
	if s.Dst.IsValid() {
		d += " dst=" + s.Dst.String()
	}
	if s.Truncated {
		d += " (partly captured)"
	}
	return d
}

// opWords names a direction of plaintext: "written" and "to", or "read"
// and "from"; nothing for either direction.
func opWords(op string) (verb, prep string) {
	switch op {
	case tracep.TLSOpWrite:
		return "written ", "to "
	case tracep.TLSOpRead:
		return "read ", "from "
	}
	return "", ""
}

// excerpt shows, escaped, the bytes of data around [i, i+n).
func excerpt(data []byte, i, n int) string {
	lo, hi := max(0, i-excerptContext), min(len(data), i+n+excerptContext)
	return quoteExcerpt(tracep.Escape(string(data[lo:hi])), lo > 0, hi < len(data))
}

const excerptContext = 40

// maskedExcerpt shows the bytes of data around the secret found at i, with
// every occurrence of it replaced by a placeholder: a failure message must
// not spread what it protects. The window never ends inside an occurrence,
// and a part of the secret at either end of it (a write cut at the capture
// limit in the middle of the secret) is masked too.
func maskedExcerpt(data, secret []byte, i int) string {
	lo, hi := max(0, i-excerptContext), min(len(data), i+len(secret)+excerptContext)
	for j := 0; j < len(data); {
		k := bytes.Index(data[j:], secret)
		if k < 0 {
			break
		}
		start, end := j+k, j+k+len(secret)
		if start < lo && end > lo {
			lo = start
		}
		if start < hi && end > hi {
			hi = end
		}
		j = end
	}
	placeholder := fmt.Sprintf("<secret: %d bytes>", len(secret))
	parts := bytes.Split(data[lo:hi], secret)
	var head, tail string
	if n := partialSecret(parts[0], secret, true); n > 0 {
		head = fmt.Sprintf("<part of the secret: %d bytes>", n)
		parts[0] = parts[0][n:]
	}
	last := len(parts) - 1
	if n := partialSecret(parts[last], secret, false); n > 0 {
		tail = fmt.Sprintf("<part of the secret: %d bytes>", n)
		parts[last] = parts[last][:len(parts[last])-n]
	}
	texts := make([]string, len(parts))
	for k, p := range parts {
		texts[k] = tracep.Escape(string(p))
	}
	return quoteExcerpt(head+strings.Join(texts, placeholder)+tail, lo > 0, hi < len(data))
}

// partialSecret returns the length of the longest proper part of secret
// that begins text (its end, when atStart) or ends it (its beginning),
// when long enough to give part of the secret away; else 0.
func partialSecret(text, secret []byte, atStart bool) int {
	least := max(1, min(3, len(secret)-1))
	for n := min(len(text), len(secret)-1); n >= least; n-- {
		if atStart && bytes.Equal(text[:n], secret[len(secret)-n:]) ||
			!atStart && bytes.Equal(text[len(text)-n:], secret[:n]) {
			return n
		}
	}
	return 0
}

func quoteExcerpt(s string, before, after bool) string {
	if before {
		s = "…" + s
	}
	if after {
		s += "…"
	}
	return "\"" + s + "\""
}
