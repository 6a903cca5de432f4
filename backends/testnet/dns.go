package testnet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSServer is an authoritative DNS server for a Zone, over UDP and TCP.
// It needs no privileges: tests can serve it on 127.0.0.1:0.
//
// It answers like a recursive resolver would (AA and RA set), so stub
// resolvers (glibc, Go, dig) accept it as their nameserver.
type DNSServer struct {
	zone map[string]Record

	mu      sync.Mutex
	closed  bool
	closers map[io.Closer]struct{} // listeners, packet conns and TCP conns
	queries []Query
	held    map[string][]heldAnswer // UDP answers held back (Record.HoldUDP), by name
	retried map[string]bool         // names a TCP query arrived for: nothing more is held
	wg      sync.WaitGroup          // serve loops and TCP connection handlers
}

// heldAnswer is a UDP answer to send later.
type heldAnswer struct {
	pc   net.PacketConn
	to   net.Addr
	resp []byte
}

// Query is one question the server answered.
type Query struct {
	Name      string // lower case, without the trailing dot
	Type      dnsmessage.Type
	Network   string // "udp" or "tcp"
	RCode     dnsmessage.RCode
	Truncated bool // TC was set and the records left out
}

// NewDNSServer returns a server for zone; the zone is copied.
func NewDNSServer(zone Zone) (*DNSServer, error) {
	z, err := zone.compile()
	if err != nil {
		return nil, err
	}
	return &DNSServer{zone: z, closers: make(map[io.Closer]struct{}), held: make(map[string][]heldAnswer), retried: make(map[string]bool)}, nil
}

// Serve answers queries arriving on pc (UDP) and l (TCP); either may be nil.
// It blocks until Close is called and then returns nil, or returns the
// errors that stopped its loops. Serve may be called several times, for
// example once per address family. It closes pc and l when it returns.
func (s *DNSServer) Serve(pc net.PacketConn, l net.Listener) error {
	var loops []func() error
	if pc != nil {
		loops = append(loops, func() error { return s.serveUDP(pc) })
	}
	if l != nil {
		loops = append(loops, func() error { return s.serveTCP(l) })
	}
	if !s.track(len(loops), pc, l) {
		return nil
	}
	errc := make(chan error, len(loops))
	for _, loop := range loops {
		go func() {
			defer s.wg.Done()
			errc <- loop()
		}()
	}
	var errs []error
	for range loops {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// track registers closers and adds n goroutines to the wait group, both
// under the lock, so Close either sees them or they see closed.
func (s *DNSServer) track(n int, closers ...io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, c := range closers {
			if c != nil {
				c.Close()
			}
		}
		return false
	}
	for _, c := range closers {
		if c != nil {
			s.closers[c] = struct{}{}
		}
	}
	s.wg.Add(n)
	return true
}

func (s *DNSServer) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.closers, c)
	s.mu.Unlock()
}

// Close stops every Serve call, closes open TCP connections and waits for
// all goroutines of the server. It is safe to call more than once.
func (s *DNSServer) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.closers {
		c.Close()
	}
	clear(s.closers)
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *DNSServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Queries returns a copy of every query answered so far, in order.
func (s *DNSServer) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Count returns how many queries matched. An empty name, a zero type or an
// empty network match anything; name is compared case-insensitively.
func (s *DNSServer) Count(name string, typ dnsmessage.Type, network string) int {
	name = canonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queries {
		if (name == "" || q.Name == name) && (typ == 0 || q.Type == typ) && (network == "" || q.Network == network) {
			n++
		}
	}
	return n
}

func (s *DNSServer) serveUDP(pc net.PacketConn) error {
	defer pc.Close()
	buf := make([]byte, 65535)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if s.isClosed() {
				return nil
			}
			return fmt.Errorf("dns: read udp: %w", err)
		}
		resp, a := s.respond(buf[:n], "udp")
		if resp == nil {
			continue
		}
		if a.hold && s.holdUDP(a.name, heldAnswer{pc, addr, resp}) {
			continue
		}
		// A client that went away is not the server's problem.
		_, _ = pc.WriteTo(resp, addr)
	}
}

