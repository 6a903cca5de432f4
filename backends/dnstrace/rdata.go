package dnstrace

import (
	"encoding/base64"
	"net/netip"
	"strconv"
)

// rdata renders the data of a record of type typ and class class lying at
// msg[off:end], and returns its span in p.buf.
//
// The types named in the package documentation are rendered in their
// presentation form and checked: a length that does not match the type, a
// name that does not end where the data ends, or a field that breaks the
// type's format is an error, which rejects the message. Any other type, A
// and AAAA outside class IN, and any record of class NONE or ANY (whose
// empty data in dynamic updates means "delete" or "exists") are rendered in
// the generic form of RFC 3597, `\# 4 c0000201`.
func (p *Parser) rdata(typ, class uint16, off, end int) (span, error) {
	msg := p.msg
	start := len(p.buf)
	var err error
	switch {
	case class == ClassNONE || class == ClassANY:
		p.generic(off, end)
	case typ == TypeA && class == ClassIN:
		if end-off != 4 {
			return span{}, lengthError(off, typ, end-off, "4")
		}
		p.buf = netip.AddrFrom4([4]byte(msg[off:end])).AppendTo(p.buf)
	case typ == TypeAAAA && class == ClassIN:
		if end-off != 16 {
			return span{}, lengthError(off, typ, end-off, "16")
		}
		p.buf = netip.AddrFrom16([16]byte(msg[off:end])).AppendTo(p.buf)
	case typ == TypeCNAME || typ == TypeNS || typ == TypePTR || typ == TypeDNAME:
		text, next, err := p.name(off, end, true)
		if err != nil {
			return span{}, err
		}
		if next != end {
			return span{}, trailingError(next, typ)
		}
		return text, nil
	case typ == TypeMX:
		if end-off < 3 {
			return span{}, lengthError(off, typ, end-off, "at least 3")
		}
		p.buf = strconv.AppendUint(p.buf, uint64(be16(msg[off:])), 10)
		p.buf = append(p.buf, ' ')
		err = p.appendNameEnding(off+2, end, typ)
	case typ == TypeSRV:
		if end-off < 7 {
			return span{}, lengthError(off, typ, end-off, "at least 7")
		}
		for i := range 3 {
			p.buf = strconv.AppendUint(p.buf, uint64(be16(msg[off+2*i:])), 10)
			p.buf = append(p.buf, ' ')
		}
		err = p.appendNameEnding(off+6, end, typ)
	case typ == TypeSOA:
		err = p.soa(off, end)
	case typ == TypeTXT:
		err = p.txt(off, end)
	case typ == TypeCAA:
		err = p.caa(off, end)
	case typ == TypeSVCB || typ == TypeHTTPS:
		err = p.svcb(typ, off, end)
	default:
		p.generic(off, end)
	}
	if err != nil {
		return span{}, err
	}
	return span{int32(start), int32(len(p.buf))}, nil
}

func lengthError(off int, typ uint16, got int, want string) error {
	return malformed(off, TypeName(typ)+" record data of "+strconv.Itoa(got)+" octets, want "+want)
}

func trailingError(off int, typ uint16) error {
	return malformed(off, "octets after the end of "+TypeName(typ)+" record data")
}

// appendName appends the name at off, whose own octets lie below limit, to
// p.buf and returns the offset after it.
func (p *Parser) appendName(off, limit int) (int, error) {
	mark := len(p.buf)
	text, next, err := p.name(off, limit, true)
	if err != nil {
		return 0, err
	}
	if int(text.start) != mark { // found already decoded: copy it here
		p.appendText(text)
	}
	return next, nil
}

// appendNameEnding appends the name at off, which must end the record data
// at end.
func (p *Parser) appendNameEnding(off, end int, typ uint16) error {
	next, err := p.appendName(off, end)
	if err != nil {
		return err
	}
	if next != end {
		return trailingError(next, typ)
	}
	return nil
}

// soa renders `mname rname serial refresh retry expire minimum`.
func (p *Parser) soa(off, end int) error {
	next, err := p.appendName(off, end)
	if err != nil {
		return err
	}
	p.buf = append(p.buf, ' ')
	if next, err = p.appendName(next, end); err != nil {
		return err
	}
	if end-next != 20 {
		return malformed(next, "SOA record data has "+strconv.Itoa(end-next)+" octets after its names, want 20")
	}
	for i := range 5 {
		p.buf = append(p.buf, ' ')
		p.buf = strconv.AppendUint(p.buf, uint64(be32(p.msg[next+4*i:])), 10)
	}
	return nil
}

// txt renders each character-string quoted, separated by spaces. Empty
// record data (not valid, but seen) renders as an empty string.
func (p *Parser) txt(off, end int) error {
	for i := off; i < end; {
		l := int(p.msg[i])
		if i+1+l > end {
			return malformed(i, "TXT string overruns its record data")
		}
		if i > off {
			p.buf = append(p.buf, ' ')
		}
		p.buf = appendQuoted(p.buf, p.msg[i+1:i+1+l])
		i += 1 + l
	}
	return nil
}

// caa renders `flags tag "value"` (RFC 8659).
func (p *Parser) caa(off, end int) error {
	if end-off < 2 {
		return lengthError(off, TypeCAA, end-off, "at least 2")
	}
	tl := int(p.msg[off+1])
	if tl == 0 || off+2+tl > end {
		return malformed(off+1, "CAA tag length "+strconv.Itoa(tl)+" does not fit its record data")
	}
	p.buf = strconv.AppendUint(p.buf, uint64(p.msg[off]), 10)
	p.buf = append(p.buf, ' ')
	p.buf = appendLabel(p.buf, p.msg[off+2:off+2+tl])
	p.buf = append(p.buf, ' ')
	p.buf = appendQuoted(p.buf, p.msg[off+2+tl:end])
	return nil
}

