package dnstrace

// Limits on domain names (RFC 1035 sections 2.3.4 and 4.1.4).
const (
	// maxNameWire is the longest name in wire form, length octets and the
	// root label included.
	maxNameWire = 255
	// maxPointers bounds the compression pointers followed for one name.
	// A name of 127 one-octet labels, each label reached through its own
	// pointer, plus a leading pointer, needs 128; no valid name needs more.
	maxPointers = 128
)

// span is a piece of Parser.buf, the presentation text of one message.
type span struct{ start, end int32 }

// memoEntry records that the name suffix starting at an offset of the
// message (a run of labels reached as a name's start or as a pointer's
// target) was checked, and where its text is when it was rendered. It is
// valid for the message being parsed when gen is the Parser's.
type memoEntry struct {
	gen      uint32
	text     span
	wire     uint8 // wire octets of the suffix, root label included
	hops     uint8 // pointers followed inside it
	rendered bool  // text is set
}

// run is where a run of labels began while reading a name: its offset, and
// the text length, wire octets and pointers before it.
type run struct {
	off, bufpos int32
	wire, hops  int16
}

// name decodes the domain name at off. The name's own octets (before any
// compression pointer) must lie below limit. When render is set, the
// presentation form is appended to p.buf, or found among the names already
// decoded, and its span returned; otherwise the name is only checked.
// next is the offset after the name.
//
// Termination and cost are bounded whatever the message holds: every
// pointer must point strictly before the start of the run of labels it ends
// (the name's start, or the previous pointer's target), so the runs start
// at strictly decreasing offsets; at most maxPointers pointers are
// followed; decoding stops as soon as the name would exceed maxNameWire
// octets, so at most 255 octets (4 characters each once escaped) are
// appended; and the suffix starting at each run is remembered for the
// message, so that a pointer to a suffix already checked (rendered) costs
// one look-up (a copy of its text, or nothing when the whole name is that
// suffix) rather than a walk.
func (p *Parser) name(off, limit int, render bool) (text span, next int, err error) {
	msg := p.msg
	start := len(p.buf)
	pos, runStart := off, off
	next = -1
	wire, hops := 0, 0
	runs := p.runs[:0] // at most one per pointer and one more: never grows
	reused := false
	for {
		if pos == runStart {
			if pos != off { // a pointer's target: maybe known
				if e := &p.memo[pos]; e.gen == p.gen && (e.rendered || !render) {
					if hops+int(e.hops) > maxPointers {
						return span{}, 0, malformed(pos, "too many compression pointers")
					}
					if wire+int(e.wire) > maxNameWire {
						return span{}, 0, malformed(pos, "name longer than 255 octets")
					}
					wire += int(e.wire)
					hops += int(e.hops)
					if render {
						if len(p.buf) == start {
							text, reused = e.text, true
						} else {
							p.appendText(e.text)
						}
					}
					break
				}
			}
			runs = append(runs, run{int32(pos), int32(len(p.buf)), int16(wire), int16(hops)})
		}
		if pos >= limit {
			if pos >= len(msg) {
				return span{}, 0, malformed(pos, "truncated name")
			}
			return span{}, 0, malformed(pos, "name overruns its record data")
		}
		c := int(msg[pos])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				wire++
				if next < 0 {
					next = pos + 1
				}
				if render {
					if len(p.buf) == start {
						p.buf = append(p.buf, '.')
					} else {
						p.buf = p.buf[:len(p.buf)-1]
					}
				}
				goto done
			}
			if pos+1+c > limit {
				if pos+1+c > len(msg) {
					return span{}, 0, malformed(pos, "truncated label")
				}
				return span{}, 0, malformed(pos, "name overruns its record data")
			}
			wire += 1 + c
			if wire+1 > maxNameWire {
				return span{}, 0, malformed(pos, "name longer than 255 octets")
			}
			if render {
				p.buf = appendLabel(p.buf, msg[pos+1:pos+1+c])
				p.buf = append(p.buf, '.')
			}
			pos += 1 + c
		case 0xC0:
			if pos+2 > limit {
				if pos+2 > len(msg) {
					return span{}, 0, malformed(pos, "truncated compression pointer")
				}
				return span{}, 0, malformed(pos, "name overruns its record data")
			}
			target := (c&0x3F)<<8 | int(msg[pos+1])
			switch {
			case target > pos:
				return span{}, 0, malformed(pos, "forward compression pointer")
			case target >= runStart:
				return span{}, 0, malformed(pos, "compression pointer loop")
			}
			hops++
			if hops > maxPointers {
				return span{}, 0, malformed(pos, "too many compression pointers")
			}
			if next < 0 {
				next = pos + 2
			}
			pos, runStart = target, target
			limit = len(msg)
		case 0x40:
			return span{}, 0, malformed(pos, "reserved label type 0x40")
		default:
			return span{}, 0, malformed(pos, "reserved label type 0x80")
		}
	}
done:
	if render && !reused {
		text = span{int32(start), int32(len(p.buf))}
	}
	// Remember every suffix this name was made of, except the root (whose
	// text would be empty inside a longer name, and costs one step).
	for _, r := range runs {
		suffix := wire - int(r.wire)
		if suffix <= 1 {
			continue
		}
		e := &p.memo[r.off]
		if e.gen == p.gen && (e.rendered || !render) {
			continue
		}
		*e = memoEntry{gen: p.gen, wire: uint8(suffix), hops: uint8(hops - int(r.hops)), rendered: render}
		if render {
			e.text = span{r.bufpos, text.end}
			if reused {
				e.text = text
			}
		}
	}
	return text, next, nil
}

// appendText appends a copy of text already in p.buf, growing p.buf by
// doubling so that many copies of long names cost linear time.
func (p *Parser) appendText(text span) {
	n := int(text.end - text.start)
	if cap(p.buf)-len(p.buf) < n {
		b := make([]byte, len(p.buf), max(2*cap(p.buf), len(p.buf)+n))
		copy(b, p.buf)
		p.buf = b
	}
	p.buf = append(p.buf, p.buf[text.start:text.end]...)
}

// appendLabel appends the presentation form of one label: printable ASCII
// as is, except "." and "\" escaped with a backslash, and every other octet
// (space, controls, DEL, non-ASCII) as \DDD.
func appendLabel(b, label []byte) []byte {
	for _, c := range label {
		switch {
		case c == '.' || c == '\\':
			b = append(b, '\\', c)
		case c <= ' ' || c >= 0x7F:
			b = appendDDD(b, c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendDDD appends c as a decimal escape, \DDD.
func appendDDD(b []byte, c byte) []byte {
	return append(b, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
}