// holdUDP holds back h, unless the client already retried name over TCP:
// this loop may read a query of the client's parallel pair only after the
// TCP query arrived (a busy machine), and the answer is as late then.
func (s *DNSServer) holdUDP(name string, h heldAnswer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retried[name] {
		return false
	}
	s.held[name] = append(s.held[name], h)
	return true
}

// release sends the UDP answers held back for name, and any answered later.
func (s *DNSServer) release(name string) {
	s.mu.Lock()
	held := s.held[name]
	delete(s.held, name)
	s.retried[name] = true
	s.mu.Unlock()
	for _, h := range held {
		_, _ = h.pc.WriteTo(h.resp, h.to)
	}
}

func (s *DNSServer) serveTCP(l net.Listener) error {
	defer l.Close()
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			return fmt.Errorf("dns: accept: %w", err)
		}
		if !s.track(1, c) {
			return nil
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			defer c.Close()
			s.serveConn(c)
		}()
	}
}

// serveConn answers length-prefixed queries (RFC 1035 4.2.2) until the
// client hangs up or Close closes the connection.
func (s *DNSServer) serveConn(c net.Conn) {
	r := bufio.NewReader(c)
	var size [2]byte
	for {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return
		}
		req := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(r, req); err != nil {
			return
		}
		resp, a := s.respond(req, "tcp")
		if resp == nil {
			return
		}
		s.release(a.name)
		if a.holdTCP {
			// Until the client closes its end.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
		}
		framed := append(binary.BigEndian.AppendUint16(nil, uint16(len(resp))), resp...)
		if a.cutTCP > 0 && a.cutTCP < len(resp) {
			_, _ = c.Write(framed[:2+a.cutTCP])
			return
		}
		if _, err := c.Write(framed); err != nil {
			return
		}
	}
}

// answerHow is how the zone wants an answer sent.
type answerHow struct {
	name    string // the question's name, canonical
	hold    bool   // a UDP answer held back (Record.HoldUDP)
	holdTCP bool   // Record.HoldTCP
	cutTCP  int    // Record.CutTCP
}

// respond builds the answer to req, or returns nil to drop it, and says
// how to send it.
func (s *DNSServer) respond(req []byte, network string) ([]byte, answerHow) {
	out := s.build(req, network)
	if out == nil {
		return nil, answerHow{}
	}
	var p dnsmessage.Parser
	if _, err := p.Start(req); err != nil {
		return out, answerHow{}
	}
	q, err := p.Question()
	if err != nil {
		return out, answerHow{}
	}
	a := answerHow{name: canonicalName(q.Name.String())}
	r, ok := s.zone[a.name]
	if !ok {
		return out, a
	}
	if r.Mangle != nil {
		out = r.Mangle(slices.Clone(out), network)
	}
	a.hold = network == "udp" && slices.Contains(r.HoldUDP, q.Type)
	a.holdTCP, a.cutTCP = r.HoldTCP, r.CutTCP
	return out, a
}

// build builds the answer to req, or returns nil to drop it.
func (s *DNSServer) build(req []byte, network string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil
	}
	msg := dnsmessage.Message{Header: dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		OpCode:             h.OpCode,
		Authoritative:      true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
	}}
	q, err := p.Question()
	if err != nil {
		msg.Header.RCode = dnsmessage.RCodeFormatError
		return pack(msg)
	}
	msg.Questions = []dnsmessage.Question{q}
	if h.OpCode != 0 {
		msg.Header.RCode = dnsmessage.RCodeNotImplemented
		return pack(msg)
	}

	// Without EDNS a UDP answer may be 512 bytes (RFC 1035 4.2.1).
	limit, edns := 512, false
	if p.SkipAllQuestions() == nil && p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
		for {
			ah, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			if ah.Type == dnsmessage.TypeOPT {
				edns, limit = true, max(limit, int(ah.Class))
			}
			if p.SkipAdditional() != nil {
				break
			}
		}
	}
	if edns {
		var opt dnsmessage.ResourceHeader
		_ = opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false) // never fails
		msg.Additionals = []dnsmessage.Resource{{Header: opt, Body: &dnsmessage.OPTResource{}}}
	}

	msg.Header.RCode, msg.Answers, msg.Header.Truncated = s.lookup(q, network)
	out := pack(msg)
	if network == "udp" && len(out) > limit {
		msg.Header.Truncated, msg.Answers = true, nil
		out = pack(msg)
	}

	s.mu.Lock()
	s.queries = append(s.queries, Query{
		Name:      canonicalName(q.Name.String()),
		Type:      q.Type,
		Network:   network,
		RCode:     msg.Header.RCode,
		Truncated: msg.Header.Truncated,
	})
	s.mu.Unlock()
	return out
}

