package dnstrace

import (
	"errors"
	"strconv"
)

// MaxMessageSize is the largest DNS message a two-octet length prefix can
// announce.
const MaxMessageSize = 65535

// ErrFraming is matched (errors.Is) by the errors of StreamReassembler.
var ErrFraming = errors.New("dns tcp framing error")

type framingError struct{ reason string }

func (e *framingError) Error() string { return ErrFraming.Error() + ": " + e.reason }
func (e *framingError) Unwrap() error { return ErrFraming }

// releaseAbove is the capacity beyond which the reassembler frees its buffer
// once a message is complete, so that an idle connection holds little.
const releaseAbove = 4 << 10

// StreamReassembler cuts one direction of a DNS-over-TCP connection into
// messages (RFC 1035 section 4.2.2, RFC 7766): each message is preceded by
// its length as two big-endian octets. Feed it the TCP payloads in stream
// order; a message may span any number of segments and a segment may hold
// any number of messages.
//
// It buffers at most 2+Max octets: the length prefix and one incomplete
// message. A length prefix above Max, or below the 12 octets of a DNS
// header (which means the stream is not where the reassembler thinks it is,
// for instance after a lost segment), is an error that resets it.
//
// The zero value is ready to use and accepts messages up to MaxMessageSize
// octets. It is pure: it knows nothing of sequence numbers, so a tracer that
// sees a gap in the stream should call Reset.
type StreamReassembler struct {
	// Max is the largest message accepted; 0 (or more than
	// MaxMessageSize) means MaxMessageSize.
	Max int

	hdr  [2]byte
	nhdr int    // length-prefix octets held
	need int    // length of the message being assembled, once nhdr == 2
	buf  []byte // its octets so far
}

func (r *StreamReassembler) max() int {
	if r.Max <= 0 || r.Max > MaxMessageSize {
		return MaxMessageSize
	}
	return r.Max
}

// Feed takes the next payload of the stream and calls fn with every message
// it completes, in order, without the length prefix. The slice given to fn
// is only valid during the call (it may point into chunk or into the
// reassembler's buffer); Parse copies what it keeps, so parsing it in fn is
// fine.
//
// On a framing error Feed resets the reassembler and returns the error; the
// messages completed before the error were delivered, the rest of chunk is
// dropped, and the next Feed starts afresh with a length prefix.
func (r *StreamReassembler) Feed(chunk []byte, fn func(msg []byte)) error {
	for len(chunk) > 0 {
		if r.nhdr < 2 {
			if r.nhdr == 0 && len(chunk) >= 2 {
				n := int(be16(chunk))
				if err := r.check(n); err != nil {
					return err
				}
				if len(chunk)-2 >= n { // whole message here: no copy
					fn(chunk[2 : 2+n])
					chunk = chunk[2+n:]
					continue
				}
				r.hdr = [2]byte{chunk[0], chunk[1]}
				r.nhdr = 2
				chunk = chunk[2:]
			} else {
				r.hdr[r.nhdr] = chunk[0]
				r.nhdr++
				chunk = chunk[1:]
				if r.nhdr < 2 {
					continue
				}
			}
			r.need = int(be16(r.hdr[:]))
			if err := r.check(r.need); err != nil {
				return err
			}
			if cap(r.buf) < r.need {
				r.buf = make([]byte, 0, r.need)
			}
			r.buf = r.buf[:0]
			continue
		}
		take := min(r.need-len(r.buf), len(chunk))
		r.buf = append(r.buf, chunk[:take]...)
		chunk = chunk[take:]
		if len(r.buf) == r.need {
			fn(r.buf)
			r.nhdr = 0
			r.buf = r.buf[:0]
			if cap(r.buf) > releaseAbove {
				r.buf = nil
			}
		}
	}
	return nil
}

// check validates a length prefix, resetting the reassembler if it is bad.
func (r *StreamReassembler) check(n int) error {
	switch {
	case n < headerLen:
		r.Reset()
		return &framingError{"message length " + strconv.Itoa(n) + " shorter than a DNS header"}
	case n > r.max():
		r.Reset()
		return &framingError{"message length " + strconv.Itoa(n) + " exceeds the limit of " + strconv.Itoa(r.max())}
	}
	return nil
}

// Buffered returns the number of octets held: a partial length prefix, or a
// length prefix and part of a message. It never exceeds 2+Max.
func (r *StreamReassembler) Buffered() int {
	if r.nhdr < 2 {
		return r.nhdr
	}
	return 2 + len(r.buf)
}

// Partial returns the octets of the message being assembled and the length
// its prefix announced, or nil and 0 when none is: what a connection that
// ends now, or a gap in its stream, cuts short. The slice is only valid
// until the next call to Feed or Reset.
func (r *StreamReassembler) Partial() (msg []byte, length int) {
	if r.nhdr < 2 {
		return nil, 0
	}
	return r.buf, r.need
}

// Reset drops any partial message, for a new connection or after a gap.
func (r *StreamReassembler) Reset() {
	r.nhdr = 0
	r.need = 0
	r.buf = nil
}
