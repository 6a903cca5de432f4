package dnstrace

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// wireLen returns the length in wire form of a name in presentation form,
// checking every label is 1 to 63 octets.
func wireLen(t *testing.T, name string) int {
	t.Helper()
	if name == "." {
		return 1
	}
	require.NotEmpty(t, name)
	total, label := 1, 0
	endLabel := func() {
		require.True(t, label >= 1 && label <= 63, "label of %d octets in %q", label, name)
		total += 1 + label
		label = 0
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '.':
			endLabel()
		case c == '\\':
			require.Less(t, i+1, len(name), "dangling escape in %q", name)
			if d := name[i+1]; d >= '0' && d <= '9' {
				require.LessOrEqual(t, i+3, len(name)-1, "short \\DDD in %q", name)
				i += 3
			} else {
				require.True(t, d == '.' || d == '\\', "needless escape in %q", name)
				i++
			}
			label++
		default:
			require.True(t, c > ' ' && c < 0x7F, "raw octet %#x in %q", c, name)
			label++
		}
	}
	endLabel()
	return total
}

func seedMessages() [][]byte {
	seeds := [][]byte{
		typicalA(), typicalAAAA(), cnameChain(),
		pointerChain(maxPointers - 1), pointerChain(maxPointers),
		response("nope.example.test", TypeA, RCodeNXDomain, 0, 1, 1).
			ptr(17).rr(TypeSOA, ClassIN, 300, func(b *builder) {
			b.labels("ns1").ptr(17).labels("hostmaster").ptr(17).u32(1).u32(2).u32(3).u32(4).u32(5)
		}).opt(1232, 1, 0, true, nil).bytes(),
	}
	for _, c := range recordCases() {
		seeds = append(seeds, c.msg())
	}
	for _, c := range rejectCases() {
		seeds = append(seeds, c.msg)
	}
	return seeds
}

func FuzzParse(f *testing.F) {
	for _, s := range seedMessages() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := Parse(msg)

		// Parsing again, with a fresh Parser and with one that has just
		// parsed another message, gives the same result.
		var p Parser
		_, _ = p.Parse(cnameChain())
		m2, err2 := p.Parse(msg)
		m3, err3 := Parse(msg)
		require.Equal(t, m, m2)
		require.Equal(t, m, m3)
		require.Equal(t, err, err2)
		require.Equal(t, err, err3)

		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			var pe *ParseError
			require.True(t, errors.As(err, &pe))
			require.GreaterOrEqual(t, pe.Offset, 0)
			require.LessOrEqual(t, pe.Offset, len(msg))
			require.NotEmpty(t, pe.Reason)
		} else {
			require.GreaterOrEqual(t, len(msg), headerLen)
			require.Len(t, m.Answers, int(m.ANCount))
			require.LessOrEqual(t, len(m.SOA), int(m.NSCount))
			if m.QDCount > 0 {
				require.LessOrEqual(t, wireLen(t, m.Question.Name), 255)
			} else {
				require.Empty(t, m.Question.Name)
			}
		}
		// Even a partial result holds only well-formed names.
		for _, rr := range append(m.Answers, m.SOA...) {
			require.LessOrEqual(t, wireLen(t, rr.Name), 255)
			require.LessOrEqual(t, len(rr.Name), 4*255)
			require.LessOrEqual(t, len(rr.Data), 2*4*255+5*len(msg)+64)
			switch rr.Type {
			case "CNAME", "NS", "PTR", "DNAME":
				if !strings.HasPrefix(rr.Data, `\# `) { // not class NONE or ANY
					require.LessOrEqual(t, wireLen(t, rr.Data), 255)
				}
			}
		}
	})
}

// splitFrames is a plain reference for StreamReassembler: the messages of a
// whole stream up to the first bad length prefix, and whether there was one.
func splitFrames(stream []byte, limit int) (msgs [][]byte, bad bool) {
	if limit <= 0 || limit > MaxMessageSize {
		limit = MaxMessageSize
	}
	for len(stream) >= 2 {
		n := int(stream[0])<<8 | int(stream[1])
		if n < headerLen || n > limit {
			return msgs, true
		}
		if len(stream) < 2+n {
			break
		}
		msgs = append(msgs, stream[2:2+n])
		stream = stream[2+n:]
	}
	return msgs, false
}