// SvcParamKeys (RFC 9460 and later).
const (
	svcMandatory     = 0
	svcALPN          = 1
	svcNoDefaultALPN = 2
	svcPort          = 3
	svcIPv4Hint      = 4
	svcECH           = 5
	svcIPv6Hint      = 6
	svcDoHPath       = 7
	svcOHTTP         = 8
)

var svcKeyNames = [...]string{"mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint", "dohpath", "ohttp"}

func appendSvcKey(b []byte, k uint16) []byte {
	if int(k) < len(svcKeyNames) {
		return append(b, svcKeyNames[k]...)
	}
	return strconv.AppendUint(append(b, "key"...), uint64(k), 10)
}

// svcb renders `priority target key=value...` (RFC 9460 section 2.1).
// Parameters must come in strictly increasing key order and the values of
// the keys it knows must have their format; unknown keys render as
// keyNNNN="escaped value".
func (p *Parser) svcb(typ uint16, off, end int) error {
	msg := p.msg
	if end-off < 3 {
		return lengthError(off, typ, end-off, "at least 3")
	}
	p.buf = strconv.AppendUint(p.buf, uint64(be16(msg[off:])), 10)
	p.buf = append(p.buf, ' ')
	i, err := p.appendName(off+2, end)
	if err != nil {
		return err
	}
	last := -1
	for i < end {
		if i+4 > end {
			return malformed(i, "truncated SVCB parameter")
		}
		key := be16(msg[i:])
		l := int(be16(msg[i+2:]))
		if int(key) <= last {
			return malformed(i, "SVCB parameter keys not in increasing order")
		}
		last = int(key)
		if i+4+l > end {
			return malformed(i, "SVCB parameter overruns its record data")
		}
		v := msg[i+4 : i+4+l]
		bad := func() error { return malformed(i, "malformed SVCB "+string(appendSvcKey(nil, key))+" value") }
		p.buf = append(p.buf, ' ')
		p.buf = appendSvcKey(p.buf, key)
		switch key {
		case svcMandatory:
			if l == 0 || l%2 != 0 {
				return bad()
			}
			p.buf = append(p.buf, '=')
			for j := 0; j < l; j += 2 {
				if j > 0 {
					p.buf = append(p.buf, ',')
				}
				p.buf = appendSvcKey(p.buf, be16(v[j:]))
			}
		case svcALPN:
			if l == 0 {
				return bad()
			}
			p.buf = append(p.buf, '=')
			for j := 0; j < l; {
				n := int(v[j])
				if n == 0 || j+1+n > l {
					return bad()
				}
				if j > 0 {
					p.buf = append(p.buf, ',')
				}
				p.buf = appendListItem(p.buf, v[j+1:j+1+n])
				j += 1 + n
			}
		case svcNoDefaultALPN, svcOHTTP:
			if l != 0 {
				return bad()
			}
		case svcPort:
			if l != 2 {
				return bad()
			}
			p.buf = append(p.buf, '=')
			p.buf = strconv.AppendUint(p.buf, uint64(be16(v)), 10)
		case svcIPv4Hint, svcIPv6Hint:
			size := 4
			if key == svcIPv6Hint {
				size = 16
			}
			if l == 0 || l%size != 0 {
				return bad()
			}
			p.buf = append(p.buf, '=')
			for j := 0; j < l; j += size {
				if j > 0 {
					p.buf = append(p.buf, ',')
				}
				if size == 4 {
					p.buf = netip.AddrFrom4([4]byte(v[j:])).AppendTo(p.buf)
				} else {
					p.buf = netip.AddrFrom16([16]byte(v[j:])).AppendTo(p.buf)
				}
			}
		case svcECH:
			p.buf = append(p.buf, '=')
			if l == 0 {
				p.buf = append(p.buf, `""`...)
			}
			p.buf = base64.StdEncoding.AppendEncode(p.buf, v)
		default: // dohpath and unknown keys: a character-string
			if l > 0 || key == svcDoHPath {
				p.buf = append(p.buf, '=')
				p.buf = appendQuoted(p.buf, v)
			}
		}
		i += 4 + l
	}
	return nil
}

// generic renders data in the form of RFC 3597: `\# len hex`.
func (p *Parser) generic(off, end int) {
	p.buf = append(p.buf, `\# `...)
	p.buf = strconv.AppendUint(p.buf, uint64(end-off), 10)
	if end > off {
		p.buf = append(p.buf, ' ')
		const hex = "0123456789abcdef"
		for _, c := range p.msg[off:end] {
			p.buf = append(p.buf, hex[c>>4], hex[c&0xF])
		}
	}
}

// appendQuoted appends s as a quoted character-string: `"` and `\` escaped
// with a backslash, octets outside printable ASCII as \DDD.
func appendQuoted(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < ' ' || c >= 0x7F:
			b = appendDDD(b, c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendListItem appends one item of an SVCB value list (alpn): a comma
// or backslash in the item is escaped twice over (RFC 9460 appendix A.1),
// other octets outside printable ASCII, space and `"` as \DDD, so that the
// whole list is one unquoted character-string.
func appendListItem(b, s []byte) []byte {
	for _, c := range s {
		switch {
		case c == ',':
			b = append(b, `\\,`...)
		case c == '\\':
			b = append(b, `\\\\`...)
		case c <= ' ' || c >= 0x7F || c == '"':
			b = appendDDD(b, c)
		default:
			b = append(b, c)
		}
	}
	return b
}
