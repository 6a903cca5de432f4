package tlstrace

import (
	"errors"
	"fmt"
)

var (
	// ErrNotClientHello is returned by ParseClientHello for bytes that do
	// not start a TLS ClientHello.
	ErrNotClientHello = errors.New("not a TLS ClientHello")
	// ErrHelloTruncated is returned by ParseClientHello when the bytes end
	// before the server name could be found.
	ErrHelloTruncated = errors.New("ClientHello cut before its server name")
)

// maxServerName is the longest host name RFC 6066 allows.
const maxServerName = 255

// ParseClientHello returns the host name of the server_name extension
// (RFC 6066) of the ClientHello that starts b: a TLS record (type 22) with
// its 5-byte header, as a client writes it to its socket. A record cut
// short is parsed as far as it goes, so the name is found when it lies in
// the part given. It returns "" and no error for a ClientHello without a
// host name (a connection to an address). It never panics.
func ParseClientHello(b []byte) (string, error) {
	// Record header: type, version (3.x), length.
	if len(b) < 5 || b[0] != 22 || b[1] != 3 {
		return "", ErrNotClientHello
	}
	recLen := int(b[3])<<8 | int(b[4])
	b = b[5:]
	if len(b) > recLen {
		b = b[:recLen]
	}
	// Handshake header: type 1 (client_hello), 24-bit length.
	switch {
	case len(b) > 0 && b[0] != 1:
		return "", ErrNotClientHello
	case len(b) < 4:
		return "", ErrHelloTruncated
	}
	hsLen := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	b = b[4:]
	if len(b) > hsLen {
		b = b[:hsLen]
	}
	p := parser{b: b}
	p.skip(2 + 32)  // legacy_version, random
	p.skip(p.u8())  // legacy_session_id
	p.skip(p.u16()) // cipher_suites
	p.skip(p.u8())  // legacy_compression_methods
	extLen := p.u16()
	if p.short {
		return "", ErrHelloTruncated
	}
	ext := p.sub(extLen)
	for len(ext.b) >= 4 {
		typ := ext.u16()
		body := ext.sub(ext.u16())
		if typ != 0 { // server_name
			continue
		}
		list := body.sub(body.u16())
		for len(list.b) >= 3 {
			nameType := list.u8()
			name := list.bytes(list.u16())
			if list.short {
				break
			}
			if nameType == 0 { // host_name
				if len(name) > maxServerName {
					return "", fmt.Errorf("%w: server name of %d bytes", ErrNotClientHello, len(name))
				}
				return string(name), nil
			}
		}
		if body.short || list.short {
			return "", ErrHelloTruncated
		}
		return "", fmt.Errorf("%w: server_name extension without a host name", ErrNotClientHello)
	}
	if ext.short || len(ext.b) > 0 {
		return "", ErrHelloTruncated
	}
	return "", nil
}

// parser reads big-endian fields; reading past the end sets short and
// yields zeros, so a cut record needs no check at every step.
type parser struct {
	b     []byte
	short bool
}

func (p *parser) u8() int {
	if len(p.b) < 1 {
		p.short = true
		return 0
	}
	v := int(p.b[0])
	p.b = p.b[1:]
	return v
}

func (p *parser) u16() int {
	if len(p.b) < 2 {
		p.short = true
		p.b = nil
		return 0
	}
	v := int(p.b[0])<<8 | int(p.b[1])
	p.b = p.b[2:]
	return v
}

func (p *parser) bytes(n int) []byte {
	if n > len(p.b) {
		p.short = true
		p.b = nil
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *parser) skip(n int) { p.bytes(n) }

// sub returns a parser for the next n bytes; when fewer remain it gets what
// there is and is marked short.
func (p *parser) sub(n int) parser {
	if n > len(p.b) {
		s := parser{b: p.b, short: true}
		p.b, p.short = nil, true
		return s
	}
	s := parser{b: p.b[:n]}
	p.b = p.b[n:]
	return s
}