// lookup answers q from the zone, following CNAME chains inside it.
func (s *DNSServer) lookup(q dnsmessage.Question, network string) (dnsmessage.RCode, []dnsmessage.Resource, bool) {
	if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
		return dnsmessage.RCodeRefused, nil, false
	}
	var answers []dnsmessage.Resource
	owner, name := q.Name, canonicalName(q.Name.String())
	seen := make(map[string]bool)
	for {
		r, ok := s.zone[name]
		switch {
		case !ok:
			// RFC 6604: the rcode is about the last name of the chain.
			return dnsmessage.RCodeNameError, answers, false
		case r.TruncateUDP && network == "udp":
			return dnsmessage.RCodeSuccess, nil, true
		case r.RCode != dnsmessage.RCodeSuccess:
			return r.RCode, nil, false
		case r.CNAME != "" && q.Type != dnsmessage.TypeCNAME:
			if seen[name] {
				return dnsmessage.RCodeServerFailure, nil, false
			}
			seen[name] = true
			target := mustName(r.CNAME)
			answers = append(answers, resource(owner, dnsmessage.TypeCNAME, r.TTL, &dnsmessage.CNAMEResource{CNAME: target}))
			owner, name = target, r.CNAME
			continue
		}
		return dnsmessage.RCodeSuccess, append(answers, records(owner, q.Type, r)...), false
	}
}

// records returns r's records of type typ (all of them for ANY).
func records(owner dnsmessage.Name, typ dnsmessage.Type, r Record) []dnsmessage.Resource {
	want := func(t dnsmessage.Type) bool { return typ == t || typ == dnsmessage.TypeALL }
	var out []dnsmessage.Resource
	if r.CNAME != "" && want(dnsmessage.TypeCNAME) {
		out = append(out, resource(owner, dnsmessage.TypeCNAME, r.TTL, &dnsmessage.CNAMEResource{CNAME: mustName(r.CNAME)}))
	}
	for _, a := range r.Addrs {
		switch {
		case a.Is4() && want(dnsmessage.TypeA):
			out = append(out, resource(owner, dnsmessage.TypeA, r.TTL, &dnsmessage.AResource{A: a.As4()}))
		case a.Is6() && want(dnsmessage.TypeAAAA):
			out = append(out, resource(owner, dnsmessage.TypeAAAA, r.TTL, &dnsmessage.AAAAResource{AAAA: a.As16()}))
		}
	}
	if want(dnsmessage.TypeTXT) {
		for _, t := range r.TXT {
			out = append(out, resource(owner, dnsmessage.TypeTXT, r.TTL, &dnsmessage.TXTResource{TXT: []string{t}}))
		}
	}
	if want(dnsmessage.TypeMX) {
		for _, mx := range r.MX {
			out = append(out, resource(owner, dnsmessage.TypeMX, r.TTL, &dnsmessage.MXResource{Pref: mx.Pref, MX: mustName(mx.Host)}))
		}
	}
	return out
}

func resource(owner dnsmessage.Name, typ dnsmessage.Type, ttl uint32, body dnsmessage.ResourceBody) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: owner, Type: typ, Class: dnsmessage.ClassINET, TTL: ttl},
		Body:   body,
	}
}

// mustName turns a canonical name, checked by Zone.compile, into a Name.
func mustName(canonical string) dnsmessage.Name {
	return dnsmessage.MustNewName(canonical + ".")
}

// pack packs msg; it only fails on records Zone.compile rejects.
func pack(msg dnsmessage.Message) []byte {
	out, err := msg.Pack()
	if err != nil {
		return nil
	}
	return out
}