func FuzzReassembler(f *testing.F) {
	f.Add(frame(typicalA(), cnameChain()), []byte{1, 5, 200}, uint16(0))
	f.Add(frame(typicalA(), typicalAAAA(), cnameChain()), []byte{0, 1, 1, 2, 255}, uint16(100))
	f.Add(append(frame(typicalA()), 0, 3, 1, 2, 3), []byte{30}, uint16(0))
	f.Add(append(frame(typicalA()), 0xff, 0xff), []byte{}, uint16(4096))
	f.Fuzz(func(t *testing.T, stream, cuts []byte, limit uint16) {
		want, wantBad := splitFrames(stream, int(limit))

		r := StreamReassembler{Max: int(limit)}
		var got [][]byte
		var gotErr error
		rest := stream
		for i := 0; len(rest) > 0 && gotErr == nil; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(int(cuts[i]), n)
			}
			var out [][]byte
			out, gotErr = feedAll(&r, rest[:n])
			got = append(got, out...)
			require.LessOrEqual(t, r.Buffered(), r.max()+2)
			require.LessOrEqual(t, cap(r.buf), r.max())
			rest = rest[n:]
		}
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.Equal(t, want[i], got[i])
		}
		require.Equal(t, wantBad, gotErr != nil, "error %v", gotErr)
		if gotErr != nil {
			require.ErrorIs(t, gotErr, ErrFraming)
			require.Zero(t, r.Buffered())
		}
	})
}

// FuzzTrackerSegmentOrder cuts a framed response into segments at the
// fuzzer's offsets and feeds them in the fuzzer's order (a FIN last in
// sequence, anywhere in the feed). When the first segment fed is the
// stream's start, the response is whole whatever the order of the rest;
// in any order the tracker never panics and never reports answers that
// were not sent.
func FuzzTrackerSegmentOrder(f *testing.F) {
	f.Add([]byte{10, 30}, []byte{0, 2, 1, 3})
	f.Add([]byte{1, 1, 1}, []byte{3, 2, 1, 0, 4})
	f.Add([]byte{}, []byte{1, 0})
	f.Fuzz(func(t *testing.T, cuts, order []byte) {
		resp := frame(typicalA())
		var segs []record
		off := 0
		for _, c := range cuts {
			n := int(c)
			if n == 0 || off+n >= len(resp) {
				continue
			}
			segs = append(segs, tcpSegment(2, false, uint32(500+off), 0, resp[off:off+n]))
			off += n
		}
		segs = append(segs, tcpSegment(2, false, uint32(500+off), 0, resp[off:]), tcpSegment(2, false, uint32(500+len(resp)), tcpFIN, nil))
		fed := make([]bool, len(segs))
		var feed []record
		for _, o := range order {
			if i := int(o) % len(segs); !fed[i] {
				fed[i] = true
				feed = append(feed, segs[i])
			}
		}
		for i := range segs {
			if !fed[i] {
				feed = append(feed, segs[i])
			}
		}
		tr, evs := testTracker(0)
		tr.feedAll(tcpSegment(1, true, 100, 0, frame(queryMsg(0xbeef, "www.example.test", TypeA))))
		tr.feedAll(feed...)
		tr.drain()
		if feed[0].Seq == 500 && len(feed[0].Payload) > 0 {
			require.Len(t, *evs, 1)
			d := (*evs)[0].DNS
			require.True(t, d.Answered)
			require.Empty(t, d.Cut)
			require.Len(t, d.Answers, 2)
			return
		}
		// Otherwise the stream's first record is not its start: what it
		// decodes from there is garbage, but no answer is made up.
		for _, ev := range *evs {
			if d := ev.DNS; len(d.Answers) > 0 {
				require.Equal(t, "www.example.test", d.Name)
				require.LessOrEqual(t, len(d.Answers), 2)
			}
		}
	})
}
